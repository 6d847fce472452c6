import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryProviderState } from './__tests__/memory-provider-context.js';
import { ProviderError } from './cloud-provider.js';
import { HostKeyPins, hostKeyAlgorithm, hostKeyFingerprint, presentedHostKey } from './ssh-host-keys.js';

const dir = mkdtempSync(join(tmpdir(), 'gpufleet-host-keys-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('host key fingerprints', () => {
  it('match what ssh-keygen -lf prints', () => {
    const path = join(dir, 'key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path]);
    const blob = Buffer.from(readFileSync(`${path}.pub`, 'utf8').split(' ')[1]!, 'base64');
    const printed = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${path}.pub`]).toString('utf8');
    expect(printed).toContain(hostKeyFingerprint(blob));
    expect(hostKeyAlgorithm(blob)).toBe('ssh-ed25519');
    expect(hostKeyAlgorithm(Buffer.from([0, 0]))).toBe('unknown');
    expect(hostKeyAlgorithm(Buffer.from([0xff, 0xff, 0xff, 0xff, 1]))).toBe('unknown');
  });
});

describe('HostKeyPins', () => {
  const a = presentedHostKey(Buffer.from('\u0000\u0000\u0000\u000bssh-ed25519key-a'));
  const b = presentedHostKey(Buffer.from('\u0000\u0000\u0000\u000bssh-ed25519key-b'));

  it('pins the first key, accepts it again, and refuses another naming both', async () => {
    const pins = new HostKeyPins(new MemoryProviderState(), () => 1_700_000_000_000);
    expect(await pins.verify('h', null, a)).toEqual({ ok: true, pinnedNow: true });
    expect(await pins.verify('h', null, a)).toEqual({ ok: true, pinnedNow: false });
    expect(await pins.verify('h', null, b)).toEqual({ ok: false, expected: a.fingerprint, presented: b, reason: 'was pinned on 2023-11-14T22:13:20.000Z' });
    expect((await pins.get('h'))?.fingerprint).toBe(a.fingerprint);
    // Pins are per host.
    expect(await pins.verify('other', null, b)).toEqual({ ok: true, pinnedNow: true });
  });

  it("lets the hosts file's host_key replace a pin, and refuses any other key then", async () => {
    const pins = new HostKeyPins(new MemoryProviderState(), () => 0);
    await pins.verify('h', null, a);
    expect(await pins.verify('h', b.fingerprint, b)).toEqual({ ok: true, pinnedNow: true });
    expect(await pins.get('h')).toMatchObject({ fingerprint: b.fingerprint, source: 'hosts-file' });
    expect(await pins.verify('h', b.fingerprint, a)).toMatchObject({ ok: false, expected: b.fingerprint, reason: 'the hosts file says (host_key)' });
  });

  it('refuses a damaged pin instead of treating it as none', async () => {
    const state = new MemoryProviderState();
    await state.put('host/h/host-key', { fingerprint: 'garbage' });
    const pins = new HostKeyPins(state, () => 0);
    await expect(pins.verify('h', null, a)).rejects.toBeInstanceOf(ProviderError);
    await expect(pins.verify('h', null, a)).rejects.toThrow(/pinned host key of h is damaged/);
  });
});
