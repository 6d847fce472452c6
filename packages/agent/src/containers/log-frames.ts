import { StringDecoder } from 'node:string_decoder';
import { FleetError } from '@gpufleet/protocol';

/** Which output of the container a piece of log came from. */
export type LogStream = 'stdout' | 'stderr';

/** One frame of a log stream: the bytes a container wrote on one of its outputs. */
export interface LogFrame {
  stream: LogStream;
  payload: Buffer;
}

/** One line of container output, without its line ending. */
export interface LogLine {
  stream: LogStream;
  text: string;
}

/** Turns the bytes of a log response into frames; `end()` throws when the stream stopped mid-frame. */
export interface LogDecoder {
  push(chunk: Buffer): LogFrame[];
  end(): void;
}

/** A frame longer than this is not a log write but a corrupt header (Docker writes at most 32 KiB at a time). */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024;
const HEADER_BYTES = 8;

function malformed(detail: string): FleetError {
  return new FleetError('tool_failure', `the container engine sent a malformed log stream: ${detail}`);
}

/**
 * Decoder for Docker's multiplexed log stream (containers without a TTY): each frame is an
 * 8-byte header — stream type (0 stdin, 1 stdout, 2 stderr), three zero bytes, payload length as
 * a big-endian uint32 — then the payload. Frames arrive split and merged across chunks at any
 * byte, so incomplete input waits for the next chunk.
 */
export class MuxFrameDecoder implements LogDecoder {
  private buf: Buffer = Buffer.alloc(0);
  /** Bytes consumed so far, for error messages that point at the bad header. */
  private offset = 0;

  push(chunk: Buffer): LogFrame[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const frames: LogFrame[] = [];
    let pos = 0;
    while (this.buf.length - pos >= HEADER_BYTES) {
      const type = this.buf[pos]!;
      if (type > 2 || this.buf[pos + 1] !== 0 || this.buf[pos + 2] !== 0 || this.buf[pos + 3] !== 0) {
        throw malformed(`bad frame header at byte ${this.offset + pos}`);
      }
      const length = this.buf.readUInt32BE(pos + 4);
      if (length > MAX_FRAME_BYTES) throw malformed(`frame of ${length} bytes at byte ${this.offset + pos}`);
      if (this.buf.length - pos - HEADER_BYTES < length) break;
      const start = pos + HEADER_BYTES;
      // Stream 0 (stdin) only appears for attached containers; Docker documents it as written on stdout.
      frames.push({ stream: type === 2 ? 'stderr' : 'stdout', payload: this.buf.subarray(start, start + length) });
      pos = start + length;
    }
    this.offset += pos;
    // Copy the remainder so the frames handed out do not pin (or alias) a buffer that is reused.
    this.buf = pos === 0 ? this.buf : Buffer.from(this.buf.subarray(pos));
    return frames;
  }

  end(): void {
    if (this.buf.length > 0) throw malformed(`the stream ended inside a frame (${this.buf.length} bytes left over)`);
  }
}

/** Containers with a TTY have no frames: the engine sends the terminal's bytes as they are, all as stdout. */
export class RawStreamDecoder implements LogDecoder {
  push(chunk: Buffer): LogFrame[] {
    return chunk.length === 0 ? [] : [{ stream: 'stdout', payload: chunk }];
  }

  end(): void {
    // Nothing is buffered.
  }
}

/** The decoder for a container's log stream: raw for TTY containers, multiplexed otherwise. */
export function createLogDecoder(tty: boolean): LogDecoder {
  return tty ? new RawStreamDecoder() : new MuxFrameDecoder();
}

/** A line without an ending longer than this is handed out as it is (progress bars, binary noise). */
export const MAX_LINE_CHARS = 64 * 1024;

/**
 * Splits frames into lines per stream. Text is decoded as UTF-8 per stream, so a character split
 * across two frames survives; `\r\n` endings (every TTY line) lose their `\r`.
 */
export class LineSplitter {
  private readonly decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
  private readonly partial: Record<LogStream, string> = { stdout: '', stderr: '' };

  push(frame: LogFrame): LogLine[] {
    const text = this.partial[frame.stream] + this.decoders[frame.stream].write(frame.payload);
    const lines: LogLine[] = [];
    let start = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      lines.push({ stream: frame.stream, text: stripCr(text.slice(start, nl)) });
      start = nl + 1;
    }
    let rest = text.slice(start);
    while (rest.length > MAX_LINE_CHARS) {
      lines.push({ stream: frame.stream, text: rest.slice(0, MAX_LINE_CHARS) });
      rest = rest.slice(MAX_LINE_CHARS);
    }
    this.partial[frame.stream] = rest;
    return lines;
  }

  /** The unterminated last line of each stream, if any (at the end of the log). */
  flush(): LogLine[] {
    const lines: LogLine[] = [];
    for (const stream of ['stdout', 'stderr'] as const) {
      const rest = this.partial[stream] + this.decoders[stream].end();
      this.partial[stream] = '';
      if (rest !== '') lines.push({ stream, text: stripCr(rest) });
    }
    return lines;
  }
}

function stripCr(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}
