import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FleetError } from '@gpufleet/protocol';
import { DEFAULT_SAFE_PATH } from '../exec/command-runner.js';
import type { ExecutorStart, RunningWorkload, WorkloadExecutor, WorkloadExit } from './executor.js';

export interface ProcessExecutorOptions {
  /** Working directory of every workload. Default `/`. */
  cwd?: string;
  /** PATH of the base environment. Default DEFAULT_SAFE_PATH. */
  path?: string;
  /**
   * Where each running workload's process group is written down (`<allocId>.pid`), so an agent
   * that crashed and came back can end a group that outlived it before starting the allocation
   * again (under systemd the unit's cgroup already takes them down). Default: not written.
   */
  stateDir?: string;
  /** After the leader exits, how long its output pipes may stay open (a child holding them). Default 2 s. */
  lingerMs?: number;
}

type OutputSink = (stream: 'stdout' | 'stderr', data: string) => void;

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: nothing left in the group.
  }
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks): tells a reused pid from the one written down. */
function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/**
 * Runs `process` allocations: the spec's command, without a shell, as the agent's user, in a
 * process group of its own (a new session) so a stop reaches everything it started: SIGTERM to
 * the group, SIGKILL after the grace period. The environment is a minimal base (PATH, HOME,
 * LANG) plus the allocation's (spec env, GPUFLEET_*, GPU visibility). When the leader exits,
 * whatever it left in its group is killed: the group lives and dies as one allocation.
 * A process workload does not survive its agent: adopt ends a group left by a crashed agent and
 * returns null, so the supervisor starts the allocation again.
 */
export class ProcessExecutor implements WorkloadExecutor {
  readonly kind = 'process' as const;

  constructor(private readonly o: ProcessExecutorOptions = {}) {}

  async start(s: ExecutorStart, onOutput: OutputSink): Promise<RunningWorkload> {
    const argv = s.spec.command;
    if (!argv || argv.length === 0) throw new FleetError('invalid_argument', `${s.job}/${s.name} has no command to run`);
    const env = { PATH: this.o.path ?? DEFAULT_SAFE_PATH, HOME: process.env.HOME ?? '/root', LANG: 'C.UTF-8', ...s.env };
    const child = spawn(argv[0]!, argv.slice(1), { cwd: this.o.cwd ?? '/', env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (err: NodeJS.ErrnoException) =>
        reject(new FleetError(err.code === 'ENOENT' ? 'not_found' : 'failed_precondition', `cannot run ${argv[0]}: ${err.code ?? err.message}`)),
      );
    });
    this.remember(s.allocId, child.pid!);
    return new ProcessWorkload(child, s.env, onOutput, this.o.lingerMs ?? 2000, () => this.forget(s.allocId));
  }

  async adopt(allocId: string): Promise<RunningWorkload | null> {
    const left = this.recall(allocId);
    if (left) {
      killGroup(left, 'SIGTERM');
      for (let waited = 0; waited < 2000 && processStartTime(left) !== null; waited += 50) await new Promise((r) => setTimeout(r, 50));
      killGroup(left, 'SIGKILL');
      this.forget(allocId);
    }
    return null;
  }

  async cleanup(allocId: string): Promise<void> {
    this.forget(allocId);
  }

  private pidFile(allocId: string): string | null {
    return this.o.stateDir ? join(this.o.stateDir, `${allocId}.pid`) : null;
  }

  private remember(allocId: string, pid: number): void {
    const file = this.pidFile(allocId);
    if (!file) return;
    mkdirSync(this.o.stateDir!, { recursive: true, mode: 0o700 });
    writeFileSync(file, JSON.stringify({ pid, start: processStartTime(pid) }), { mode: 0o600 });
  }

  /** The group a previous agent left running for this allocation, when it is still that process. */
  private recall(allocId: string): number | null {
    const file = this.pidFile(allocId);
    if (!file) return null;
    try {
      const { pid, start } = JSON.parse(readFileSync(file, 'utf8')) as { pid?: unknown; start?: unknown };
      if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 1) return null;
      return start !== null && processStartTime(pid) === start ? pid : null;
    } catch {
      return null;
    }
  }

  private forget(allocId: string): void {
    const file = this.pidFile(allocId);
    if (file) rmSync(file, { force: true });
  }
}

/** One running process group. */
class ProcessWorkload implements RunningWorkload {
  readonly exited: Promise<WorkloadExit>;
  readonly checkAddress = null;
  private resolveExit!: (exit: WorkloadExit) => void;
  private done = false;
  private readonly pgid: number;

  constructor(
    private readonly child: ChildProcess,
    private readonly env: Record<string, string>,
    onOutput: OutputSink,
    lingerMs: number,
    onDone: () => void,
  ) {
    this.pgid = child.pid!;
    this.exited = new Promise((resolve) => (this.resolveExit = resolve));
    child.stdout!.setEncoding('utf8').on('data', (d: string) => onOutput('stdout', d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => onOutput('stderr', d));
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (this.done) return;
      this.done = true;
      // What the leader left behind in its group goes with it.
      killGroup(this.pgid, 'SIGKILL');
      onDone();
      this.resolveExit({ exitCode: code, signal });
    };
    child.once('exit', (code, signal) => {
      // Pipes held open by a leftover child: give them a moment to drain, then finish anyway.
      setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        finish(code, signal);
      }, lingerMs).unref();
    });
    child.once('close', (code, signal) => finish(code, signal));
  }

  async stop(graceMs: number): Promise<WorkloadExit> {
    if (this.done) return this.exited;
    killGroup(this.pgid, 'SIGTERM');
    const timer = setTimeout(() => killGroup(this.pgid, 'SIGKILL'), graceMs);
    const exit = await this.exited;
    clearTimeout(timer);
    return exit;
  }

  /** Runs the check on the host with the allocation's environment; killed at the timeout. */
  execCheck(argv: readonly string[], timeoutMs: number): Promise<{ exitCode: number | null }> {
    return new Promise((resolve) => {
      let child: ChildProcess;
      try {
        child = spawn(argv[0]!, argv.slice(1), {
          cwd: '/',
          env: { PATH: DEFAULT_SAFE_PATH, LANG: 'C.UTF-8', ...this.env },
          detached: true,
          stdio: 'ignore',
        });
      } catch {
        resolve({ exitCode: null });
        return;
      }
      const timer = setTimeout(() => child.pid !== undefined && killGroup(child.pid, 'SIGKILL'), timeoutMs);
      child.once('error', () => {
        clearTimeout(timer);
        resolve({ exitCode: null });
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
        resolve({ exitCode: code });
      });
    });
  }
}
