import { describe, expect, it } from 'vitest';
import { FleetError } from '@gpufleet/protocol';
import {
  createLogDecoder,
  LineSplitter,
  MAX_FRAME_BYTES,
  MAX_LINE_CHARS,
  MuxFrameDecoder,
  RawStreamDecoder,
  type LogFrame,
  type LogLine,
} from './log-frames.js';

/** One multiplexed frame as the engine writes it. */
function frame(type: number, payload: string | Buffer): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const header = Buffer.alloc(8);
  header[0] = type;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

const asText = (frames: LogFrame[]) => frames.map((f) => `${f.stream}:${f.payload.toString()}`);

function linesOf(decoderTty: boolean, chunks: Buffer[]): LogLine[] {
  const decoder = createLogDecoder(decoderTty);
  const splitter = new LineSplitter();
  const out: LogLine[] = [];
  for (const c of chunks) for (const f of decoder.push(c)) out.push(...splitter.push(f));
  decoder.end();
  out.push(...splitter.flush());
  return out;
}

describe('MuxFrameDecoder', () => {
  it('decodes frames of each stream type in order', () => {
    const d = new MuxFrameDecoder();
    const out = d.push(Buffer.concat([frame(1, 'out one\n'), frame(2, 'err one\n'), frame(0, 'stdin\n')]));
    expect(asText(out)).toEqual(['stdout:out one\n', 'stderr:err one\n', 'stdout:stdin\n']);
    expect(() => d.end()).not.toThrow();
  });

  it('reassembles frames split at every possible byte', () => {
    const stream = Buffer.concat([frame(1, 'hello\n'), frame(2, 'world\n'), frame(1, '')]);
    for (let cut = 0; cut <= stream.length; cut++) {
      const d = new MuxFrameDecoder();
      const out = [...d.push(stream.subarray(0, cut)), ...d.push(stream.subarray(cut))];
      expect(asText(out), `cut at ${cut}`).toEqual(['stdout:hello\n', 'stderr:world\n', 'stdout:']);
      d.end();
    }
  });

  it('handles input fed one byte at a time', () => {
    const stream = Buffer.concat([frame(1, 'a'), frame(2, 'bc'), frame(1, 'def')]);
    const d = new MuxFrameDecoder();
    const out: LogFrame[] = [];
    for (const byte of stream) out.push(...d.push(Buffer.from([byte])));
    expect(asText(out)).toEqual(['stdout:a', 'stderr:bc', 'stdout:def']);
  });

  it('keeps frame payloads intact when the next chunk arrives', () => {
    const d = new MuxFrameDecoder();
    const first = d.push(Buffer.concat([frame(1, 'keep me'), frame(2, 'par')]).subarray(0, 8 + 7 + 5));
    d.push(Buffer.concat([frame(2, 'partial')]).subarray(5));
    expect(first[0]!.payload.toString()).toBe('keep me');
  });

  it('refuses a header with an unknown stream type', () => {
    const bad = frame(1, 'x');
    bad[0] = 7;
    expect(() => new MuxFrameDecoder().push(bad)).toThrow(/malformed log stream: bad frame header at byte 0/);
  });

  it('refuses a header whose padding bytes are not zero (plain text is not a frame stream)', () => {
    const d = new MuxFrameDecoder();
    d.push(frame(1, 'fine\n'));
    let err: unknown;
    try {
      d.push(Buffer.from('\u0001abcdefgh plain text'));
    } catch (e) {
      err = e;
    }
    expect(FleetError.is(err, 'tool_failure')).toBe(true);
    // The offset counts the bytes consumed by earlier chunks.
    expect((err as Error).message).toMatch(/at byte 13/);
  });

  it('refuses an absurd frame length instead of buffering forever', () => {
    const header = Buffer.alloc(8);
    header[0] = 1;
    header.writeUInt32BE(MAX_FRAME_BYTES + 1, 4);
    expect(() => new MuxFrameDecoder().push(header)).toThrow(/frame of \d+ bytes/);
  });

  it('says so when the stream ends inside a frame', () => {
    const d = new MuxFrameDecoder();
    expect(d.push(frame(1, 'truncated').subarray(0, 12))).toEqual([]);
    expect(() => d.end()).toThrow(/ended inside a frame \(12 bytes left over\)/);
  });

  it('an empty chunk changes nothing', () => {
    const d = new MuxFrameDecoder();
    expect(d.push(Buffer.alloc(0))).toEqual([]);
    d.end();
  });
});

describe('RawStreamDecoder (TTY containers)', () => {
  it('passes bytes through as stdout, whatever they look like', () => {
    const d = new RawStreamDecoder();
    // Bytes that would be a frame header in multiplexed mode are plain data here.
    const data = Buffer.concat([Buffer.from([2, 0, 0, 0, 0, 0, 0, 1]), Buffer.from('x\r\n')]);
    const out = d.push(data);
    expect(out).toHaveLength(1);
    expect(out[0]!.stream).toBe('stdout');
    expect(out[0]!.payload.equals(data)).toBe(true);
    d.end();
  });

  it('createLogDecoder picks the decoder by the TTY flag', () => {
    expect(createLogDecoder(true)).toBeInstanceOf(RawStreamDecoder);
    expect(createLogDecoder(false)).toBeInstanceOf(MuxFrameDecoder);
  });
});

describe('LineSplitter', () => {
  it('joins lines split across frames, per stream', () => {
    const lines = linesOf(false, [Buffer.concat([frame(1, 'tic'), frame(2, 'warn'), frame(1, 'k 1\ntick 2\n'), frame(2, 'ing\n')])]);
    expect(lines).toEqual([
      { stream: 'stdout', text: 'tick 1' },
      { stream: 'stdout', text: 'tick 2' },
      { stream: 'stderr', text: 'warning' },
    ]);
  });

  it('strips the \\r of TTY line endings and flushes an unterminated last line', () => {
    const lines = linesOf(true, [Buffer.from('one\r\ntw'), Buffer.from('o\r\nlast')]);
    expect(lines).toEqual([
      { stream: 'stdout', text: 'one' },
      { stream: 'stdout', text: 'two' },
      { stream: 'stdout', text: 'last' },
    ]);
  });

  it('keeps a UTF-8 character split between two frames', () => {
    const bytes = Buffer.from('température 45°C\n');
    const cut = bytes.indexOf(0xb0); // the second byte of "°"
    const lines = linesOf(false, [Buffer.concat([frame(1, bytes.subarray(0, cut)), frame(1, bytes.subarray(cut))])]);
    expect(lines).toEqual([{ stream: 'stdout', text: 'température 45°C' }]);
  });

  it('hands out an endless line in bounded pieces', () => {
    const splitter = new LineSplitter();
    const long = 'x'.repeat(MAX_LINE_CHARS * 2 + 10);
    const out = splitter.push({ stream: 'stdout', payload: Buffer.from(long) });
    expect(out.map((l) => l.text.length)).toEqual([MAX_LINE_CHARS, MAX_LINE_CHARS]);
    expect(splitter.flush()).toEqual([{ stream: 'stdout', text: 'x'.repeat(10) }]);
  });

  it('turns invalid UTF-8 into replacement characters instead of failing', () => {
    const lines = linesOf(true, [Buffer.from([0xff, 0xfe, 0x41, 0x0a])]);
    expect(lines).toEqual([{ stream: 'stdout', text: '\ufffd\ufffdA' }]);
  });
});
