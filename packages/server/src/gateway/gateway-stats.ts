/** Counters the gateway keeps for /metrics and the benchmark. */
export class GatewayStats {
  sessions = 0;
  framesByType = new Map<string, number>();
  refusedByReason = new Map<string, number>();
  /** Ingest lag of metrics frames (server receive time minus the sample's timestamp), seconds. */
  readonly lagBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
  lagCounts = new Array<number>(this.lagBuckets.length + 1).fill(0);
  lagSum = 0;
  lagCount = 0;
  /** Recent lags for percentiles in the benchmark (bounded). */
  private readonly recent = new Float64Array(65_536);
  private recentN = 0;

  frame(type: string): void {
    this.framesByType.set(type, (this.framesByType.get(type) ?? 0) + 1);
  }

  refused(reason: string): void {
    this.refusedByReason.set(reason, (this.refusedByReason.get(reason) ?? 0) + 1);
  }

  lag(seconds: number): void {
    const s = Math.max(0, seconds);
    let i = 0;
    while (i < this.lagBuckets.length && s > this.lagBuckets[i]!) i++;
    this.lagCounts[i]!++;
    this.lagSum += s;
    this.lagCount++;
    this.recent[this.recentN++ % this.recent.length] = s;
  }

  /** Percentile (0-100) of the most recent lags, in seconds. */
  lagPercentile(p: number): number {
    const n = Math.min(this.recentN, this.recent.length);
    if (n === 0) return 0;
    const sorted = Array.from(this.recent.subarray(0, n)).sort((a, b) => a - b);
    return sorted[Math.min(n - 1, Math.floor((p / 100) * n))]!;
  }

  resetLag(): void {
    this.recentN = 0;
  }

  totalFrames(): number {
    let t = 0;
    for (const v of this.framesByType.values()) t += v;
    return t;
  }
}
