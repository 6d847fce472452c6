import { afterEach, describe, expect, it, vi } from 'vitest';
import { OutputChunker, type OutputChunk } from './output-chunker.js';

afterEach(() => {
  vi.useRealTimers();
});

function collect(opts: { capBytes?: number; chunkBytes?: number; flushMs?: number } = {}) {
  const chunks: OutputChunk[] = [];
  const chunker = new OutputChunker({ emit: (c) => chunks.push(c), ...opts });
  return { chunks, chunker };
}

describe('OutputChunker', () => {
  it('coalesces small writes into one chunk after the flush interval', () => {
    vi.useFakeTimers();
    const { chunks, chunker } = collect({ flushMs: 100 });
    chunker.write('stdout', 'a');
    chunker.write('stdout', 'b');
    chunker.write('stdout', Buffer.from('c'));
    expect(chunks).toEqual([]);
    vi.advanceTimersByTime(99);
    expect(chunks).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(chunks).toEqual([{ stream: 'stdout', chunk: 0, data: 'abc' }]);
  });

  it('emits full chunks at once and numbers each stream on its own', () => {
    const { chunks, chunker } = collect({ chunkBytes: 4, flushMs: 10_000 });
    chunker.write('stdout', '0123456789');
    chunker.write('stderr', 'xy');
    expect(chunks.map((c) => c.data)).toEqual(['0123', '4567']);
    chunker.close();
    expect(chunks).toEqual([
      { stream: 'stdout', chunk: 0, data: '0123' },
      { stream: 'stdout', chunk: 1, data: '4567' },
      { stream: 'stdout', chunk: 2, data: '89' },
      { stream: 'stderr', chunk: 0, data: 'xy' },
    ]);
    expect(chunker.outputBytes).toBe(12);
    expect(chunker.truncated).toBe(false);
  });

  it('keeps a multi-byte character whole when a chunk boundary cuts it', () => {
    const { chunks, chunker } = collect({ chunkBytes: 3, flushMs: 10_000 });
    // 'é' is two bytes: the first chunk boundary falls inside the second one.
    chunker.write('stdout', 'aéé');
    chunker.close();
    expect(chunks.map((c) => c.data).join('')).toBe('aéé');
    expect(chunks.every((c) => !c.data.includes('\ufffd'))).toBe(true);
  });

  it('caps the kept output, sends one truncation marker, and keeps counting', () => {
    const { chunks, chunker } = collect({ capBytes: 10, chunkBytes: 4, flushMs: 10_000 });
    chunker.write('stdout', '0123456');
    chunker.write('stderr', 'abcdef');
    chunker.write('stdout', 'more and more');
    chunker.write('stderr', 'even more');
    chunker.close();
    const kept = chunks.filter((c) => !c.truncated);
    const markers = chunks.filter((c) => c.truncated);
    expect(kept.reduce((n, c) => n + Buffer.byteLength(c.data), 0)).toBe(10);
    expect(
      kept
        .filter((c) => c.stream === 'stdout')
        .map((c) => c.data)
        .join(''),
    ).toBe('0123456');
    expect(
      kept
        .filter((c) => c.stream === 'stderr')
        .map((c) => c.data)
        .join(''),
    ).toBe('abc');
    expect(markers).toHaveLength(1);
    expect(markers[0]!.stream).toBe('stderr');
    expect(markers[0]!.data).toMatch(/truncated after 10 bytes/);
    // The marker continues its stream's numbering and is the last chunk of all.
    expect(chunks.at(-1)).toBe(markers[0]);
    expect(markers[0]!.chunk).toBe(kept.filter((c) => c.stream === 'stderr').length);
    expect(chunker.outputBytes).toBe(7 + 6 + 13 + 9);
    expect(chunker.truncated).toBe(true);
  });

  it('ignores writes after close and empty writes', () => {
    const { chunks, chunker } = collect();
    chunker.write('stdout', '');
    chunker.close();
    chunker.write('stdout', 'late');
    chunker.close();
    expect(chunks).toEqual([]);
    expect(chunker.outputBytes).toBe(0);
  });
});
