import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TestSshd } from '../../../../test/support/test-sshd.js';
import { freePort } from '../testing/free-port.js';
import { SshdFixture } from './__tests__/sshd-fixture.js';
import { SshPool } from './ssh-pool.js';
import { type SshEndpoint, SshFailure } from './ssh-transport.js';

const fx = new SshdFixture();
let bastion: TestSshd;
let target: TestSshd;
let pool: SshPool;

beforeAll(async () => {
  bastion = await fx.sshd('bastion');
  // The target listens on another loopback address: only connections that say so reach it.
  target = await fx.sshd('target', { listenAddress: '127.0.0.2' });
});
afterAll(() => fx.close());
afterEach(() => pool?.close());

function viaBastion(over: Partial<NonNullable<SshEndpoint['bastion']>> = {}): SshEndpoint {
  const b = fx.endpoint('bastion', bastion);
  return fx.endpoint('gpu-20', target, {
    bastion: { address: b.address, port: b.port, user: 'root', login: fx.login, hostKey: b.hostKey, ...over },
  });
}

async function failure(p: Promise<unknown>): Promise<SshFailure> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SshFailure);
  return err as SshFailure;
}

describe('jump hosts', () => {
  it('runs commands on the target through one tunnel of the bastion', async () => {
    pool = new SshPool();
    const [b0, t0] = [bastion.acceptedConnections, target.acceptedConnections];
    const ep = viaBastion();
    for (let i = 0; i < 3; i++) {
      const r = await pool.exec(ep, 'echo $SSH_CONNECTION', { timeoutMs: 10_000 });
      // The target sees the connection on 127.0.0.2, its own listen address.
      expect(r.stdout.trim().split(' ')[2]).toBe('127.0.0.2');
    }
    await new Promise((r) => setTimeout(r, 200));
    expect(bastion.acceptedConnections - b0).toBe(1);
    expect(target.acceptedConnections - t0).toBe(1);
  });

  it('a bastion that forwards nothing stops the command: the path really runs through it', async () => {
    pool = new SshPool();
    const closedBastion = await fx.sshd('no-forwarding', { extraConfig: ['AllowTcpForwarding no'] });
    const err = await failure(
      pool.exec(viaBastion({ port: closedBastion.port, hostKey: { kind: 'pinned', key: SshdFixture.hostKeyOf(closedBastion) } }), 'true', {
        timeoutMs: 10_000,
      }),
    );
    expect(['unreachable', 'protocol']).toContain(err.kind);
    expect(err.message).toContain('jump host');
  });

  it('checks the bastion host key with its own policy', async () => {
    pool = new SshPool();
    const wrong = `SHA256:${'B'.repeat(43)}`;
    const err = await failure(pool.exec(viaBastion({ hostKey: { kind: 'fingerprint', fingerprint: wrong } }), 'true', { timeoutMs: 10_000 }));
    expect(err.kind).toBe('host-key-mismatch');
    expect(err.message).toContain('jump host');
    expect(err.message).toContain(bastion.hostKeyFingerprint);
  });

  it('checks the target host key too (through the tunnel)', async () => {
    pool = new SshPool();
    const ep = { ...viaBastion(), hostKey: { kind: 'fingerprint' as const, fingerprint: bastion.hostKeyFingerprint } };
    const err = await failure(pool.exec(ep, 'true', { timeoutMs: 10_000 }));
    expect(err.kind).toBe('host-key-mismatch');
    expect(err.message).toContain(target.hostKeyFingerprint);
  });

  it('a target port nothing listens on is unreachable through the bastion; a dead bastion is unreachable', async () => {
    pool = new SshPool();
    const closed = await freePort();
    const err = await failure(pool.exec({ ...viaBastion(), port: closed }, 'true', { timeoutMs: 10_000 }));
    expect(err.kind).toBe('unreachable');
    expect(err.message).toContain('jump host');
    const dead = await failure(pool.exec(viaBastion({ port: closed }), 'true', { timeoutMs: 10_000 }));
    expect(dead.kind).toBe('unreachable');
  });

  it('probe through the bastion returns the target key', async () => {
    pool = new SshPool();
    expect(await pool.probe(viaBastion(), 5_000)).toEqual(SshdFixture.hostKeyOf(target));
  });
});
