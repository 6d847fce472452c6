import { StringDecoder } from 'node:string_decoder';

export type OutputStream = 'stdout' | 'stderr';

/** One piece of a run's output as it travels to the server. */
export interface OutputChunk {
  stream: OutputStream;
  /** Per-stream sequence number, from 0, without gaps. */
  chunk: number;
  data: string;
  /** Set on the one marker chunk that says the output cap was reached. */
  truncated?: true;
}

export interface OutputChunkerOptions {
  /** Receives each chunk, in order per stream. */
  emit: (chunk: OutputChunk) => void;
  /** Output kept per run (both streams together); past it, one marker and nothing more. Default 1 MiB. */
  capBytes?: number;
  /** Largest chunk, in bytes. Default 16 KiB. */
  chunkBytes?: number;
  /** Buffered output is sent at the latest this long after it arrived. Default 100 ms. */
  flushMs?: number;
}

export const DEFAULT_OUTPUT_CAP_BYTES = 1024 * 1024;
export const DEFAULT_CHUNK_BYTES = 16 * 1024;
export const DEFAULT_FLUSH_MS = 100;

interface StreamState {
  pending: Buffer[];
  pendingBytes: number;
  next: number;
  // Keeps a multi-byte UTF-8 character that straddles two chunks whole.
  decoder: StringDecoder;
}

/**
 * Turns a run's raw output into numbered chunks: coalesced up to `chunkBytes` or `flushMs`,
 * capped at `capBytes` per run with one truncation marker, while still counting every byte
 * the process wrote (outputBytes).
 */
export class OutputChunker {
  private readonly capBytes: number;
  private readonly chunkBytes: number;
  private readonly flushMs: number;
  private readonly streams: Record<OutputStream, StreamState>;
  private kept = 0;
  private total = 0;
  private cut = false;
  private closed = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly o: OutputChunkerOptions) {
    this.capBytes = Math.max(0, o.capBytes ?? DEFAULT_OUTPUT_CAP_BYTES);
    this.chunkBytes = Math.max(1, o.chunkBytes ?? DEFAULT_CHUNK_BYTES);
    this.flushMs = Math.max(0, o.flushMs ?? DEFAULT_FLUSH_MS);
    const fresh = (): StreamState => ({ pending: [], pendingBytes: 0, next: 0, decoder: new StringDecoder('utf8') });
    this.streams = { stdout: fresh(), stderr: fresh() };
  }

  /** Every byte written, kept or not. */
  get outputBytes(): number {
    return this.total;
  }

  /** True once the cap was reached and output was dropped. */
  get truncated(): boolean {
    return this.cut;
  }

  /** Takes output of one stream. Ignored after close(). */
  write(stream: OutputStream, data: Buffer | string): void {
    if (this.closed) return;
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    if (buf.length === 0) return;
    this.total += buf.length;
    if (this.cut) return;
    const room = this.capBytes - this.kept;
    const keep = buf.length <= room ? buf : buf.subarray(0, room);
    if (keep.length > 0) {
      this.kept += keep.length;
      const s = this.streams[stream];
      s.pending.push(keep);
      s.pendingBytes += keep.length;
      this.emitFull(stream);
    }
    if (keep.length < buf.length) {
      this.cut = true;
      this.flush();
      for (const name of ['stdout', 'stderr'] as const) this.endDecoder(name);
      const s = this.streams[stream];
      this.o.emit({
        stream,
        chunk: s.next++,
        data: `\n[gpufleet: output truncated after ${this.capBytes} bytes; the rest was counted, not kept]\n`,
        truncated: true,
      });
      return;
    }
    this.arm();
  }

  /** Sends everything buffered now. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const name of ['stdout', 'stderr'] as const) this.drain(name, true);
  }

  /** Flushes and stops: later writes are ignored. */
  close(): void {
    if (this.closed) return;
    this.flush();
    if (!this.cut) for (const name of ['stdout', 'stderr'] as const) this.endDecoder(name);
    this.closed = true;
  }

  private arm(): void {
    const buffered = this.streams.stdout.pendingBytes + this.streams.stderr.pendingBytes;
    if (buffered === 0 || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush();
    }, this.flushMs);
  }

  private emitFull(stream: OutputStream): void {
    if (this.streams[stream].pendingBytes >= this.chunkBytes) this.drain(stream, false);
  }

  /** Emits full chunks, and with `all` the remainder too. */
  private drain(stream: OutputStream, all: boolean): void {
    const s = this.streams[stream];
    if (s.pendingBytes === 0) return;
    let buf = s.pending.length === 1 ? s.pending[0]! : Buffer.concat(s.pending, s.pendingBytes);
    while (buf.length >= this.chunkBytes || (all && buf.length > 0)) {
      const piece = buf.subarray(0, Math.min(this.chunkBytes, buf.length));
      buf = buf.subarray(piece.length);
      this.emitText(stream, s.decoder.write(piece));
    }
    s.pending = buf.length > 0 ? [buf] : [];
    s.pendingBytes = buf.length;
  }

  private endDecoder(stream: OutputStream): void {
    this.emitText(stream, this.streams[stream].decoder.end());
  }

  private emitText(stream: OutputStream, data: string): void {
    // A piece that is only the first bytes of a character yields '': nothing to send yet.
    if (data === '') return;
    const s = this.streams[stream];
    this.o.emit({ stream, chunk: s.next++, data });
  }
}
