import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isDidKey } from '@gpufleet/protocol';
import { runCli } from '../cli.js';
import { createDeps } from '../command-deps.js';
import { loadOperatorKey } from '../keys/index.js';
import type { HiddenInput } from '../keys/passphrase.js';
import { captureIo } from '../testing/capture-io.js';
import { keysCommand } from './keys.js';

const NOW = Date.UTC(2026, 2, 1, 12, 0, 0);
let home: string;
let baseEnv: NodeJS.ProcessEnv;

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'gpufleet-keys-cmd-'));
  baseEnv = { XDG_CONFIG_HOME: join(home, 'xdg') };
});
afterEach(() => rmSync(home, { recursive: true, force: true }));

async function run(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const io = captureIo({ env: { ...baseEnv, ...env }, home, columns: 250 });
  const code = await runCli(argv, io, { now: () => NOW });
  return { code, stdout: io.stdout, stderr: io.stderr };
}

const keyFile = (name: string) => join(home, 'xdg', 'gpufleet', 'keys', `${name}.key`);

function expectUsageError(r: { code: number; stderr: string; stdout: string }, pattern: RegExp) {
  expect(r.code).toBe(2);
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(/^error: [^\n]+\n$/);
  expect(r.stderr).toMatch(pattern);
}

describe('keys new', () => {
  it('--no-passphrase writes an unencrypted 0600 key and prints its DID', async () => {
    const r = await run(['keys', 'new', '--no-passphrase']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^created key 'default' \(NOT encrypted\)$/m);
    const did = /did:\s+(did:key:\S+)/.exec(r.stdout)![1]!;
    expect(isDidKey(did)).toBe(true);
    expect(statSync(keyFile('default')).mode & 0o777).toBe(0o600);
    expect(loadOperatorKey('default', { env: baseEnv, home }).did).toBe(did);
  });

  it('--passphrase-env seals the key with the passphrase in that variable', async () => {
    const r = await run(['keys', 'new', '--name', 'ops', '--passphrase-env', 'OPS_PASS', '-o', 'json'], { OPS_PASS: 's3cret' });
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ name: 'ops', encrypted: true, path: keyFile('ops') });
    expect(readFileSync(keyFile('ops'), 'utf8')).not.toContain('PRIVATE KEY');
    expect(loadOperatorKey('ops', { env: baseEnv, home, passphrase: 's3cret' }).did).toBe(out.did);
    expect(() => loadOperatorKey('ops', { env: baseEnv, home, passphrase: 'guess' })).toThrow(/wrong passphrase/);
  });

  it('asks twice on a terminal, and refuses when the two differ', async () => {
    const typed = (answers: string[]): HiddenInput => {
      const input = new PassThrough();
      const output = new PassThrough();
      output.on('data', (c: Buffer) => {
        if (c.toString().endsWith(': ') && answers.length) setImmediate(() => input.write(answers.shift()!));
      });
      return { input, output };
    };
    const io = captureIo({ env: baseEnv, home });
    await keysCommand(
      createDeps(io, () => NOW),
      typed(['pw\r', 'pw\r']),
    ).parseAsync(['new'], { from: 'user' });
    expect(io.stdout).toContain("created key 'default' (encrypted)");
    expect(loadOperatorKey('default', { env: baseEnv, home, passphrase: 'pw' }).name).toBe('default');
    const cmd = keysCommand(
      createDeps(captureIo({ env: baseEnv, home }), () => NOW),
      typed(['one\r', 'two\r']),
    );
    await expect(cmd.parseAsync(['new', '--name', 'other'], { from: 'user' })).rejects.toThrow(/two passphrases differ/);
  });

  it('refuses to guess where there is no terminal', async () => {
    expectUsageError(await run(['keys', 'new']), /no terminal to ask for a passphrase: give --passphrase-env VAR .* or --no-passphrase/);
  });

  it.each([
    [['--passphrase-env', 'P', '--no-passphrase'], /not both/],
    [['--passphrase-env', 'UNSET'], /UNSET: the variable is not set or empty/],
    [['--passphrase-env', 'bad-name'], /not an environment variable name/],
    [['--name', '../x', '--no-passphrase'], /key name '..\/x'/],
  ])('bad flags %j: exit 2 with one line', async (flags, pattern) => {
    expectUsageError(await run(['keys', 'new', ...flags], { P: 'x' }), pattern);
  });

  it('will not overwrite a key without --force', async () => {
    await run(['keys', 'new', '--no-passphrase']);
    const first = readFileSync(keyFile('default'), 'utf8');
    expectUsageError(await run(['keys', 'new', '--no-passphrase']), /exists already/);
    expect(readFileSync(keyFile('default'), 'utf8')).toBe(first);
    expect((await run(['keys', 'new', '--no-passphrase', '--force'])).code).toBe(0);
    expect(readFileSync(keyFile('default'), 'utf8')).not.toBe(first);
  });
});

describe('keys ls and keys did', () => {
  it('ls shows name, DID, encryption and age; did prints the DID alone', async () => {
    await run(['keys', 'new', '--no-passphrase']);
    await run(['keys', 'new', '--name', 'ops', '--passphrase-env', 'P'], { P: 'x' });
    const did = (await run(['keys', 'did'])).stdout.trim();
    const opsDid = (await run(['keys', 'did', 'ops'])).stdout.trim();
    expect(isDidKey(did) && isDidKey(opsDid) && did !== opsDid).toBe(true);

    const ls = await run(['keys', 'ls']);
    expect(ls.code).toBe(0);
    const lines = ls.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+DID\s+ENCRYPTED\s+CREATED$/);
    expect(lines[1]).toMatch(new RegExp(`^default\\s+${did}\\s+no\\s+just now$`));
    expect(lines[2]).toMatch(new RegExp(`^ops\\s+${opsDid}\\s+yes\\s+just now$`));
    const json = JSON.parse((await run(['keys', 'ls', '-o', 'json'])).stdout);
    expect(json.items.map((k: { name: string; encrypted: boolean }) => [k.name, k.encrypted])).toEqual([
      ['default', false],
      ['ops', true],
    ]);
  });

  it('ls on an empty folder says how to make a key', async () => {
    const r = await run(['keys', 'ls']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/no keys in .*gpufleet keys new/);
  });

  it('did for a missing key or one open to others: exit 1 with one line', async () => {
    const missing = await run(['keys', 'did', 'ghost']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^error: no key named 'ghost'.*\n$/);
    await run(['keys', 'new', '--no-passphrase']);
    chmodSync(keyFile('default'), 0o604);
    const open = await run(['keys', 'did']);
    expect(open.code).toBe(1);
    expect(open.stderr).toMatch(/^error: key file .* is open to other users \(mode 0604\)/);
  });

  it('every keys command has --help with examples', async () => {
    for (const sub of [[], ['new'], ['ls'], ['did']]) {
      const r = await run(['keys', ...sub, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/Examples:\n\s+gpufleet keys/);
    }
  });
});
