import type { AlertState } from '@gpufleet/protocol';

/** One state change of an alert instance, epoch ms. `inactive`: no instance (before or after). */
export interface HistoryEntry {
  at: number;
  alertId: string;
  rule: string;
  severity: string;
  nodeId: string;
  hostname: string;
  gpu: string | null;
  from: AlertState | 'inactive';
  to: AlertState | 'inactive';
  value: number | null;
}

export interface HistoryQuery {
  rule?: string;
  nodeId?: string;
  since?: number;
  /** Default 100. */
  limit?: number;
}

/**
 * The last N alert transitions, in memory only (default 10,000): a fixed ring that overwrites
 * the oldest. Durable history belongs to the receivers (Alertmanager, chat) and to Prometheus'
 * ALERTS series; this is for "what just happened" in the API and CLI, and is lost on restart.
 */
export class AlertHistory {
  private readonly ring: Array<HistoryEntry | undefined>;
  private next = 0;
  private count = 0;

  constructor(readonly capacity = 10_000) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`AlertHistory: capacity must be a positive whole number, got ${capacity}`);
    this.ring = new Array(capacity);
  }

  push(entry: HistoryEntry): void {
    this.ring[this.next] = entry;
    this.next = (this.next + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
  }

  get size(): number {
    return this.count;
  }

  /** Newest first. */
  list(q: HistoryQuery = {}): HistoryEntry[] {
    const limit = q.limit ?? 100;
    const out: HistoryEntry[] = [];
    for (let i = 1; i <= this.count && out.length < limit; i++) {
      const e = this.ring[(this.next - i + this.capacity) % this.capacity]!;
      if (q.since !== undefined && e.at < q.since) break; // entries are in time order
      if (q.rule !== undefined && e.rule !== q.rule) continue;
      if (q.nodeId !== undefined && e.nodeId !== q.nodeId) continue;
      out.push(e);
    }
    return out;
  }
}
