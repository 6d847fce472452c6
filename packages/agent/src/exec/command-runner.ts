import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorText } from '../runtime/logger.js';
import type { StoredRunResult } from '../runtime/state.js';
import { OutputChunker, type OutputChunk } from './output-chunker.js';
import { currentProcessIdentity, resolveRunAs, type ProcessIdentity, type RunAsAccount } from './run-as.js';

/** What to run: an argv (no shell), a shell script (`/bin/sh -c`), or a library script's content with arguments. */
export type RunnableCommand =
  | { kind: 'argv'; argv: readonly string[] }
  | { kind: 'shell'; script: string }
  | { kind: 'script'; name: string; content: string; args: readonly string[] };

export interface RunRequest {
  command: RunnableCommand;
  /** Merged onto the minimal base environment (PATH, HOME, LANG). */
  env?: Readonly<Record<string, string>>;
  cwd?: string | null;
  timeoutMs: number;
  /** Run as this user; only an agent running as root can switch users. */
  runAs?: string | null;
  /** Output kept for this run; default the runner's. */
  outputCapBytes?: number;
}

/** How a run ended: the shape the host also keeps on disk to report again (see StoredRunResult). */
export type RunResult = StoredRunResult;

export interface RunHooks {
  /** Called once: with the pid, or null when the command could not be started. */
  onStart?: (pid: number | null) => void;
  onOutput: (chunk: OutputChunk) => void;
}

/** A started run: await `done`; `cancel()` kills its whole process group. */
export interface RunningCommand {
  readonly done: Promise<RunResult>;
  cancel(): void;
}

/** Anything that runs commands: the real runner, or a stand-in in the simulator. */
export interface CommandRunnerLike {
  start(request: RunRequest, hooks: RunHooks): RunningCommand;
}

export interface CommandRunnerOptions {
  /** Between SIGTERM and SIGKILL to the process group. Default 2 s. */
  killGraceMs?: number;
  /**
   * After the command's own process exits, how long to wait for its output pipes to close. A
   * background process it left behind may hold them; past this the run is finished and the
   * leftover is left alone (it may be a daemon the operator started on purpose). Default 2 s.
   */
  lingerMs?: number;
  outputCapBytes?: number;
  chunkBytes?: number;
  flushMs?: number;
  /** PATH of the base environment. Default DEFAULT_SAFE_PATH. */
  path?: string;
  /** LANG of the base environment. Default 'C.UTF-8'. */
  lang?: string;
  /** Who the agent is (tests inject it). Default: this process. */
  self?: ProcessIdentity;
  /** Where library scripts are written before they run. Default os.tmpdir(). */
  tmpDir?: string;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

export const DEFAULT_SAFE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Runs commands on this host, each in its own process group (a new session), so a timeout or
 * a cancel kills everything the command started: SIGTERM to the group, SIGKILL after a grace.
 * Never through a shell unless the command is a shell script. Never throws: problems before
 * the start become a result with exit code 126 (or 127: not found) and a message on stderr.
 */
export class CommandRunner implements CommandRunnerLike {
  // Looked up on first use: a simulator holds thousands of agents that may never run anything.
  private self: ProcessIdentity | null;

  constructor(private readonly o: CommandRunnerOptions = {}) {
    this.self = o.self ?? null;
  }

  start(request: RunRequest, hooks: RunHooks): RunningCommand {
    this.self ??= currentProcessIdentity();
    const run = new ProcessRun(request, hooks, this.o, this.self);
    return { done: run.done, cancel: () => run.cancel() };
  }
}

class ProcessRun {
  readonly done: Promise<RunResult>;
  private readonly t0 = performance.now();
  private readonly chunker: OutputChunker;
  private child: ChildProcess | null = null;
  private pid: number | null = null;
  private started = false;
  private stopping: 'timeout' | 'cancel' | null = null;
  private finished = false;
  private timeoutTimer: NodeJS.Timeout | null = null;
  private lingerTimer: NodeJS.Timeout | null = null;
  private tempDir: string | null = null;
  private resolve!: (r: RunResult) => void;

  constructor(
    private readonly req: RunRequest,
    private readonly hooks: RunHooks,
    private readonly o: CommandRunnerOptions,
    private readonly self: ProcessIdentity,
  ) {
    this.chunker = new OutputChunker({ emit: hooks.onOutput, capBytes: req.outputCapBytes ?? o.outputCapBytes, chunkBytes: o.chunkBytes, flushMs: o.flushMs });
    this.done = new Promise((resolve) => (this.resolve = resolve));
    void this.launch();
  }

  cancel(): void {
    this.stop('cancel');
  }

  private async launch(): Promise<void> {
    let account: RunAsAccount;
    try {
      account = await resolveRunAs(this.req.runAs ?? null, this.self);
    } catch (err) {
      return this.failBeforeStart(126, `cannot run as '${this.req.runAs}': ${errorText(err)}`);
    }
    if (this.stopping) return this.failBeforeStart(null, null);
    // Default: the user's home, or / when it has none (system users such as nobody).
    const cwd = this.req.cwd ?? (isDirectory(account.home) ? account.home : '/');
    if (!isDirectory(cwd)) return this.failBeforeStart(126, `working directory ${cwd} does not exist or is not a directory`);
    let file: string;
    let args: string[];
    try {
      [file, args] = this.prepare(account);
    } catch (err) {
      return this.failBeforeStart(126, `cannot prepare the script: ${errorText(err)}`);
    }
    const env: Record<string, string> = { PATH: this.o.path ?? DEFAULT_SAFE_PATH, HOME: account.home, LANG: this.o.lang ?? 'C.UTF-8', ...this.req.env };
    let child: ChildProcess;
    try {
      child = spawn(file, args, {
        cwd,
        env,
        // A new session: the command leads its own process group, which timeout and cancel kill whole.
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
        ...(account.uid !== null && account.gid !== null ? { uid: account.uid, gid: account.gid } : {}),
      });
    } catch (err) {
      return this.failBeforeStart(126, `cannot start ${file}: ${errorText(err)}`);
    }
    this.child = child;
    child.on('error', (err: NodeJS.ErrnoException) => {
      // Without a pid the spawn itself failed (not found, not executable); otherwise it is a kill or pipe problem, which 'close' follows.
      if (child.pid === undefined && !this.started)
        this.failBeforeStart(err.code === 'ENOENT' ? 127 : 126, `cannot run ${file}: ${err.code ?? errorText(err)}`);
    });
    if (child.pid === undefined) return;
    this.pid = child.pid;
    this.started = true;
    this.hooks.onStart?.(child.pid);
    child.stdout!.on('data', (b: Buffer) => this.chunker.write('stdout', b));
    child.stderr!.on('data', (b: Buffer) => this.chunker.write('stderr', b));
    child.once('exit', () => {
      // While stopping, the group gets its SIGKILL first; a process that left the group may still hold the pipes.
      const wait = (this.o.lingerMs ?? 2000) + (this.stopping ? (this.o.killGraceMs ?? 2000) : 0);
      this.lingerTimer = setTimeout(() => {
        // Output pipes still open: a background process holds them. Stop reading and finish.
        child.stdout?.destroy();
        child.stderr?.destroy();
        this.finish(child.exitCode, child.signalCode);
      }, wait);
    });
    child.once('close', (code, signal) => this.finish(code, signal));
    this.timeoutTimer = setTimeout(() => this.stop('timeout'), this.req.timeoutMs);
    if (this.stopping) this.killGroup();
  }

  /** The file to execute and its arguments; writes a library script to a private temp file. */
  private prepare(account: RunAsAccount): [string, string[]] {
    const c = this.req.command;
    switch (c.kind) {
      case 'argv':
        if (c.argv.length === 0) throw new Error('empty argv');
        return [c.argv[0]!, c.argv.slice(1)];
      case 'shell':
        return ['/bin/sh', ['-c', c.script]];
      case 'script': {
        this.tempDir = mkdtempSync(join(this.o.tmpDir ?? tmpdir(), 'gpufleet-run-'));
        const path = join(this.tempDir, c.name.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 100) || 'script');
        writeFileSync(path, c.content, { mode: 0o700 });
        if (account.uid !== null && account.gid !== null) {
          chownSync(this.tempDir, account.uid, account.gid);
          chownSync(path, account.uid, account.gid);
        }
        // With a shebang the kernel picks the interpreter; without one, sh runs it (as a shell would).
        return c.content.startsWith('#!') ? [path, [...c.args]] : ['/bin/sh', [path, ...c.args]];
      }
    }
  }

  private stop(why: 'timeout' | 'cancel'): void {
    if (this.stopping || this.finished) return;
    this.stopping = why;
    if (this.started) this.killGroup();
  }

  /** SIGTERM to the whole group now, SIGKILL to whatever is left after the grace. */
  private killGroup(): void {
    const pid = this.pid;
    if (pid === null) return;
    const signal = (sig: NodeJS.Signals) => {
      try {
        process.kill(-pid, sig);
      } catch {
        // ESRCH: the group is gone already.
      }
    };
    signal('SIGTERM');
    // Not cleared when the leader exits: members that ignore SIGTERM must still go.
    setTimeout(() => signal('SIGKILL'), this.o.killGraceMs ?? 2000);
  }

  private failBeforeStart(exitCode: number | null, message: string | null): void {
    if (this.started || this.finished) return;
    this.started = true;
    this.hooks.onStart?.(null);
    if (message) this.chunker.write('stderr', `gpufleet-agent: ${message}\n`);
    this.finish(exitCode, null);
  }

  private finish(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.finished) return;
    this.finished = true;
    if (this.timeoutTimer) clearTimeout(this.timeoutTimer);
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.chunker.close();
    if (this.tempDir) rmSync(this.tempDir, { recursive: true, force: true });
    this.resolve({
      exitCode: code,
      signal,
      timedOut: this.stopping === 'timeout',
      canceled: this.stopping === 'cancel',
      durationMs: Math.max(0, Math.round(performance.now() - this.t0)),
      outputBytes: this.chunker.outputBytes,
      truncated: this.chunker.truncated,
    });
  }
}
