/** Default ring size: one hour of samples at the default 10 s interval. */
export const DEFAULT_METRICS_RING_CAPACITY = 360;

/**
 * Metrics kept while the link is down. Bounded: when full, the oldest sample is dropped first,
 * since after a long outage the newest readings matter most (long-term history is Prometheus's job).
 */
export class MetricsRing<T> {
  // Grows up to capacity as samples arrive: 10,000 simulated agents mostly hold empty rings.
  private buf: T[] = [];
  private start = 0;
  /** Samples dropped because the ring was full, since creation. */
  dropped = 0;

  constructor(readonly capacity: number = DEFAULT_METRICS_RING_CAPACITY) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`metrics ring capacity must be a positive integer, got ${capacity}`);
  }

  get size(): number {
    return this.buf.length;
  }

  /** Adds a sample; returns the one dropped to make room, if any. */
  push(item: T): T | undefined {
    if (this.buf.length < this.capacity) {
      this.buf.push(item);
      return undefined;
    }
    const old = this.buf[this.start]!;
    this.buf[this.start] = item;
    this.start = (this.start + 1) % this.capacity;
    this.dropped++;
    return old;
  }

  /** Removes and returns every sample, oldest first. */
  drain(): T[] {
    const out = this.start === 0 ? this.buf : [...this.buf.slice(this.start), ...this.buf.slice(0, this.start)];
    this.buf = [];
    this.start = 0;
    return out;
  }
}
