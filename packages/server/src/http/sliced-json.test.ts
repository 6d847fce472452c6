import { describe, expect, it } from 'vitest';
import { LazyItems, PLAIN_SLICE, slicedJson } from './sliced-json.js';

async function text(value: unknown): Promise<{ text: string; pieces: number }> {
  let out = '';
  let pieces = 0;
  for await (const piece of slicedJson(value)) {
    expect(typeof piece).toBe('string');
    out += piece;
    pieces++;
  }
  return { text: out, pieces };
}

describe('slicedJson', () => {
  it('writes what JSON.stringify writes, for every kind of value', async () => {
    const values: unknown[] = [
      null,
      0,
      -1.5,
      'quote " and \\ and \u2028 and é',
      true,
      [],
      {},
      [1, 'two', null, { three: 3 }],
      { a: undefined, b: () => 1, c: Symbol('s'), d: null, e: [undefined, () => 1], f: new Date(0), g: { h: { i: [] } } },
      { nested: { big: Array.from({ length: PLAIN_SLICE * 2 + 7 }, (_, i) => (i % 5 === 0 ? null : i)) } },
      Object.assign(Object.create(null), { noProto: 1 }),
      { withToJson: { toJSON: () => ({ replaced: true }) } },
      { nan: Number.NaN, inf: Number.POSITIVE_INFINITY },
    ];
    for (const v of values) expect((await text(v)).text).toBe(JSON.stringify(v));
  });

  it('writes a long plain array with holes and undefined as JSON.stringify does', async () => {
    const big: unknown[] = Array.from({ length: PLAIN_SLICE + 3 }, (_, i) => i);
    big[5] = undefined;
    big[PLAIN_SLICE + 1] = () => 0;
    delete big[PLAIN_SLICE];
    const written = await text({ big });
    expect(written.text).toBe(JSON.stringify({ big }));
    expect(JSON.parse(written.text).big).toHaveLength(PLAIN_SLICE + 3);
  });

  it('makes lazy items as it writes them, leaving out those made undefined', async () => {
    const made: number[] = [];
    const items = new LazyItems(
      [1, 2, 3, 4, 5, 6, 7],
      (n: number) => {
        made.push(n);
        return n % 3 === 0 ? undefined : { n };
      },
      2,
    );
    const value = { items, total: 7 };
    const written = await text(value);
    expect(JSON.parse(written.text)).toEqual({ items: [{ n: 1 }, { n: 2 }, { n: 4 }, { n: 5 }, { n: 7 }], total: 7 });
    expect(made).toEqual([1, 2, 3, 4, 5, 6, 7]);
    // Outside slicedJson they serialize whole, to the same text.
    expect(JSON.stringify(value)).toBe(written.text);
  });

  it('writes a slice of lazy items whose items were all left out without a stray comma', async () => {
    const items = new LazyItems([1, 2, 3, 4, 5], (n: number) => (n <= 2 || n === 5 ? undefined : n), 2);
    expect((await text({ items })).text).toBe('{"items":[3,4]}');
    expect((await text({ items: new LazyItems([], (n: number) => n) })).text).toBe('{"items":[]}');
    expect((await text({ items: new LazyItems([1, 2], () => undefined, 1) })).text).toBe('{"items":[]}');
  });

  it('gives the event loop back between slices', async () => {
    const order: string[] = [];
    const items = new LazyItems(
      Array.from({ length: 6 }, (_, i) => i),
      (i: number) => {
        order.push(`make ${i}`);
        return i;
      },
      3,
    );
    // Queued before writing starts: it can only run if the writer gives the loop back.
    setImmediate(() => order.push('other work'));
    await text({ items });
    expect(order).toEqual(['make 0', 'make 1', 'make 2', 'other work', 'make 3', 'make 4', 'make 5']);
  });

  it('hands on large answers in several pieces, not one string', async () => {
    const items = new LazyItems(
      Array.from({ length: 2000 }, (_, i) => i),
      (i: number) => ({ i, pad: 'x'.repeat(1000) }),
    );
    const written = await text({ items });
    expect(written.pieces).toBeGreaterThan(5);
    expect(JSON.parse(written.text).items).toHaveLength(2000);
  });

  it('refuses a slice size that is not a whole number of at least 1', () => {
    expect(() => new LazyItems([1], (n) => n, 0)).toThrow(/at least 1/);
    expect(() => new LazyItems([1], (n) => n, 1.5)).toThrow(/whole number/);
  });
});
