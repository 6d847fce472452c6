/**
 * A fixed-capacity, append-only ring of timestamps. Value columns live outside it in
 * Float32Array blocks indexed by the physical slot `append` returns, so one timeline serves
 * every series of a node and a sample costs one Float64 plus one Float32 per value: no objects.
 */
export class RingBuffer {
  /** Physical storage; read through `slot(i)`, never by raw index. */
  readonly times: Float64Array;
  readonly capacity: number;
  /** Physical slot the next append writes. */
  private head = 0;
  private count = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`ring capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
    this.times = new Float64Array(capacity);
  }

  /** Points held (at most capacity). */
  get size(): number {
    return this.count;
  }

  /** The newest timestamp, or -Infinity when empty. */
  get newestTime(): number {
    return this.count === 0 ? -Infinity : this.times[(this.head - 1 + this.capacity) % this.capacity]!;
  }

  /** The oldest timestamp, or Infinity when empty. */
  get oldestTime(): number {
    return this.count === 0 ? Infinity : this.times[this.slot(0)]!;
  }

  /**
   * Appends a timestamp, overwriting the oldest point when full, and returns the physical slot
   * that the caller fills in its value columns. Callers keep times ascending (see MetricStore).
   */
  append(time: number): number {
    const slot = this.head;
    this.times[slot] = time;
    this.head = slot + 1 === this.capacity ? 0 : slot + 1;
    if (this.count < this.capacity) this.count++;
    return slot;
  }

  /** Physical slot of the i-th oldest point (0 <= i < size). */
  slot(i: number): number {
    const s = this.head - this.count + i;
    return s < 0 ? s + this.capacity : s >= this.capacity ? s - this.capacity : s;
  }

  /** Logical index of the first point at or after `time` (size when none): a binary search. */
  lowerBound(time: number): number {
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.times[this.slot(mid)]! < time) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Forgets points older than `time`; returns how many were dropped. */
  dropBefore(time: number): number {
    const dropped = this.lowerBound(time);
    // The oldest points sit just behind head; shrinking count is all it takes to forget them.
    this.count -= dropped;
    return dropped;
  }

  clear(): void {
    this.head = 0;
    this.count = 0;
  }
}

/** A value block for `columns` series over a ring of `capacity`, every point unset (NaN). */
export function valueBlock(columns: number, capacity: number): Float32Array {
  return new Float32Array(columns * capacity).fill(Number.NaN);
}
