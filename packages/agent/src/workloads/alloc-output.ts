import type { AllocOutputData } from '@gpufleet/protocol';
import { OutputChunker, type OutputStream } from '../exec/output-chunker.js';

/** How much output one allocation may send; what is over is dropped and counted. */
export interface OutputRateLimits {
  /** Sustained rate. Default 32 KiB/s. */
  bytesPerSecond: number;
  /** What may come at once after a quiet spell. Default 256 KiB. */
  burstBytes: number;
  /** Largest chunk. Default 16 KiB. */
  chunkBytes: number;
  /** Buffered output goes out at the latest this long after it arrived. Default 200 ms. */
  flushMs: number;
}

export const DEFAULT_OUTPUT_RATE: OutputRateLimits = { bytesPerSecond: 32 * 1024, burstBytes: 256 * 1024, chunkBytes: 16 * 1024, flushMs: 200 };

/** Chunk numbers are reserved this many at a time, and the reservation stored. */
export const CHUNK_RESERVATION = 1000;

export interface AllocOutputOptions {
  allocId: string;
  emit: (data: AllocOutputData) => void;
  /** Numbers reserved so far per stream: numbering starts there (see StoredAllocation.outputReserved). */
  reserved: { stdout: number; stderr: number };
  /** Called (before the number is used) when more numbers are reserved; the caller stores it. */
  reserve: (stream: OutputStream, upTo: number) => void;
  limits?: Partial<OutputRateLimits>;
  /** Monotonic ms for the token bucket. Default performance.now. */
  monotonic?: () => number;
}

/**
 * An allocation's output on its way to the server as `alloc-output` events: coalesced into
 * chunks of at most 16 KiB, numbered per stream without ever reusing a number, and capped by a
 * token bucket per allocation so a chatty workload cannot flood the outbox (the events are not
 * critical, and the outbox keeps a share for critical ones anyway). Output over the cap is
 * dropped; when output flows again a line on stderr says how much was lost.
 */
export class AllocOutput {
  private readonly limits: OutputRateLimits;
  private readonly chunker: OutputChunker;
  private readonly next: { stdout: number; stderr: number };
  private readonly reserved: { stdout: number; stderr: number };
  private readonly monotonic: () => number;
  private tokens: number;
  private refilledAt: number;
  private dropped = 0;
  private closed = false;

  constructor(private readonly o: AllocOutputOptions) {
    this.limits = { ...DEFAULT_OUTPUT_RATE, ...o.limits };
    this.monotonic = o.monotonic ?? (() => performance.now());
    this.next = { ...o.reserved };
    this.reserved = { ...o.reserved };
    this.tokens = this.limits.burstBytes;
    this.refilledAt = this.monotonic();
    this.chunker = new OutputChunker({
      emit: (c) => this.send(c.stream, c.data),
      capBytes: Number.MAX_SAFE_INTEGER,
      chunkBytes: this.limits.chunkBytes,
      flushMs: this.limits.flushMs,
    });
  }

  /** Bytes dropped over the cap and not yet reported. */
  get droppedBytes(): number {
    return this.dropped;
  }

  write(stream: OutputStream, data: string): void {
    if (this.closed || data === '') return;
    const bytes = Buffer.byteLength(data, 'utf8');
    this.refill();
    if (bytes > this.tokens) {
      this.dropped += bytes;
      return;
    }
    this.tokens -= bytes;
    this.reportDropped();
    this.chunker.write(stream, data);
  }

  /** Sends what is buffered (and the count of anything dropped) and stops. */
  close(): void {
    if (this.closed) return;
    this.reportDropped();
    this.chunker.close();
    this.closed = true;
  }

  private refill(): void {
    const now = this.monotonic();
    this.tokens = Math.min(this.limits.burstBytes, this.tokens + ((now - this.refilledAt) / 1000) * this.limits.bytesPerSecond);
    this.refilledAt = now;
  }

  private reportDropped(): void {
    if (this.dropped === 0) return;
    const note = `[gpufleet-agent: ${this.dropped} bytes of this allocation's output were dropped: it wrote more than ${Math.round(this.limits.bytesPerSecond / 1024)} KiB/s]\n`;
    this.dropped = 0;
    this.chunker.write('stderr', note);
  }

  private send(stream: OutputStream, data: string): void {
    const chunk = this.next[stream]++;
    if (chunk >= this.reserved[stream]) {
      this.reserved[stream] = chunk + CHUNK_RESERVATION;
      this.o.reserve(stream, this.reserved[stream]);
    }
    this.o.emit({ allocId: this.o.allocId, stream, chunk, data });
  }
}
