import type { MetricsBody } from '@gpufleet/protocol';
import { describe, expect, it } from 'vitest';
import { decodeBatch, encodeSampleItem, packBatches, parseRelayedBody } from './metric-batch.js';

const body = (ts: number, gpus = 8): MetricsBody =>
  ({
    ts,
    host: { cpuPct: 12.5, load1: 1, load5: 1, load15: 1, memoryUsedBytes: 1e9, memoryTotalBytes: 2e9, disks: [], net: [] },
    gpus: Array.from({ length: gpus }, (_, index) => ({
      uuid: `GPU-${ts}-${index}`,
      pciBusId: `00000000:${10 + index}:00.0`,
      index,
      temperatureC: 40 + index,
    })),
  }) as unknown as MetricsBody;

const NODE = 'did:key:z6MkBatchedNode';

describe('metric batches', () => {
  it('round-trips samples: node, time and body, with non-ASCII ids and origin', () => {
    const items = [encodeSampleItem(NODE, body(1_000)), encodeSampleItem('nöde-ß', body(2_000.5, 0))];
    const { batches, oversized } = packBatches('cp-1·instance', items, 64 * 1024);
    expect(oversized).toBe(0);
    expect(batches).toHaveLength(1);
    const decoded = decodeBatch(batches[0]!);
    expect(decoded.origin).toBe('cp-1·instance');
    expect(decoded.items.map((i) => [i.nodeId, i.ts])).toEqual([
      [NODE, 1_000],
      ['nöde-ß', 2_000.5],
    ]);
    expect(decoded.items.map(parseRelayedBody)).toEqual([body(1_000), body(2_000.5, 0)]);
  });

  it('splits into messages under the limit, keeping every item in order', () => {
    const items = Array.from({ length: 500 }, (_, i) => encodeSampleItem(`node-${i}`, body(i + 1)));
    const max = 32 * 1024;
    const { batches, oversized } = packBatches('o', items, max);
    expect(oversized).toBe(0);
    expect(batches.length).toBeGreaterThan(1);
    for (const b of batches) expect(b.length).toBeLessThanOrEqual(max);
    const ids = batches.flatMap((b) => decodeBatch(b).items.map((i) => i.nodeId));
    expect(ids).toEqual(items.map((_, i) => `node-${i}`));
  });

  it('leaves out an item larger than any message and counts it; nothing at all gives no message', () => {
    const big = encodeSampleItem('big', body(1, 64));
    const small = encodeSampleItem('small', body(2, 1));
    const { batches, oversized } = packBatches('o', [big, small], big.length - 1);
    expect(oversized).toBe(1);
    expect(batches.flatMap((b) => decodeBatch(b).items.map((i) => i.nodeId))).toEqual(['small']);
    expect(packBatches('o', [], 1024)).toEqual({ batches: [], oversized: 0 });
  });

  it('refuses to frame what it cannot: an empty node id, a sample without a time', () => {
    expect(() => encodeSampleItem('', body(1))).toThrow(/node id of 0 bytes/);
    expect(() => encodeSampleItem(NODE, { ...body(1), ts: Number.NaN })).toThrow(/has no time/);
    expect(() => encodeSampleItem(NODE, null as unknown as MetricsBody)).toThrow(/has no time/);
  });

  it('refuses garbage whole, saying what is wrong', () => {
    const { batches } = packBatches('o', [encodeSampleItem(NODE, body(1))], 64 * 1024);
    const good = batches[0]!;
    const cases: Array<[Uint8Array, RegExp]> = [
      [new Uint8Array(0), /too short/],
      [new TextEncoder().encode('{"origin":"x"}'), /version 123/],
      [Uint8Array.from([2, ...good.subarray(1)]), /version 2/],
      [good.subarray(0, good.length - 1), /body of item 0 runs past the end/],
      [Uint8Array.from([...good, 0]), /1 bytes after the last item/],
      // Origin length pointing past the end.
      [Uint8Array.from([1, 0xff, 0xff, 0, 0, 0, 0]), /origin runs past the end/],
      // Invalid UTF-8 origin.
      [Uint8Array.from([1, 0, 1, 0xff, 0, 0, 0, 0]), /origin is not UTF-8/],
      // Claims two items, holds one.
      [
        (() => {
          const c = Uint8Array.from(good);
          new DataView(c.buffer).setUint32(4, 2);
          return c;
        })(),
        /item 1 runs past the end/,
      ],
    ];
    for (const [bytes, why] of cases) expect(() => decodeBatch(bytes), String(why)).toThrow(why);
  });

  it('reads a body only when it is a sample of the time its frame says', () => {
    const item = { nodeId: NODE, ts: 5, body: new TextEncoder().encode(JSON.stringify(body(5))) };
    expect(parseRelayedBody(item)).toEqual(body(5));
    const text = (s: string) => ({ ...item, body: new TextEncoder().encode(s) });
    expect(parseRelayedBody({ ...item, ts: 6 })).toBeNull();
    expect(parseRelayedBody(text('not json'))).toBeNull();
    expect(parseRelayedBody(text('null'))).toBeNull();
    expect(parseRelayedBody(text('{"ts":5,"host":null,"gpus":[]}'))).toBeNull();
    expect(parseRelayedBody(text('{"ts":5,"host":{},"gpus":{}}'))).toBeNull();
    expect(parseRelayedBody({ ...item, body: Uint8Array.from([0xff]) })).toBeNull();
  });
});
