import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { captureIo } from '../testing/capture-io.js';
import { createOperatorKey } from './key-store.js';
import { promptHidden, unlockOperatorKey, type HiddenInput } from './passphrase.js';

/** A fake terminal that types `keys` once the prompt is shown, and records raw-mode changes. */
function terminal(keys: string[]): HiddenInput & { shown: () => string; rawModes: boolean[] } {
  const input = new PassThrough() as PassThrough & { setRawMode: (raw: boolean) => void };
  const output = new PassThrough();
  const rawModes: boolean[] = [];
  input.setRawMode = (raw) => void rawModes.push(raw);
  let shown = '';
  const pending = [...keys];
  output.on('data', (c: Buffer) => {
    shown += c.toString();
    // Type the next answer after each question (a prompt ends with ': ').
    if (c.toString().endsWith(': ') && pending.length) setImmediate(() => input.write(pending.shift()!));
  });
  return { input, output, shown: () => shown, rawModes };
}

describe('promptHidden', () => {
  it('reads a line without echoing it, in raw mode, handling backspace', async () => {
    const term = terminal(['hunter3\u007f2\r']);
    await expect(promptHidden('passphrase: ', term)).resolves.toBe('hunter2');
    expect(term.shown()).toBe('passphrase: \n');
    expect(term.rawModes).toEqual([true, false]);
  });

  it('aborts on Ctrl-C', async () => {
    await expect(promptHidden('passphrase: ', terminal(['abc\u0003']))).rejects.toThrow('canceled');
  });
});

describe('unlockOperatorKey', () => {
  let home: string;
  const env = () => ({ XDG_CONFIG_HOME: join(home, 'xdg') });
  beforeEach(() => {
    home = mkdtempSync(join(tmpdir(), 'gpufleet-unlock-'));
  });
  afterEach(() => rmSync(home, { recursive: true, force: true }));

  it('loads an unencrypted key without asking', async () => {
    const made = createOperatorKey('default', { env: env(), home });
    expect((await unlockOperatorKey(captureIo({ env: env(), home }))).did).toBe(made.did);
  });

  it('takes the passphrase from GPUFLEET_KEY_PASSPHRASE, or from the variable --passphrase-env names', async () => {
    const made = createOperatorKey('ops', { env: env(), home, passphrase: 'pw1' });
    expect((await unlockOperatorKey(captureIo({ env: { ...env(), GPUFLEET_KEY_PASSPHRASE: 'pw1' }, home }), { key: 'ops' })).did).toBe(made.did);
    expect((await unlockOperatorKey(captureIo({ env: { ...env(), MY_PASS: 'pw1' }, home }), { key: 'ops', passphraseEnv: 'MY_PASS' })).did).toBe(made.did);
    await expect(unlockOperatorKey(captureIo({ env: env(), home }), { key: 'ops', passphraseEnv: 'UNSET_VAR' })).rejects.toThrow(
      /UNSET_VAR: the variable is not set/,
    );
    await expect(unlockOperatorKey(captureIo({ env: { ...env(), GPUFLEET_KEY_PASSPHRASE: 'nope' }, home }), { key: 'ops' })).rejects.toThrow(
      "wrong passphrase for key 'ops'",
    );
  });

  it('asks on a terminal, and says how to give it where there is none', async () => {
    const made = createOperatorKey('ops', { env: env(), home, passphrase: 'typed' });
    const term = terminal(['typed\r']);
    expect((await unlockOperatorKey(captureIo({ env: env(), home }), { key: 'ops' }, term)).did).toBe(made.did);
    expect(term.shown()).toContain("passphrase for key 'ops': ");
    await expect(unlockOperatorKey(captureIo({ env: env(), home }), { key: 'ops' })).rejects.toThrow(
      /is encrypted: give its passphrase \(GPUFLEET_KEY_PASSPHRASE/,
    );
  });
});
