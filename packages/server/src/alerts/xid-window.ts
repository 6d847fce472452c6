/**
 * Recent matching kernel events of one (rule, node, GPU): their times and codes, oldest first,
 * at most `cap` of them. Only the newest events matter to "N within the window", so the cap
 * bounds memory whatever an XID storm sends.
 */
export class XidWindow {
  private readonly times: number[] = [];
  private readonly codes: number[] = [];

  constructor(private readonly cap: number) {}

  add(ts: number, code: number): void {
    // Replayed outbox items can arrive out of order: keep the list sorted by time.
    let i = this.times.length;
    while (i > 0 && this.times[i - 1]! > ts) i--;
    this.times.splice(i, 0, ts);
    this.codes.splice(i, 0, code);
    if (this.times.length > this.cap) {
      this.times.shift();
      this.codes.shift();
    }
  }

  /** Drops events at or before `cutoff`; returns how many remain. */
  prune(cutoff: number): number {
    let drop = 0;
    while (drop < this.times.length && this.times[drop]! <= cutoff) drop++;
    if (drop > 0) {
      this.times.splice(0, drop);
      this.codes.splice(0, drop);
    }
    return this.times.length;
  }

  get size(): number {
    return this.times.length;
  }

  /** Distinct codes, in order of first appearance. */
  distinctCodes(): number[] {
    return [...new Set(this.codes)];
  }

  lastCode(): number | null {
    return this.codes.length ? this.codes[this.codes.length - 1]! : null;
  }
}

/**
 * The code of a kernel event from the agent (`data.code`, a number or digits); "GPU has
 * fallen off the bus" without an Xid prefix counts as Xid 79. null when there is none.
 */
export function kernelEventCode(kind: string, data: Record<string, unknown> | null | undefined): number | null {
  if (kind === 'fallen-off-bus') return 79;
  const raw = data?.code;
  if (typeof raw === 'number' && Number.isInteger(raw) && raw >= 0) return raw;
  return typeof raw === 'string' && /^\d{1,6}$/.test(raw) ? Number(raw) : null;
}
