import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { apiClient } from './http-json.js';
import { sleep } from './wait-for.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
/** The built CLI (`npm run build`; `npm test` builds before vitest). */
export const CLI_MAIN = resolve(REPO, 'packages/cli/dist/main.js');
const BUILT = [CLI_MAIN, resolve(REPO, 'packages/server/dist/index.js'), resolve(REPO, 'packages/protocol/dist/index.js')];

/** Throws a clear error when the packages are not built (the child process runs dist, not sources). */
export function assertBuilt(): void {
  const missing = BUILT.filter((p) => !existsSync(p));
  if (missing.length > 0) {
    throw new Error(
      `this test runs the built CLI in a child process, but ${missing.map((p) => p.slice(REPO.length + 1)).join(', ')} ${missing.length === 1 ? 'is' : 'are'} missing: run \`npm run build\` first (\`npm test\` does it)`,
    );
  }
}

export interface ChildServerOptions {
  port: number;
  dataDir: string;
  /** Extra `gpufleet server` flags, e.g. ['--heartbeat-interval', '200ms']. */
  flags?: string[];
  /** Environment variables added for the child (GPUFLEET_MASTER_KEY, say); the caller's GPUFLEET_* are never passed. */
  env?: Record<string, string>;
  /**
   * The address it listens on (default 127.0.0.1). Beyond loopback (0.0.0.0) it serves https with
   * its self-made CA: `url` is then https://127.0.0.1:port, also given as --public-url, and the
   * client trusts the CA copy in `<dataDir>/tls/ca.pem` (caPem()).
   */
  listenHost?: string;
}

/**
 * `gpufleet server` from the built CLI in a child process, so a test can SIGKILL it like a
 * crashed host and start it again on the same port and data dir.
 */
export class ChildServer {
  private proc: ChildProcess | null = null;
  private exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | null = null;
  /** stdout and stderr of every run, for failure messages (the last 64 KiB). */
  output = '';
  readonly url: string;

  constructor(private readonly o: ChildServerOptions) {
    this.url = `${this.tls ? 'https' : 'http'}://127.0.0.1:${o.port}`;
  }

  /** Beyond loopback the server serves https (config/server-config.ts isLoopbackHost). */
  private get tls(): boolean {
    return !['127.0.0.1', 'localhost', '::1'].includes(this.o.listenHost ?? '127.0.0.1');
  }

  /** The CA its https is served under (the copy in its data dir); undefined for plain http or before it is made. */
  caPem(): string | undefined {
    const file = join(this.o.dataDir, 'tls', 'ca.pem');
    return this.tls && existsSync(file) ? readFileSync(file, 'utf8') : undefined;
  }

  get running(): boolean {
    return this.proc !== null && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Starts the process and resolves once /healthz answers; rejects with its output if it exits first. */
  async start(timeoutMs = 15_000): Promise<void> {
    if (this.running) throw new Error('child server already running');
    assertBuilt();
    const env: Record<string, string> = {};
    // Only our flags configure it: GPUFLEET_* settings of the calling environment are left out.
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('GPUFLEET_')) env[k] = v;
    Object.assign(env, this.o.env ?? {});
    const listen = ['--listen', `${this.o.listenHost ?? '127.0.0.1'}:${this.o.port}`, ...(this.tls ? ['--public-url', this.url] : [])];
    const args = [CLI_MAIN, 'server', ...listen, '--data-dir', this.o.dataDir, '--log-level', 'warn', ...(this.o.flags ?? [])];
    const proc = spawn(process.execPath, args, { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString('utf8')).slice(-65_536);
    };
    proc.stdout!.on('data', keep);
    proc.stderr!.on('data', keep);
    this.exit = new Promise((res) => proc.once('exit', (code, signal) => res({ code, signal })));
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      if (!this.running) throw new Error(`gpufleet server exited during start-up:\n${this.output}`);
      try {
        // The CA is read anew each time: a server with https makes (or fetches) it while starting.
        if ((await apiClient(this.url, null, this.caPem())('GET', '/healthz')).status === 200) return;
      } catch {
        // Not listening yet.
      }
      if (performance.now() > deadline) {
        await this.kill('SIGKILL');
        throw new Error(`gpufleet server did not answer /healthz within ${timeoutMs} ms:\n${this.output}`);
      }
      await sleep(50);
    }
  }

  /** Sends a signal and waits for the process to be gone. */
  async kill(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const proc = this.proc;
    const exit = this.exit;
    if (!proc || !exit) return { code: null, signal: null };
    if (this.running) proc.kill(signal);
    const result = await exit;
    this.proc = null;
    this.exit = null;
    return result;
  }

  /** SIGTERM (a clean stop), escalating to SIGKILL after `graceMs`. */
  async stop(graceMs = 5000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const proc = this.proc;
    if (!proc) return { code: null, signal: null };
    const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
    try {
      return await this.kill('SIGTERM');
    } finally {
      clearTimeout(timer);
    }
  }
}
