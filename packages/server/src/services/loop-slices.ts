import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * Nodes per slice of a whole-fleet pass made for one request (heatmap, GPU order, summary). At
 * 100,000 nodes such a pass takes seconds in one piece on a small machine, and every heartbeat,
 * lease renewal and other request waits behind it (a replica missed its lease deadlines:
 * docs/benchmarks.md, replica-fleet); 2,000 nodes are a few tens of milliseconds.
 */
export const FLEET_SLICE = 2000;

/** Calls `fn` for every item, giving the event loop back between slices of `size` items. */
export async function forEachInSlices<T>(items: readonly T[], size: number, fn: (item: T, index: number) => void): Promise<void> {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`slice size must be a whole number of at least 1, not ${size}`);
  for (let start = 0; start < items.length; start += size) {
    if (start > 0) await nextTurn();
    const end = Math.min(items.length, start + size);
    for (let i = start; i < end; i++) fn(items[i]!, i);
  }
}

/** Items sorted (or merged) per slice by sortInSlices: a native sort of 20,000 is ~10-20 ms. */
export const SORT_SLICE = 20_000;

/**
 * A stable sort that gives the event loop back while it works: runs of `size` items are sorted
 * natively, then merged in pairs, yielding every `size` items merged. The same comparisons as one
 * native sort, give or take, but 800,000 GPUs sorted in one piece held the loop for seconds.
 */
export async function sortInSlices<T>(items: readonly T[], compare: (a: T, b: T) => number, size = SORT_SLICE): Promise<T[]> {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`slice size must be a whole number of at least 1, not ${size}`);
  let runs: T[][] = [];
  for (let start = 0; start < items.length; start += size) {
    if (start > 0) await nextTurn();
    runs.push(items.slice(start, start + size).sort(compare));
  }
  if (runs.length === 0) return [];
  let sinceYield = 0;
  while (runs.length > 1) {
    const merged: T[][] = [];
    for (let r = 0; r < runs.length; r += 2) {
      const left = runs[r]!;
      const right = runs[r + 1];
      if (!right) {
        merged.push(left);
        continue;
      }
      const out: T[] = new Array(left.length + right.length);
      let i = 0;
      let j = 0;
      let k = 0;
      while (i < left.length && j < right.length) {
        // Ties take the left (earlier) item: the sort stays stable.
        out[k++] = compare(right[j]!, left[i]!) < 0 ? right[j++]! : left[i++]!;
        if (++sinceYield >= size) {
          sinceYield = 0;
          await nextTurn();
        }
      }
      while (i < left.length) out[k++] = left[i++]!;
      while (j < right.length) out[k++] = right[j++]!;
      merged.push(out);
    }
    runs = merged;
  }
  return runs[0]!;
}
