import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TestSshd } from '../../../../test/support/test-sshd.js';
import { freePort } from '../testing/free-port.js';
import { SshdFixture } from './__tests__/sshd-fixture.js';
import { SshPool } from './ssh-pool.js';
import { SshFailure } from './ssh-transport.js';

const fx = new SshdFixture();
let sshd: TestSshd;
let pool: SshPool;

beforeAll(async () => {
  // MaxSessions 4: the pool (3 channels) must queue commands above it, or sshd would refuse the channels.
  // One session of margin, as the default 8 against sshd's 10: sshd frees a session a moment after closing its channel.
  sshd = await fx.sshd('main', { extraConfig: ['MaxSessions 4'] });
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

describe('SshPool exec', () => {
  it('returns exit codes, stdout and stderr; a non-zero exit is a result; stdin reaches the command', async () => {
    pool = new SshPool({ maxChannelsPerConnection: 3 });
    const ep = fx.endpoint('gpu-01', sshd);
    const ok = await pool.exec(ep, 'echo hello; echo oops >&2', { timeoutMs: 10_000 });
    expect(ok).toMatchObject({ code: 0, signal: null, stdout: 'hello\n', stderr: 'oops\n' });
    expect(ok.durationMs).toBeGreaterThanOrEqual(0);
    const bad = await pool.exec(ep, 'echo failing >&2; exit 3', { timeoutMs: 10_000 });
    expect(bad).toMatchObject({ code: 3, stdout: '', stderr: 'failing\n' });
    const cat = await pool.exec(ep, 'cat', { timeoutMs: 10_000, stdin: 'from stdin' });
    expect(cat.stdout).toBe('from stdin');
  });

  it('reuses one connection for many commands, and queues those above the channel limit', async () => {
    pool = new SshPool({ maxChannelsPerConnection: 3 });
    const before = sshd.acceptedConnections;
    const ep = fx.endpoint('gpu-01', sshd);
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => pool.exec(ep, `sleep 0.2; echo ${i}`, { timeoutMs: 20_000 })));
    expect(results.map((r) => r.stdout.trim())).toEqual(Array.from({ length: 12 }, (_, i) => String(i)));
    expect(results.every((r) => r.code === 0)).toBe(true);
    await pool.exec(ep, 'true', { timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 200)); // sshd logs the connection a moment after accepting it
    expect(sshd.acceptedConnections - before).toBe(1);
    expect(pool.connectionCount).toBe(1);
  });

  it('without the queue sshd refuses the channels above MaxSessions (the limit is what keeps it working)', async () => {
    pool = new SshPool({ maxChannelsPerConnection: 10 });
    const ep = fx.endpoint('gpu-01', sshd);
    const settled = await Promise.allSettled(Array.from({ length: 8 }, () => pool.exec(ep, 'sleep 0.3', { timeoutMs: 20_000 })));
    const refused = settled.filter((s) => s.status === 'rejected');
    expect(refused.length).toBeGreaterThan(0);
    expect((refused[0] as PromiseRejectedResult).reason).toMatchObject({ kind: 'protocol' });
  });

  it('times a command out (channel closed) and the connection still serves the next one', async () => {
    pool = new SshPool();
    const ep = fx.endpoint('gpu-01', sshd);
    const started = performance.now();
    const err = await failure(pool.exec(ep, 'sleep 20', { timeoutMs: 700 }));
    expect(err.kind).toBe('timeout');
    expect(err.message).toContain(`gpu-01 (root@127.0.0.1:${sshd.port})`);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect((await pool.exec(ep, 'echo again', { timeoutMs: 10_000 })).stdout).toBe('again\n');
  });

  it('cancels on the AbortSignal, including one aborted before the call', async () => {
    pool = new SshPool();
    const ep = fx.endpoint('gpu-01', sshd);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    expect((await failure(pool.exec(ep, 'sleep 20', { timeoutMs: 20_000, signal: ac.signal }))).kind).toBe('canceled');
    expect((await failure(pool.exec(ep, 'echo no', { timeoutMs: 20_000, signal: ac.signal }))).kind).toBe('canceled');
  });

  it('cuts output at the cap with a note, while live callbacks see all of it', async () => {
    pool = new SshPool();
    const ep = fx.endpoint('gpu-01', sshd);
    let live = '';
    let liveErr = '';
    const r = await pool.exec(ep, "head -c 5000 /dev/zero | tr '\\0' a; echo e >&2", {
      timeoutMs: 10_000,
      maxOutputBytes: 1000,
      onStdout: (c) => {
        live += c;
      },
      onStderr: (c) => {
        liveErr += c;
      },
    });
    expect(live).toBe('a'.repeat(5000));
    expect(liveErr).toBe('e\n');
    expect(r.stdout.startsWith('a'.repeat(1000))).toBe(true);
    expect(r.stdout).not.toContain('a'.repeat(1001));
    expect(r.stdout).toContain('output cut: 4000 more bytes');
    expect(r.stderr).toBe('e\n');
  });

  it('closes idle connections, and keeps at most maxConnections (idle ones closed first, busy ones waited for)', async () => {
    const other = await fx.sshd('other');
    pool = new SshPool({ maxConnections: 1, idleCloseMs: 300 });
    const a = fx.endpoint('gpu-a', sshd);
    const b = fx.endpoint('gpu-b', other);
    await pool.exec(a, 'true', { timeoutMs: 10_000 });
    await pool.exec(b, 'true', { timeoutMs: 10_000 });
    expect(pool.connectionCount).toBe(1);
    // b is busy for a while: a waits for its slot, then both finish.
    const order: string[] = [];
    await Promise.all([
      pool.exec(b, 'sleep 0.5', { timeoutMs: 10_000 }).then(() => order.push('b')),
      pool.exec(a, 'true', { timeoutMs: 10_000 }).then(() => order.push('a')),
    ]);
    expect(order).toEqual(['b', 'a']);
    expect(pool.connectionCount).toBe(1);
    await new Promise((r) => setTimeout(r, 800));
    expect(pool.connectionCount).toBe(0);
  });

  it('shares one connection attempt among concurrent first commands', async () => {
    pool = new SshPool({ maxChannelsPerConnection: 3 });
    const before = sshd.acceptedConnections;
    const ep = fx.endpoint('gpu-01', sshd);
    await Promise.all(Array.from({ length: 5 }, () => pool.exec(ep, 'true', { timeoutMs: 10_000 })));
    await new Promise((r) => setTimeout(r, 200));
    expect(sshd.acceptedConnections - before).toBe(1);
  });

  it('forget() closes the host connection; the next command opens a new one', async () => {
    pool = new SshPool();
    const ep = fx.endpoint('gpu-01', sshd);
    await pool.exec(ep, 'true', { timeoutMs: 10_000 });
    pool.forget('gpu-01');
    expect(pool.connectionCount).toBe(0);
    expect((await pool.exec(ep, 'echo x', { timeoutMs: 10_000 })).stdout).toBe('x\n');
  });
});

describe('SshPool failures', () => {
  it('a closed port is unreachable, naming the host', async () => {
    pool = new SshPool();
    const port = await freePort();
    const ep = { ...fx.endpoint('gpu-07', sshd), port };
    const err = await failure(pool.exec(ep, 'true', { timeoutMs: 10_000 }));
    expect(err.kind).toBe('unreachable');
    expect(err.message).toBe(`gpu-07 (root@127.0.0.1:${port}) cannot be reached: ECONNREFUSED`);
    expect(pool.connectionCount).toBe(0);
  });

  it('a key the server does not accept is auth, and the message holds no key', async () => {
    pool = new SshPool();
    const stranger = new SshdFixture();
    const ep = fx.endpoint('gpu-01', sshd, { login: stranger.login });
    const err = await failure(pool.exec(ep, 'true', { timeoutMs: 10_000 }));
    expect(err.kind).toBe('auth');
    expect(err.message).toContain('gpu-01 (root@127.0.0.1');
    expect(err.message).not.toContain('PRIVATE KEY');
    await stranger.close();
  });

  it('a password the server refuses is auth, and the message never shows it', async () => {
    pool = new SshPool();
    const ep = fx.endpoint('gpu-01', sshd, { login: { kind: 'password', password: 'hunter2-not-it' } });
    const err = await failure(pool.exec(ep, 'true', { timeoutMs: 20_000 }));
    expect(err.kind).toBe('auth');
    expect(err.message).toContain('password');
    expect(err.message).not.toContain('hunter2');
  });

  it('a server that never speaks SSH is a handshake timeout', async () => {
    const { createServer } = await import('node:net');
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    pool = new SshPool({ connectTimeoutMs: 500 });
    const err = await failure(pool.exec({ ...fx.endpoint('gpu-01', sshd), port }, 'true', { timeoutMs: 10_000 }));
    expect(err.kind).toBe('timeout');
    expect(err.message).toContain('no SSH handshake within 500 ms');
    silent.close();
  });
});
