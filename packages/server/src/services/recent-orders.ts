/** An order that took long to make is kept this many times as long as it took. */
const KEEP_PER_BUILD = 5;

/**
 * A few recent sorted lists by query (the GPU list's: one per app, not per module), each kept from
 * when it was ready for `ttlMs` or five times as long as it took to make, whichever is longer: at
 * 100,000 nodes an order takes seconds, and one kept 2 s from when it was asked for had expired
 * before it was ready, so every page made it again.
 */
export class RecentOrders<T> {
  private readonly entries = new Map<string, { at: number; ttlMs: number; rows: T[] }>();
  /** Orders being made: a second ask for the same query waits for the first instead of making it again. */
  private readonly making = new Map<string, Promise<T[]>>();
  constructor(
    private readonly ttlMs: number,
    private readonly max: number,
  ) {}

  /** The kept order of `key`, or the one `make` makes (which may give the event loop back while it works). */
  get(key: string, clock: { now(): number }, make: () => T[] | Promise<T[]>): Promise<T[]> {
    const now = clock.now();
    const hit = this.entries.get(key);
    if (hit && now >= hit.at && now - hit.at < hit.ttlMs) return Promise.resolve(hit.rows);
    const pending = this.making.get(key);
    if (pending) return pending;
    const making = this.make(key, clock, make).finally(() => this.making.delete(key));
    this.making.set(key, making);
    return making;
  }

  private async make(key: string, clock: { now(): number }, make: () => T[] | Promise<T[]>): Promise<T[]> {
    const started = performance.now();
    const rows = await make();
    const tookMs = performance.now() - started;
    this.entries.delete(key);
    this.entries.set(key, { at: clock.now(), ttlMs: Math.max(this.ttlMs, KEEP_PER_BUILD * tookMs), rows });
    // A Map iterates oldest first: drop from the front.
    while (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
    return rows;
  }
}
