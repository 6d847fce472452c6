import * as nodeFs from 'node:fs';
import { uptime as osUptime } from 'node:os';
import { delimiter, join } from 'node:path';
import { systemClock, type Clock } from '../runtime/clock.js';
import { errorText, silentLogger, type Logger } from '../runtime/logger.js';
import { FileFollower, type FollowFs } from './file-follower.js';
import { parseKernelLine, type KernelEvent } from './kernel-line.js';
import { KmsgSource, type KmsgFs } from './kmsg-source.js';
import type { KmsgRecord } from './kmsg-record.js';
import { KernelLineJoiner } from './line-joiner.js';
import { SpawnLineSource, defaultSpawn, type SpawnFn } from './spawn-source.js';

/** Where kernel lines come from: the best the host offers, or a file (the simulator's fake kernel log). */
export type KernelLogSourceOption = 'auto' | { file: string };
export type KernelLogSourceKind = 'kmsg' | 'journalctl' | 'dmesg' | 'file' | 'none';
export type KernelLogWatcherState = 'idle' | 'running' | 'stopped';

export interface KernelLogWatcherOptions {
  /** Default 'auto': /dev/kmsg, else `journalctl -k -f`, else `dmesg -w`. */
  source?: KernelLogSourceOption;
  /** Called for every GPU event, in log order. */
  onEvent: (event: KernelEvent) => void;
  /** Events already in the log at start that are younger than this are replayed. Default 5 min. */
  lookBackMs?: number;
  /** Poll period of /dev/kmsg and of a followed file. Default 100 ms. */
  pollMs?: number;
  logger?: Logger;
  clock?: Clock;
  kmsgPath?: string;
  kmsgFs?: KmsgFs;
  followFs?: FollowFs;
  /** Finds a command on PATH; null when absent. */
  which?: (command: string) => string | null;
  spawn?: SpawnFn;
  /** Milliseconds since boot (to place kernel-clock times and the look-back). */
  uptimeMs?: () => number;
  /** First delay before a died journalctl / dmesg is restarted. Default 1 s. */
  restartDelayMs?: number;
}

export const DEFAULT_LOOK_BACK_MS = 5 * 60_000;
const JOINER_IDLE_MS = 500;

/** Looks a command up on PATH (plus the sbin folders, where dmesg may live). */
export function whichOnPath(command: string, path = process.env.PATH ?? ''): string | null {
  const dirs = [...path.split(delimiter), '/usr/bin', '/bin', '/usr/sbin', '/sbin'].filter(Boolean);
  for (const dir of dirs) {
    const full = join(dir, command);
    try {
      nodeFs.accessSync(full, nodeFs.constants.X_OK);
      return full;
    } catch {
      // Not here.
    }
  }
  return null;
}

/**
 * Watches the kernel log for GPU events (Xid, SXid, fallen off the bus, driver failures) and
 * calls onEvent for each. Reads /dev/kmsg without blocking where it can, else follows
 * `journalctl -k -f`, else `dmesg -w`; or follows a file like `tail -F`. Starts from now,
 * replaying only what happened within lookBackMs before start. Read errors are logged and
 * reading resumes; nothing here throws after start().
 */
export class KernelLogWatcher {
  private st: KernelLogWatcherState = 'idle';
  private kind: KernelLogSourceKind = 'none';
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly lookBackMs: number;
  private readonly pollMs: number;
  private readonly joiner = new KernelLineJoiner();
  private kmsg: KmsgSource | null = null;
  private spawned: SpawnLineSource | null = null;
  private file: FileFollower | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private lastLineAt = 0;
  /** Epoch ms of boot, for kernel-clock times; and the kernel-clock / epoch times before which lines are old. */
  private bootEpochMs = 0;
  private cutoffBootMs = 0;
  private cutoffEpochMs = 0;
  /** dmesg -w prints the whole ring again after a restart: lines older than this were seen. */
  private dmesgHighWater = 0;
  private readonly dmesgAtHighWater = new Set<string>();
  readonly stats = { lines: 0, events: 0, skippedOld: 0 };

  constructor(private readonly o: KernelLogWatcherOptions) {
    this.logger = o.logger ?? silentLogger;
    this.clock = o.clock ?? systemClock;
    this.lookBackMs = Math.max(0, o.lookBackMs ?? DEFAULT_LOOK_BACK_MS);
    this.pollMs = o.pollMs ?? 100;
  }

  get state(): KernelLogWatcherState {
    return this.st;
  }

  /** The source in use (after start). */
  get source(): KernelLogSourceKind {
    return this.kind;
  }

  start(): void {
    if (this.st !== 'idle') return;
    this.st = 'running';
    const now = this.clock.now();
    const up = this.uptime();
    this.bootEpochMs = now - up;
    this.cutoffBootMs = up - this.lookBackMs;
    this.cutoffEpochMs = now - this.lookBackMs;
    this.dmesgHighWater = this.cutoffBootMs;
    const source = this.o.source ?? 'auto';
    if (source === 'auto') this.startAuto(0);
    else this.startFile(source.file);
    this.idleTimer = setInterval(() => this.flushIdle(), Math.max(this.pollMs, 100));
    this.idleTimer.unref?.();
  }

  stop(): void {
    if (this.st === 'stopped') return;
    this.st = 'stopped';
    if (this.idleTimer) clearInterval(this.idleTimer);
    this.idleTimer = null;
    this.kmsg?.stop();
    this.spawned?.stop();
    this.file?.stop();
    this.kmsg = this.spawned = this.file = null;
    for (const l of this.joiner.flush()) this.handleLogical(l, 'none', false);
  }

  private uptime(): number {
    try {
      return this.o.uptimeMs ? this.o.uptimeMs() : osUptime() * 1000;
    } catch {
      return 0;
    }
  }

  /** Tries the sources in order from `step`: 0 /dev/kmsg, 1 journalctl, 2 dmesg. */
  private startAuto(step: number): void {
    if (this.st !== 'running') return;
    if (step <= 0 && this.tryKmsg()) return;
    const which = this.o.which ?? ((c: string) => whichOnPath(c));
    if (step <= 1) {
      const journalctl = which('journalctl');
      if (journalctl) {
        const since = this.lookBackMs > 0 ? [`--since=-${Math.ceil(this.lookBackMs / 1000)}s`] : ['-n', '0'];
        this.startSpawn(
          'journalctl',
          journalctl,
          ['-k', '-f', '-o', 'short-iso', '--no-pager', ...since],
          ['-k', '-f', '-o', 'short-iso', '--no-pager', '-n', '0'],
          2,
        );
        return;
      }
    }
    if (step <= 2) {
      const dmesg = which('dmesg');
      if (dmesg) {
        this.startSpawn('dmesg', dmesg, ['-w'], ['-w'], 3);
        return;
      }
    }
    this.kind = 'none';
    this.logger.warn('no kernel log source is readable (/dev/kmsg, journalctl, dmesg): XID watching is off');
  }

  private tryKmsg(): boolean {
    const path = this.o.kmsgPath ?? '/dev/kmsg';
    const source = new KmsgSource({
      path,
      fs: this.o.kmsgFs ?? (nodeFs as unknown as KmsgFs),
      pollMs: this.pollMs,
      logger: this.logger,
      onRecord: (r, backlog) => this.handleKmsg(r, backlog),
    });
    try {
      source.open();
    } catch (err) {
      this.logger.info('kernel log device not readable; trying journalctl and dmesg', { path, err: (err as NodeJS.ErrnoException).code ?? errorText(err) });
      return false;
    }
    this.kmsg = source;
    this.kind = 'kmsg';
    this.logger.info('watching the kernel log', { source: path, lookBackMs: this.lookBackMs });
    source.start();
    return true;
  }

  private startSpawn(kind: 'journalctl' | 'dmesg', command: string, args: string[], restartArgs: string[], next: number): void {
    this.kind = kind;
    this.spawned = new SpawnLineSource({
      command,
      args,
      restartArgs,
      spawn: this.o.spawn ?? defaultSpawn,
      logger: this.logger,
      restartDelayMs: this.o.restartDelayMs,
      onLine: (line) => this.handlePhysical(line, kind, false),
      onEarlyExit: (why) => {
        this.logger.info('kernel log command gave nothing; trying the next source', { why });
        this.spawned = null;
        this.startAuto(next);
      },
    });
    this.logger.info('watching the kernel log', { source: this.spawned.description, lookBackMs: this.lookBackMs });
    this.spawned.start();
  }

  private startFile(path: string): void {
    this.kind = 'file';
    this.file = new FileFollower({
      path,
      pollMs: this.pollMs,
      fs: this.o.followFs,
      logger: this.logger,
      onLines: (lines, backlog) => {
        for (const l of lines) this.handlePhysical(l, 'file', backlog);
        // A record cut by the end of the backlog must not swallow the first new line.
        if (backlog) for (const l of this.joiner.flush()) this.handleLogical(l, 'file', true);
      },
    });
    this.logger.info('watching the kernel log', { source: path, lookBackMs: this.lookBackMs });
    this.file.start();
  }

  private handleKmsg(record: KmsgRecord, backlog: boolean): void {
    this.stats.lines++;
    const offset = record.usec / 1000;
    if (backlog && offset < this.cutoffBootMs) {
      this.stats.skippedOld++;
      return;
    }
    const ev = parseKernelLine(record.raw, { now: this.clock.now() });
    if (ev) this.deliver({ ...ev, timestamp: ev.timestamp ?? Math.round(this.bootEpochMs + offset) });
  }

  private handlePhysical(line: string, kind: KernelLogSourceKind, backlog: boolean): void {
    this.stats.lines++;
    this.lastLineAt = this.clock.now();
    for (const l of this.joiner.push(line)) this.handleLogical(l, kind, backlog);
  }

  private handleLogical(line: string, kind: KernelLogSourceKind, backlog: boolean): void {
    const ev = parseKernelLine(line, { now: this.clock.now() });
    if (!ev) return;
    if (kind === 'dmesg' && ev.bootOffsetMs !== null) {
      if (this.seenByDmesg(ev.bootOffsetMs, line)) {
        this.stats.skippedOld++;
        return;
      }
      ev.timestamp ??= Math.round(this.bootEpochMs + ev.bootOffsetMs);
    }
    // A file's backlog replays only what carries a time within the look-back.
    if (kind === 'file' && backlog && (ev.timestamp === null || ev.timestamp < this.cutoffEpochMs)) {
      this.stats.skippedOld++;
      return;
    }
    this.deliver(ev);
  }

  /**
   * dmesg lines come in kernel-clock order; a restarted `dmesg -w` prints the ring again. A line
   * older than the newest one delivered was seen (or is older than the look-back); one at the
   * same instant was seen if its text was.
   */
  private seenByDmesg(offsetMs: number, line: string): boolean {
    if (offsetMs < this.dmesgHighWater) return true;
    if (offsetMs > this.dmesgHighWater) {
      this.dmesgHighWater = offsetMs;
      this.dmesgAtHighWater.clear();
    }
    // The raw line carries the microseconds the millisecond offset lost.
    if (this.dmesgAtHighWater.has(line)) return true;
    this.dmesgAtHighWater.add(line);
    return false;
  }

  private deliver(ev: KernelEvent): void {
    this.stats.events++;
    try {
      this.o.onEvent(ev);
    } catch (err) {
      this.logger.error('kernel event handler failed', { err: errorText(err), kind: ev.kind, code: ev.code });
    }
  }

  /** A record head with nothing after it for a while is complete as it is. */
  private flushIdle(): void {
    if (!this.joiner.waiting || this.clock.now() - this.lastLineAt < JOINER_IDLE_MS) return;
    for (const l of this.joiner.flush()) this.handleLogical(l, this.kind, false);
  }
}
