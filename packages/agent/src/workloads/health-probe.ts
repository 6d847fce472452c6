import { request } from 'node:http';
import { connect } from 'node:net';
import { HEALTH_TARGET, type HealthCheckSpec } from '@gpufleet/protocol';
import type { RunningWorkload } from './executor.js';

/** One health check's verdict; `detail` says why it failed, for the allocation's message. */
export interface ProbeResult {
  ok: boolean;
  detail: string;
}

/** Where an http or tcp check goes: `[host]:port[/path]`, the host defaulting to `fallbackHost`. */
export function checkTarget(target: string, fallbackHost: string): { host: string; port: number; path: string } {
  const m = HEALTH_TARGET.exec(target);
  if (!m) throw new Error(`not a health check target: ${target}`);
  const named = m[1] ?? '';
  const host = named === '' ? fallbackHost : named.startsWith('[') ? named.slice(1, -1) : named;
  return { host, port: Number(m[2]), path: m[3] ?? '/' };
}

/** HTTP GET; healthy on 2xx or 3xx (redirects are not followed). */
export function probeHttp(host: string, port: number, path: string, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: ProbeResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(r);
    };
    const req = request({ host, port, path, method: 'GET', headers: { 'user-agent': 'gpufleet-agent health check' }, agent: false }, (res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      done(status >= 200 && status < 400 ? { ok: true, detail: `HTTP ${status}` } : { ok: false, detail: `GET ${path} answered HTTP ${status}` });
    });
    const timer = setTimeout(() => done({ ok: false, detail: `GET ${path} on ${host}:${port} did not answer within ${timeoutMs} ms` }), timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => done({ ok: false, detail: `GET ${path} on ${host}:${port} failed: ${err.code ?? err.message}` }));
    req.end();
  });
}

/** TCP connect; healthy once the connection opens. */
export function probeTcp(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (r: ProbeResult) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done({ ok: false, detail: `no TCP connection to ${host}:${port} within ${timeoutMs} ms` }), timeoutMs);
    socket.once('connect', () => done({ ok: true, detail: 'connected' }));
    socket.once('error', (err: NodeJS.ErrnoException) => done({ ok: false, detail: `TCP connection to ${host}:${port} failed: ${err.code ?? err.message}` }));
  });
}

/**
 * Runs one check of `spec` against a running workload. http and tcp go to the host the spec
 * names, else to the workload's own address (a container's), else to 127.0.0.1; a command runs
 * in the workload's context. Never throws.
 */
export async function runHealthCheck(spec: HealthCheckSpec, workload: RunningWorkload): Promise<ProbeResult> {
  try {
    if (workload.simulatedHealth) {
      const ok = await workload.simulatedHealth();
      return { ok, detail: ok ? 'healthy' : 'the simulated check failed' };
    }
    const fallback = workload.checkAddress ?? '127.0.0.1';
    if (spec.http !== undefined) {
      const t = checkTarget(spec.http, fallback);
      return await probeHttp(t.host, t.port, t.path, spec.timeout);
    }
    if (spec.tcp !== undefined) {
      const t = checkTarget(spec.tcp, fallback);
      return await probeTcp(t.host, t.port, spec.timeout);
    }
    const argv = spec.command ?? [];
    const { exitCode } = await workload.execCheck(argv, spec.timeout);
    return exitCode === 0
      ? { ok: true, detail: 'exit 0' }
      : { ok: false, detail: `check command ${argv[0]} exited ${exitCode ?? 'without a code (timed out or killed)'}` };
  } catch (err) {
    return { ok: false, detail: `the check could not run: ${(err as Error)?.message ?? String(err)}` };
  }
}
