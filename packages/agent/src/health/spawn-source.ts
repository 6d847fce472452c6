import { spawn as nodeSpawn } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import { errorText, type Logger } from '../runtime/logger.js';

/** The part of a child process the line source uses (node's ChildProcess fits; tests fake it). */
export interface SpawnedChild {
  stdout: NodeJS.ReadableStream | null;
  stderr: NodeJS.ReadableStream | null;
  on(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  kill(signal?: NodeJS.Signals): unknown;
}

export type SpawnFn = (command: string, args: readonly string[]) => SpawnedChild;

/** node:child_process spawn with stdin closed and the output piped. */
export const defaultSpawn: SpawnFn = (command, args) => nodeSpawn(command, [...args], { stdio: ['ignore', 'pipe', 'pipe'] });

export interface SpawnLineSourceOptions {
  command: string;
  /** Arguments for the first run and for restarts (a restart must not replay the look-back). */
  args: readonly string[];
  restartArgs?: readonly string[];
  spawn: SpawnFn;
  onLine: (line: string) => void;
  /** The child ended (or could not start) before writing anything: the caller may try another source. */
  onEarlyExit?: (why: string) => void;
  logger: Logger;
  /** First restart delay; doubles up to 30 s while the child keeps dying. */
  restartDelayMs?: number;
}

const MAX_LINE = 64 * 1024;
const RESTART_CAP_MS = 30_000;

/**
 * Follows a command that prints the kernel log line by line (`journalctl -k -f`, `dmesg -w`):
 * splits its stdout into lines, logs its stderr, and restarts it with backoff when it exits.
 * A child that dies before printing anything is reported through onEarlyExit instead, so the
 * watcher can fall back to the next source.
 */
export class SpawnLineSource {
  private child: SpawnedChild | null = null;
  private stopped = false;
  private timer: NodeJS.Timeout | null = null;
  private sawOutput = false;
  private runs = 0;
  private delayMs: number;
  private partial = '';
  restarts = 0;

  constructor(private readonly o: SpawnLineSourceOptions) {
    this.delayMs = o.restartDelayMs ?? 1000;
  }

  get description(): string {
    return `${this.o.command} ${this.o.args.join(' ')}`;
  }

  start(): void {
    this.stopped = false;
    this.launch();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const child = this.child;
    this.child = null;
    try {
      child?.kill('SIGTERM');
    } catch {
      // Already gone.
    }
    this.flushPartial();
  }

  private launch(): void {
    const args = this.runs > 0 && this.o.restartArgs ? this.o.restartArgs : this.o.args;
    this.runs++;
    this.partial = '';
    let child: SpawnedChild;
    try {
      child = this.o.spawn(this.o.command, args);
    } catch (err) {
      this.ended(`could not start ${this.o.command}: ${errorText(err)}`);
      return;
    }
    this.child = child;
    const decoder = new StringDecoder('utf8');
    child.stdout?.on('data', (chunk: Buffer | string) => {
      if (this.child !== child) return;
      this.sawOutput = true;
      this.take(typeof chunk === 'string' ? chunk : decoder.write(chunk));
    });
    child.stderr?.on('data', (chunk: Buffer | string) => {
      this.o.logger.debug('kernel log command wrote to stderr', { command: this.o.command, text: String(chunk).slice(0, 500) });
    });
    let done = false;
    const finish = (why: string) => {
      if (done || this.child !== child) return;
      done = true;
      this.child = null;
      this.flushPartial();
      this.ended(why);
    };
    child.on('error', (err) => finish(`${this.o.command} failed: ${errorText(err)}`));
    child.on('exit', (code, signal) => finish(`${this.o.command} exited (${signal ?? `code ${code}`})`));
  }

  private take(text: string): void {
    const parts = (this.partial + text).split(/\r?\n/);
    this.partial = parts.pop() ?? '';
    // A line that never ends must not grow without bound.
    if (this.partial.length > MAX_LINE) {
      parts.push(this.partial.slice(0, MAX_LINE));
      this.partial = '';
    }
    for (const line of parts) this.emit(line);
  }

  private flushPartial(): void {
    const rest = this.partial;
    this.partial = '';
    if (rest) this.emit(rest);
  }

  private emit(line: string): void {
    try {
      this.o.onLine(line);
    } catch (err) {
      this.o.logger.error('kernel log line handler failed', { err: errorText(err) });
    }
  }

  private ended(why: string): void {
    if (this.stopped) return;
    if (!this.sawOutput && this.o.onEarlyExit) {
      this.o.onEarlyExit(why);
      return;
    }
    this.restarts++;
    this.o.logger.warn('kernel log command ended; restarting', { why, inMs: this.delayMs });
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.stopped) this.launch();
    }, this.delayMs);
    this.timer.unref?.();
    this.delayMs = Math.min(this.delayMs * 2, RESTART_CAP_MS);
  }
}
