import { describe, expect, it } from 'vitest';
import { forEachInSlices, sortInSlices } from './loop-slices.js';

describe('forEachInSlices', () => {
  it('visits every item once, in order, with its index', async () => {
    const seen: Array<[string, number]> = [];
    await forEachInSlices(['a', 'b', 'c', 'd', 'e'], 2, (item, i) => seen.push([item, i]));
    expect(seen).toEqual([
      ['a', 0],
      ['b', 1],
      ['c', 2],
      ['d', 3],
      ['e', 4],
    ]);
  });

  it('gives the event loop back between slices, not within one', async () => {
    const order: string[] = [];
    setImmediate(() => order.push('other work'));
    await forEachInSlices([0, 1, 2, 3], 2, (i) => order.push(`item ${i}`));
    expect(order).toEqual(['item 0', 'item 1', 'other work', 'item 2', 'item 3']);
  });

  it('does nothing for no items and refuses a bad slice size', async () => {
    let calls = 0;
    await forEachInSlices([], 10, () => calls++);
    expect(calls).toBe(0);
    await expect(forEachInSlices([1], 0, () => calls++)).rejects.toThrow(/at least 1/);
    await expect(forEachInSlices([1], Number.NaN, () => calls++)).rejects.toThrow(/whole number/);
    expect(calls).toBe(0);
  });
});

describe('sortInSlices', () => {
  const byKey = (a: { key: number }, b: { key: number }) => a.key - b.key;

  it('sorts as a stable native sort does, across many slices and odd run counts', async () => {
    for (const [length, size] of [
      [0, 3],
      [1, 3],
      [7, 3],
      [100, 7],
      [1000, 16],
      [1000, 1],
      [5, 100],
    ] as const) {
      // Few distinct keys: many ties, so stability shows.
      const items = Array.from({ length }, (_, seq) => ({ key: (seq * 7919) % 13, seq }));
      const expected = [...items].sort(byKey);
      expect(await sortInSlices(items, byKey, size), `${length} items in slices of ${size}`).toEqual(expected);
    }
  });

  it('leaves its input as it was', async () => {
    const items = [3, 1, 2];
    expect(await sortInSlices(items, (a, b) => a - b, 1)).toEqual([1, 2, 3]);
    expect(items).toEqual([3, 1, 2]);
  });

  it('gives the event loop back while sorting and while merging', async () => {
    let turns = 0;
    let counting = true;
    const count = () => {
      turns++;
      if (counting) setImmediate(count);
    };
    setImmediate(count);
    const items = Array.from({ length: 64 }, (_, i) => 64 - i);
    await sortInSlices(items, (a, b) => a - b, 4);
    counting = false;
    // 16 runs to sort (15 turns between them), then 4 rounds of merging 64 items (16 turns each).
    expect(turns).toBeGreaterThan(30);
  });

  it('refuses a bad slice size', async () => {
    await expect(sortInSlices([2, 1], (a, b) => a - b, 0)).rejects.toThrow(/at least 1/);
  });
});
