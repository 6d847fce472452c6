import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateEd25519, scriptSha256, signScript } from '@gpufleet/protocol';
import { runCli } from './cli.js';
import { cliVersion } from './lifecycle.js';
import { asksForVersion } from './program.js';
import { captureIo } from './testing/capture-io.js';
import { startFakeApi, type FakeApi } from './testing/fake-api.js';

/** `--version` is the CLI's own before a subcommand and the subcommand's after it. */

const signer = generateEd25519();
const content = (v: number) => `#!/bin/sh\necho version ${v}\n`;
let api: FakeApi;

beforeAll(async () => {
  api = await startFakeApi({
    'GET /api/v1/scripts/gpu-check': (req) => {
      const version = Number(req.query.version ?? 3);
      const text = content(version);
      const sha256 = scriptSha256(text);
      return {
        body: {
          name: 'gpu-check',
          version,
          sha256,
          signer: signer.did,
          createdAt: '2026-01-01T00:00:00.000Z',
          createdBy: 'token:ops',
          removed: false,
          removedAt: null,
          content: text,
          signature: signScript('gpu-check', version, sha256, signer.privateKeyPem),
          history: [1, 2, 3].map((v) => ({ version: v, removed: false })),
        },
      };
    },
  });
});
afterAll(() => api.close());

async function run(argv: string[]) {
  const io = captureIo({ env: {}, columns: 100 });
  const code = await runCli([...argv, '--server', api.url, '--token', 'gft_test_secret'], io);
  return { code, stdout: io.stdout, stderr: io.stderr };
}

describe('--version', () => {
  it('prints the CLI version before any subcommand', async () => {
    for (const argv of [['--version'], ['-V'], ['-o', 'json', '--version'], ['--server', 'http://x', '-V']]) {
      const io = captureIo();
      expect(await runCli(argv, io), argv.join(' ')).toBe(0);
      expect(io.stdout).toBe(`${cliVersion()}\n`);
    }
  });

  it('is listed in the program help', async () => {
    const io = captureIo();
    expect(await runCli(['--help'], io)).toBe(0);
    expect(io.stdout).toMatch(/-V, --version\s+print the version/);
  });

  it('means the script version on `scripts show`', async () => {
    const r = await run(['scripts', 'show', 'gpu-check', '--version', '1']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^version: {3}1$/m);
    expect(r.stdout).toContain('echo version 1');
    expect(r.stdout).not.toContain(`${cliVersion()}\n`);
    expect(api.requests.at(-1)!.query).toEqual({ version: '1' });
    const json = await run(['scripts', 'show', 'gpu-check', '--version', '2', '-o', 'json']);
    expect(JSON.parse(json.stdout).version).toBe(2);
  });

  it('refuses a bad or contradictory script version', async () => {
    const before = api.requests.length;
    expect((await run(['scripts', 'show', 'gpu-check', '--version', 'zero'])).code).toBe(2);
    expect((await run(['scripts', 'show', 'gpu-check', '--version', '0'])).code).toBe(2);
    const clash = await run(['scripts', 'show', 'gpu-check@2', '--version', '1']);
    expect(clash.code).toBe(2);
    expect(clash.stderr).toMatch(/name different versions/);
    expect((await run(['scripts', 'show', 'gpu-check', '--version', '1', '-r', '2'])).code).toBe(2);
    expect(api.requests.length).toBe(before);
  });

  it('is not taken from after a subcommand that has none', async () => {
    const r = await run(['nodes', 'ls', '--version']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown option '--version'/);
  });

  it('reads the line the way commander does', () => {
    expect(asksForVersion(['--token', '--version'])).toBe(false);
    expect(asksForVersion(['scripts', '--version'])).toBe(false);
    expect(asksForVersion(['--', '--version'])).toBe(false);
    expect(asksForVersion([])).toBe(false);
  });
});
