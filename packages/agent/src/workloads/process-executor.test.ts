import { createServer, type Server } from 'node:http';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processAlive, waitGone } from '../testing/process-probe.js';
import { jobSpec } from '../testing/workload-harness.js';
import type { ExecutorStart } from './executor.js';
import { checkTarget, probeHttp, probeTcp } from './health-probe.js';
import { ProcessExecutor } from './process-executor.js';

/** The process executor and the health probes against real processes and sockets. */

let dir: string;
let http: Server;
let httpPort: number;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gpufleet-proc-exec-'));
  http = createServer((req, res) => {
    res.writeHead(req.url === '/ok' ? 200 : req.url === '/moved' ? 302 : 503, { location: '/ok' });
    res.end();
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  httpPort = (http.address() as { port: number }).port;
});

afterAll(async () => {
  await new Promise((r) => http.close(r));
  rmSync(dir, { recursive: true, force: true });
});

function start(command: string[], env: Record<string, string> = {}): ExecutorStart {
  const spec = jobSpec({ command, resources: { gpus: 0 } }).allocations.web!;
  return {
    allocId: `proc-${Math.random().toString(36).slice(2, 10)}`,
    job: 'llama',
    name: 'web-0',
    group: 'web',
    jobVersion: 1,
    specHash: 'a'.repeat(64),
    spec,
    gpus: [],
    env,
  };
}

function collector() {
  const out = { stdout: '', stderr: '' };
  return { out, sink: (s: 'stdout' | 'stderr', d: string) => (out[s] += d) };
}

describe('ProcessExecutor', () => {
  it('runs the command without a shell, with the allocation env over a minimal base, and reports its exit', async () => {
    const { out, sink } = collector();
    const w = await new ProcessExecutor().start(start(['sh', '-c', 'echo "$FOO $HOME"; pwd; echo bad >&2; exit 7'], { FOO: 'bar' }), sink);
    expect(await w.exited).toEqual({ exitCode: 7, signal: null });
    expect(out.stdout).toMatch(/^bar \S+\n\/\n$/);
    expect(out.stderr).toBe('bad\n');
    expect(w.checkAddress).toBeNull();
  });

  it('refuses to start a program that does not exist, with its name', async () => {
    await expect(new ProcessExecutor().start(start(['/nonexistent/program']), () => undefined)).rejects.toThrow(/cannot run \/nonexistent\/program: ENOENT/);
  });

  it('stops the whole group: SIGTERM, then SIGKILL after the grace for what ignores it', async () => {
    const { out, sink } = collector();
    const w = await new ProcessExecutor().start(
      start(['sh', '-c', 'sleep 30 & echo child=$!; trap "" TERM; echo pid=$$; while true; do sleep 0.05; done']),
      sink,
    );
    while (!/pid=\d+/.test(out.stdout)) await new Promise((r) => setTimeout(r, 10));
    const pids = [...out.stdout.matchAll(/=(\d+)/g)].map((m) => Number(m[1]));
    const exit = await w.stop(200);
    expect(exit.signal).toBe('SIGKILL');
    await waitGone(pids);
  });

  it('kills what the leader left in its group when it exits by itself', async () => {
    const { out, sink } = collector();
    const w = await new ProcessExecutor({ lingerMs: 100 }).start(start(['sh', '-c', 'sleep 30 & echo child=$!; exit 0']), sink);
    expect((await w.exited).exitCode).toBe(0);
    await waitGone([Number(/child=(\d+)/.exec(out.stdout)![1])]);
  });

  it('runs check commands with the allocation env, and kills them at the timeout', async () => {
    const w = await new ProcessExecutor().start(start(['sleep', '30'], { MARK: 'yes' }), () => undefined);
    expect(await w.execCheck(['sh', '-c', 'test "$MARK" = yes'], 2000)).toEqual({ exitCode: 0 });
    expect(await w.execCheck(['sh', '-c', 'exit 4'], 2000)).toEqual({ exitCode: 4 });
    expect(await w.execCheck(['sleep', '30'], 100)).toEqual({ exitCode: null });
    expect(await w.execCheck(['/nonexistent/check'], 1000)).toEqual({ exitCode: null });
    await w.stop(1000);
  });

  it('adopt ends a group a crashed agent left behind (written down in its state dir) and returns null', async () => {
    const stateDir = join(dir, 'pids');
    const { out, sink } = collector();
    const s = start(['sh', '-c', 'echo pid=$$; exec sleep 30']);
    await new ProcessExecutor({ stateDir }).start(s, sink);
    while (!/pid=\d+/.test(out.stdout)) await new Promise((r) => setTimeout(r, 10));
    const pid = Number(/pid=(\d+)/.exec(out.stdout)![1]);
    expect(existsSync(join(stateDir, `${s.allocId}.pid`))).toBe(true);
    // The next agent: a fresh executor over the same state dir.
    expect(await new ProcessExecutor({ stateDir }).adopt(s.allocId)).toBeNull();
    expect(processAlive(pid)).toBe(false);
    expect(existsSync(join(stateDir, `${s.allocId}.pid`))).toBe(false);
    expect(await new ProcessExecutor({ stateDir }).adopt('never-ran-1')).toBeNull();
  });
});

describe('health probes', () => {
  it('http: 2xx and 3xx pass, others fail with the status', async () => {
    expect(await probeHttp('127.0.0.1', httpPort, '/ok', 1000)).toEqual({ ok: true, detail: 'HTTP 200' });
    expect((await probeHttp('127.0.0.1', httpPort, '/moved', 1000)).ok).toBe(true);
    expect(await probeHttp('127.0.0.1', httpPort, '/sick', 1000)).toEqual({ ok: false, detail: 'GET /sick answered HTTP 503' });
  });

  it('tcp: a listening port passes, a closed one fails', async () => {
    expect((await probeTcp('127.0.0.1', httpPort, 1000)).ok).toBe(true);
    const closed = await probeTcp('127.0.0.1', 1, 1000);
    expect(closed.ok).toBe(false);
    expect(closed.detail).toMatch(/ECONNREFUSED/);
  });

  it('a silent server fails at the timeout', async () => {
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const r = await probeHttp('127.0.0.1', (silent.address() as { port: number }).port, '/', 150);
    expect(r).toEqual({ ok: false, detail: expect.stringMatching(/did not answer within 150 ms/) });
    silent.closeAllConnections();
    await new Promise((done) => silent.close(done));
  });

  it('targets: the named host, else the workload address', () => {
    expect(checkTarget(':8000/health', '10.88.0.5')).toEqual({ host: '10.88.0.5', port: 8000, path: '/health' });
    expect(checkTarget('db.local:5432', '127.0.0.1')).toEqual({ host: 'db.local', port: 5432, path: '/' });
    expect(checkTarget('[::1]:9000/x', '127.0.0.1')).toEqual({ host: '::1', port: 9000, path: '/x' });
    expect(() => checkTarget('nonsense', '127.0.0.1')).toThrow(/not a health check target/);
  });
});
