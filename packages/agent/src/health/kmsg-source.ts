import { constants as fsConstants } from 'node:fs';
import { errorText, type Logger } from '../runtime/logger.js';
import { parseKmsgRecord, type KmsgRecord } from './kmsg-record.js';

/** The few synchronous file calls the /dev/kmsg reader makes (node:fs by default; tests fake them). */
export interface KmsgFs {
  openSync(path: string, flags: number): number;
  readSync(fd: number, buffer: Buffer, offset: number, length: number, position: null): number;
  closeSync(fd: number): void;
}

export interface KmsgSourceOptions {
  path: string;
  fs: KmsgFs;
  /** Each new record; `backlog` is true for records that were in the ring when the source opened. */
  onRecord: (record: KmsgRecord, backlog: boolean) => void;
  logger: Logger;
  /** Poll period for new records. */
  pollMs: number;
  /** Upper bound of records handled per poll, so a flood cannot starve the event loop. */
  maxRecordsPerPoll?: number;
}

// A record is at most 8 KiB in current kernels (CONSOLE_EXT_LOG_MAX); read() refuses a smaller buffer.
const RECORD_BUFFER = 16 * 1024;

function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

/**
 * Reads /dev/kmsg without blocking: opened O_RDONLY|O_NONBLOCK, each read() returns one record
 * and EAGAIN when none is left, polled on a timer. Records seen before (by seq, after a reopen)
 * are skipped. EPIPE (the ring overran us) is logged and reading goes on from the oldest record
 * still there; any other read error reopens the device on the next poll. Never throws after open.
 */
export class KmsgSource {
  private fd: number | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastSeq = -1;
  private firstDrain = true;
  private readonly buf = Buffer.alloc(RECORD_BUFFER);
  /** Records the ring overwrote before we read them (from EPIPE and seq gaps). */
  overruns = 0;
  readErrors = 0;

  constructor(private readonly o: KmsgSourceOptions) {}

  /** Opens the device; throws (EACCES, ENOENT, EPERM) when it is not readable, so the caller can fall back. */
  open(): void {
    this.fd = this.o.fs.openSync(this.o.path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  }

  /** Drains what the ring holds now (the backlog), then polls. open() must have succeeded. */
  start(): void {
    this.poll();
    this.timer = setInterval(() => this.poll(), this.o.pollMs);
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.close();
  }

  /** Reads every record available now. Public for tests; the timer calls it. */
  poll(): void {
    if (this.fd === null) {
      try {
        this.open();
      } catch (err) {
        this.o.logger.debug('cannot reopen the kernel log yet', { path: this.o.path, err: errorText(err) });
        return;
      }
    }
    const max = this.o.maxRecordsPerPoll ?? 10_000;
    for (let n = 0; n < max; n++) {
      let size: number;
      try {
        size = this.o.fs.readSync(this.fd!, this.buf, 0, this.buf.length, null);
      } catch (err) {
        const code = errCode(err);
        if (code === 'EAGAIN' || code === 'EWOULDBLOCK') {
          this.firstDrain = false;
          return;
        }
        if (code === 'EPIPE') {
          // The kernel overwrote records we had not read; the next read resumes at the oldest left.
          this.overruns++;
          this.o.logger.warn('kernel log ring buffer overran the reader; some records were lost', { path: this.o.path });
          continue;
        }
        if (code === 'EINTR') continue;
        this.readErrors++;
        this.o.logger.warn('kernel log read failed; reopening', { path: this.o.path, err: errorText(err) });
        this.close();
        return;
      }
      if (size <= 0) {
        this.firstDrain = false;
        return;
      }
      this.handle(this.buf.toString('utf8', 0, size));
    }
  }

  private handle(text: string): void {
    const record = parseKmsgRecord(text);
    if (!record) return;
    // After a reopen the whole ring comes again: what was seen is skipped by its seq.
    if (record.seq <= this.lastSeq) return;
    if (this.lastSeq >= 0 && record.seq > this.lastSeq + 1 && !this.firstDrain) this.overruns += record.seq - this.lastSeq - 1;
    this.lastSeq = record.seq;
    try {
      this.o.onRecord(record, this.firstDrain);
    } catch (err) {
      this.o.logger.error('kernel log record handler failed', { err: errorText(err) });
    }
  }

  private close(): void {
    if (this.fd === null) return;
    try {
      this.o.fs.closeSync(this.fd);
    } catch {
      // Closing a broken descriptor can fail too; it is gone either way.
    }
    this.fd = null;
  }
}
