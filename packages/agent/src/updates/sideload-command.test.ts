import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runAgentCommand } from '../runtime/commands.js';
import { folderLookup } from './file-fetcher.js';
import { BUNDLE_MANIFEST, readBundle, writeBundle } from './offline-bundle.js';
import { writeTar } from './ustar.js';

/**
 * `gpufleet-agent sideload` given garbage; verifying real bundles end to end is in the server's
 * release tests (they need a repository to sign them).
 */

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sideload-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function agent(...args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runAgentCommand(args, { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) });
  return { code, stdout, stderr };
}

const manifest = (m: object) => new Uint8Array(Buffer.from(JSON.stringify(m)));
const goodManifest = { format: 'gpufleet-offline-release', v: 1, kind: 'agent', version: '0.3.0', targetPath: 'agent/gpufleet-agent-0.3.0.tgz' };

describe('gpufleet-agent sideload', () => {
  it('is listed in the help', async () => {
    const r = await agent('--help');
    expect(r.stdout).toMatch(/sideload <tar>\s+verify an offline release bundle/);
    expect(r.stdout).toMatch(/--root FILE/);
  });

  it('refuses a bad command line with exit 2', async () => {
    expect(await agent('sideload')).toMatchObject({ code: 2, stderr: expect.stringMatching(/sideload needs the bundle/) });
    expect(await agent('sideload', 'a.tar', 'b.tar')).toMatchObject({ code: 2, stderr: expect.stringMatching(/exactly one bundle/) });
    expect(await agent('sideload', 'a.tar', '--bogus')).toMatchObject({ code: 2, stderr: expect.stringMatching(/bogus/) });
    expect(await agent('sideload', 'a.tar', '--root')).toMatchObject({ code: 2 });
    expect(await agent('sideload', 'a.tar', '--root', '')).toMatchObject({ code: 2, stderr: expect.stringMatching(/--root needs a file/) });
    expect(await agent('sideload', 'a.tar', '--no-restart')).toMatchObject({ code: 2, stderr: expect.stringMatching(/--no-restart goes with --install/) });
    expect(await agent('sideload', 'a.tar', '--install', '--no-restart=yes')).toMatchObject({ code: 2 });
  });

  it('refuses files that are not bundles, and a host with no trusted root, with one line and exit 1', async () => {
    const data = join(dir, 'data');
    const run = (bundle: string, ...rest: string[]) => agent('sideload', bundle, '--data-dir', data, ...rest);
    expect(await run(join(dir, 'missing.tar'))).toMatchObject({ code: 1, stderr: expect.stringMatching(/cannot read .*missing\.tar: ENOENT/) });
    writeFileSync(join(dir, 'text.tar'), 'hello, this is not a tar file at all'.repeat(40));
    expect((await run(join(dir, 'text.tar'))).stderr).toMatch(/error: not a release bundle/);
    writeFileSync(join(dir, 'empty.tar'), writeTar([{ name: 'x', bytes: new Uint8Array(1) }]));
    expect((await run(join(dir, 'empty.tar'))).stderr).toMatch(/it has no gpufleet-release\.json/);
    writeFileSync(join(dir, 'bad.tar'), writeTar([{ name: BUNDLE_MANIFEST, bytes: manifest({ ...goodManifest, version: '../1' }) }]));
    expect((await run(join(dir, 'bad.tar'))).stderr).toMatch(/not a manifest this agent understands/);
    writeFileSync(join(dir, 'ok.tar'), writeTar([{ name: BUNDLE_MANIFEST, bytes: manifest(goodManifest) }]));
    const noRoot = await run(join(dir, 'ok.tar'));
    expect(noRoot).toMatchObject({ code: 1, stderr: expect.stringMatching(/trusts no release root yet: give the fleet root file with --root FILE/) });
    expect((await run(join(dir, 'ok.tar'), '--root', join(dir, 'nope.json'))).stderr).toMatch(/cannot read .*nope\.json/);
    writeFileSync(join(dir, 'root.json'), '{"signed":{"_type":"targets"}}');
    expect((await run(join(dir, 'ok.tar'), '--root', join(dir, 'root.json'))).stderr).toMatch(/not TUF root metadata/);
    for (const r of [noRoot]) expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('reads a bundle it wrote; its manifest says which release to look for', () => {
    const tar = writeBundle({
      kind: 'agent',
      version: '0.3.0',
      roots: [{ version: 1, text: '{"r":1}' }],
      timestamp: '{"t":1}',
      snapshot: { version: 4, text: '{"s":4}' },
      targets: { version: 2, text: '{"g":2}' },
      target: { path: 'agent/gpufleet-agent-0.3.0.tgz', sha256: 'ab'.repeat(32), bytes: new Uint8Array([1, 2, 3]) },
    });
    const b = readBundle(tar);
    expect(b.manifest).toEqual(goodManifest);
    expect(b.files).toBe(6);
    return Promise.all([
      b.lookup('metadata/4.snapshot.json').then((x) => expect(Buffer.from(x!).toString()).toBe('{"s":4}')),
      b.lookup(`targets/agent/${'ab'.repeat(32)}.gpufleet-agent-0.3.0.tgz`).then((x) => expect([...x!]).toEqual([1, 2, 3])),
      b.lookup('metadata/5.root.json').then((x) => expect(x).toBeUndefined()),
    ]);
  });

  it('reads a folder copy without leaving the folder', async () => {
    mkdirSync(join(dir, 'repo', 'metadata'), { recursive: true });
    writeFileSync(join(dir, 'repo', 'metadata', 'timestamp.json'), 'ts');
    writeFileSync(join(dir, 'secret'), 'secret');
    const lookup = folderLookup(join(dir, 'repo'));
    expect(Buffer.from((await lookup('metadata/timestamp.json'))!).toString()).toBe('ts');
    expect(await lookup('../secret')).toBeUndefined();
    expect(await lookup('/etc/passwd')).toBeUndefined();
    expect(await lookup('metadata')).toBeUndefined();
    expect(await lookup('metadata/none.json')).toBeUndefined();
  });
});
