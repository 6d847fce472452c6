import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TestSshd } from '../../../../test/support/test-sshd.js';
import { SshdFixture } from './__tests__/sshd-fixture.js';
import { knownHostsLine } from './host-key-format.js';
import { SshPool } from './ssh-pool.js';
import { SshFailure, type SshHostKey } from './ssh-transport.js';

const fx = new SshdFixture();
let sshd: TestSshd;
let pool: SshPool;

beforeAll(async () => {
  sshd = await fx.sshd('keys');
});
afterAll(() => fx.close());
afterEach(() => pool?.close());

async function failure(p: Promise<unknown>): Promise<SshFailure> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SshFailure);
  return err as SshFailure;
}

const logins = (s: TestSshd) => s.output.match(/Accepted publickey/g)?.length ?? 0;

describe('host keys', () => {
  it('first use records the key once, then a changed key is refused with both fingerprints and no login', async () => {
    pool = new SshPool();
    const seen: SshHostKey[] = [];
    const ep = fx.endpoint('gpu-07', sshd, {
      hostKey: {
        kind: 'first-use',
        onFirstUse: async (key) => {
          seen.push(key);
        },
      },
    });
    await pool.exec(ep, 'true', { timeoutMs: 10_000 });
    await pool.exec(ep, 'true', { timeoutMs: 10_000 });
    expect(seen).toEqual([SshdFixture.hostKeyOf(sshd)]);
    const oldFp = sshd.hostKeyFingerprint;

    pool.forget('gpu-07');
    await sshd.changeHostKey();
    const loginsBefore = logins(sshd);
    const err = await failure(pool.exec({ ...ep, hostKey: { kind: 'pinned', key: seen[0]! } }, 'true', { timeoutMs: 10_000 }));
    expect(err.kind).toBe('host-key-changed');
    expect(err.message).toContain(oldFp);
    expect(err.message).toContain(sshd.hostKeyFingerprint);
    expect(err.message).toContain(`gpu-07 (root@127.0.0.1:${sshd.port})`);
    expect(err.hostKey).toEqual({ expected: oldFp, presented: SshdFixture.hostKeyOf(sshd) });
    await new Promise((r) => setTimeout(r, 200));
    expect(logins(sshd)).toBe(loginsBefore);
  });

  it('a first-use callback that throws refuses the host before login', async () => {
    pool = new SshPool();
    const before = logins(sshd);
    const ep = fx.endpoint('gpu-07', sshd, {
      hostKey: {
        kind: 'first-use',
        onFirstUse: () => Promise.reject(new Error('store is down')),
      },
    });
    const err = await failure(pool.exec(ep, 'true', { timeoutMs: 10_000 }));
    expect(err.kind).toBe('protocol');
    expect(err.message).toContain('store is down');
    expect(logins(sshd)).toBe(before);
  });

  it('a fingerprint policy accepts the right one (padding and prefix aside) and refuses another', async () => {
    pool = new SshPool();
    const bare = sshd.hostKeyFingerprint.replace('SHA256:', '');
    const ok = fx.endpoint('gpu-08', sshd, { hostKey: { kind: 'fingerprint', fingerprint: `${bare}=` } });
    expect((await pool.exec(ok, 'echo in', { timeoutMs: 10_000 })).stdout).toBe('in\n');
    const wrong = `SHA256:${'A'.repeat(43)}`;
    const err = await failure(pool.exec(fx.endpoint('gpu-09', sshd, { hostKey: { kind: 'fingerprint', fingerprint: wrong } }), 'true', { timeoutMs: 10_000 }));
    expect(err.kind).toBe('host-key-mismatch');
    expect(err.message).toContain(wrong);
    expect(err.message).toContain(sshd.hostKeyFingerprint);
    expect(err.hostKey?.presented.fingerprint).toBe(sshd.hostKeyFingerprint);
  });

  it('probe returns the presented key without logging in, whatever the login and policy', async () => {
    pool = new SshPool();
    const before = logins(sshd);
    const stranger = new SshdFixture();
    const key = await pool.probe(fx.endpoint('gpu-10', sshd, { login: stranger.login, hostKey: { kind: 'fingerprint', fingerprint: 'SHA256:nope' } }), 5_000);
    expect(key).toEqual(SshdFixture.hostKeyOf(sshd));
    expect(knownHostsLine('127.0.0.1', sshd.port, key)).toBe(sshd.knownHostsLine());
    await new Promise((r) => setTimeout(r, 200));
    expect(logins(sshd)).toBe(before);
    await stranger.close();
  });

  it('the known_hosts line it writes is one OpenSSH accepts with strict checking', async () => {
    pool = new SshPool();
    const key = await pool.probe(fx.endpoint('gpu-10', sshd), 5_000);
    const kh = join(fx.dir, 'known_hosts');
    execFileSync('sh', ['-c', `echo '${knownHostsLine('127.0.0.1', sshd.port, key)}' > ${kh}`]);
    const out = execFileSync('ssh', [
      '-i',
      fx.clientKeyPath,
      '-p',
      String(sshd.port),
      '-o',
      'StrictHostKeyChecking=yes',
      '-o',
      `UserKnownHostsFile=${kh}`,
      '-o',
      'BatchMode=yes',
      'root@127.0.0.1',
      'echo trusted',
    ]);
    expect(out.toString()).toBe('trusted\n');
  });
});

describe('logins with a key passphrase', () => {
  it('logs in with the right passphrase; a missing or wrong one is auth, never echoed', async () => {
    pool = new SshPool();
    const path = join(fx.dir, 'id_locked');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'open-sesame-42', '-f', path]);
    const locked = await fx.sshd('locked');
    // Authorize the locked key too.
    execFileSync('sh', ['-c', `cat ${path}.pub >> ${locked.authorizedKeysPath}`]);
    const privateKey = readFileSync(path, 'utf8');
    const ep = fx.endpoint('gpu-11', locked, { login: { kind: 'key', privateKey, passphrase: 'open-sesame-42' } });
    expect((await pool.exec(ep, 'echo unlocked', { timeoutMs: 10_000 })).stdout).toBe('unlocked\n');
    for (const passphrase of [null, 'wrong-passphrase-1']) {
      const err = await failure(pool.exec(fx.endpoint('gpu-12', locked, { login: { kind: 'key', privateKey, passphrase } }), 'true', { timeoutMs: 10_000 }));
      expect(err.kind).toBe('auth');
      expect(err.message).toContain('gpu-12');
      expect(err.message).not.toContain('wrong-passphrase-1');
      expect(err.message).not.toContain('PRIVATE KEY');
    }
  });
});
