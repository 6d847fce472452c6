import * as nodeFs from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { errorText, type Logger } from '../runtime/logger.js';

/** The synchronous file calls the follower makes (node:fs by default). */
export interface FollowFs {
  openSync(path: string, flags: string): number;
  fstatSync(fd: number): { size: number; ino: number; dev: number };
  statSync(path: string): { size: number; ino: number; dev: number };
  readSync(fd: number, buffer: Buffer, offset: number, length: number, position: number): number;
  closeSync(fd: number): void;
}

export interface FileFollowerOptions {
  path: string;
  /** New lines; `backlog` is true for the lines that were in the file at start (the look-back). */
  onLines: (lines: string[], backlog: boolean) => void;
  logger: Logger;
  pollMs: number;
  /** How much of the file's end to hand over as backlog at start. Default 1 MiB. */
  backlogBytes?: number;
  fs?: FollowFs;
}

const MAX_READ = 4 * 1024 * 1024;
const MAX_LINE = 64 * 1024;

function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

/**
 * Follows a log file like `tail -F`: starts at its end, reads what is appended on every poll,
 * survives truncation (copytruncate: reads again from the start) and rotation (rename then
 * create: drains the old file, then reads the new one from its start), and waits for a file
 * that does not exist yet. Lines are handed over only once their newline is written.
 */
export class FileFollower {
  private readonly fs: FollowFs;
  private fd: number | null = null;
  private ino = -1;
  private dev = -1;
  private position = 0;
  private partial = '';
  private decoder = new StringDecoder('utf8');
  private timer: NodeJS.Timeout | null = null;
  private missingLogged = false;
  private readonly buf: Buffer;

  constructor(private readonly o: FileFollowerOptions) {
    this.fs = o.fs ?? (nodeFs as unknown as FollowFs);
    this.buf = Buffer.alloc(64 * 1024);
  }

  start(): void {
    if (this.openAt('end')) this.readBacklog();
    this.timer = setInterval(() => this.poll(), this.o.pollMs);
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.close();
    this.flushPartial();
  }

  /** Reads what was appended, following truncation and rotation. Public for tests; the timer calls it. */
  poll(): void {
    try {
      if (this.fd === null) {
        // The file appeared after we started, came back after a rotation, or is reopened after
        // an error: a new file is read from its start, the same file from where we were.
        if (this.openAt('resume')) this.drain();
        return;
      }
      this.drain();
      const now = this.statPath();
      if (now === null || now.ino !== this.ino || now.dev !== this.dev) {
        // Rotated away: what the old file got before the switch is drained above; now the new one.
        this.close();
        this.flushPartial();
        // Gone from its path: a file created there later is new, even on a reused inode number.
        if (now === null) this.ino = this.dev = -1;
        else if (this.openAt('resume')) this.drain();
      }
    } catch (err) {
      this.o.logger.warn('reading the kernel log file failed; will retry', { path: this.o.path, err: errorText(err) });
      this.close();
    }
  }

  private statPath(): { ino: number; dev: number } | null {
    try {
      return this.fs.statSync(this.o.path);
    } catch (err) {
      if (errCode(err) === 'ENOENT') return null;
      throw err;
    }
  }

  private openAt(where: 'resume' | 'end'): boolean {
    let fd: number;
    try {
      fd = this.fs.openSync(this.o.path, 'r');
    } catch (err) {
      if (!this.missingLogged) {
        this.missingLogged = true;
        this.o.logger.info('kernel log file not readable yet; waiting for it', { path: this.o.path, err: errCode(err) ?? errorText(err) });
      }
      return false;
    }
    this.missingLogged = false;
    const st = this.fs.fstatSync(fd);
    const same = st.ino === this.ino && st.dev === this.dev && st.size >= this.position;
    this.fd = fd;
    this.ino = st.ino;
    this.dev = st.dev;
    if (where === 'end') this.position = st.size;
    else if (!same) {
      this.position = 0;
      this.partial = '';
      this.decoder = new StringDecoder('utf8');
    }
    return true;
  }

  private readBacklog(): void {
    const want = Math.min(this.position, this.o.backlogBytes ?? 1024 * 1024);
    if (want <= 0) return;
    const buf = Buffer.alloc(want);
    const n = this.fs.readSync(this.fd!, buf, 0, want, this.position - want);
    const lines = buf.toString('utf8', 0, n).split(/\r?\n/);
    // The first piece may be the tail of a line cut by the window; the last is '' or a partial line.
    if (want < this.position) lines.shift();
    const last = lines.pop() ?? '';
    if (last !== '') {
      // An unterminated last line is still being written: it belongs to what comes next.
      this.partial = last;
    }
    if (lines.length > 0) this.deliver(lines, true);
  }

  private drain(): void {
    const fd = this.fd!;
    const size = this.fs.fstatSync(fd).size;
    if (size < this.position) {
      // Truncated in place (copytruncate): everything in it now is new.
      this.position = 0;
      this.flushPartial();
      this.decoder = new StringDecoder('utf8');
    }
    let budget = MAX_READ;
    while (this.position < size && budget > 0) {
      const n = this.fs.readSync(fd, this.buf, 0, Math.min(this.buf.length, size - this.position, budget), this.position);
      if (n <= 0) break;
      this.position += n;
      budget -= n;
      // The decoder keeps a character split between two reads whole.
      this.take(this.decoder.write(this.buf.subarray(0, n)));
    }
  }

  private take(text: string): void {
    const parts = (this.partial + text).split(/\r?\n/);
    this.partial = parts.pop() ?? '';
    if (this.partial.length > MAX_LINE) {
      parts.push(this.partial.slice(0, MAX_LINE));
      this.partial = '';
    }
    if (parts.length > 0) this.deliver(parts, false);
  }

  private flushPartial(): void {
    const rest = this.partial;
    this.partial = '';
    if (rest) this.deliver([rest], false);
  }

  private deliver(lines: string[], backlog: boolean): void {
    try {
      this.o.onLines(lines, backlog);
    } catch (err) {
      this.o.logger.error('kernel log line handler failed', { err: errorText(err) });
    }
  }

  private close(): void {
    if (this.fd === null) return;
    try {
      this.fs.closeSync(this.fd);
    } catch {
      // Already closed or broken: nothing to keep.
    }
    this.fd = null;
  }
}
