import { type ChildProcess, fork } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildMessage, ParentMessage, SimAgentState, SimAgentsConfig } from './sim-agents-child.js';

export type { SimAgentState, SimAgentsConfig } from './sim-agents-child.js';

const here = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(here, '../../..');
const CHILD = resolve(here, 'sim-agents-child.ts');

/**
 * Many simulated agents in one child process (sim-agents-child.ts, run with tsx against the
 * built packages): the cheapest way to have hundreds or thousands of real Agents on one machine,
 * and out of the caller's event loop. The child process outlives no replica: SIGKILLing a
 * replica leaves the agents running, so they fail over like real hosts.
 */
export class SimAgents {
  private proc: ChildProcess | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, (hosts: SimAgentState[]) => void>();
  /** The child's stderr (the last 64 KiB), for failure messages. */
  output = '';

  /** The child's process id while it runs (for CPU accounting). */
  get pid(): number | null {
    return this.proc?.pid ?? null;
  }

  /** Forks the child and resolves once every agent has started (dialing, not necessarily welcomed). */
  async start(config: SimAgentsConfig, timeoutMs = 120_000): Promise<{ startMs: number }> {
    const proc = fork(CHILD, [JSON.stringify(config)], {
      cwd: REPO,
      execArgv: ['--import', 'tsx', '--max-old-space-size=4096'],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    this.proc = proc;
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString('utf8')).slice(-65_536);
    };
    proc.stdout!.on('data', keep);
    proc.stderr!.on('data', keep);
    return new Promise((resolvePromise, reject) => {
      const timer = setTimeout(() => reject(new Error(`simulated agents not started within ${timeoutMs} ms:\n${this.output}`)), timeoutMs);
      proc.on('message', (m: ChildMessage) => {
        if (m.t === 'ready') {
          clearTimeout(timer);
          resolvePromise({ startMs: m.ms });
        } else if (m.t === 'error') {
          clearTimeout(timer);
          reject(new Error(`simulated agents failed: ${m.message}\n${this.output}`));
        } else if (m.t === 'state') {
          this.pending.get(m.id)?.(m.hosts);
          this.pending.delete(m.id);
        }
      });
      proc.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`simulated agents process exited (${code ?? signal}):\n${this.output}`));
      });
    });
  }

  /** Every host's link state, replica URL and outbox size, as its agent sees them now. */
  state(timeoutMs = 10_000): Promise<SimAgentState[]> {
    const proc = this.proc;
    if (!proc?.connected) return Promise.reject(new Error('the simulated agents process is not running'));
    const id = this.nextId++;
    return new Promise((resolvePromise, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`the simulated agents process did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, (hosts) => {
        clearTimeout(timer);
        resolvePromise(hosts);
      });
      proc.send({ t: 'state', id } satisfies ParentMessage);
    });
  }

  /** Stops the agents (each closes its session), then makes sure the process is gone. */
  async stop(graceMs = 15_000): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    if (proc.connected) proc.send({ t: 'stop' } satisfies ParentMessage);
    const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
    this.proc = null;
  }
}
