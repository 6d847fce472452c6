import type { EventFacts } from './event-match.js';

/** Agent event kinds counted for gpufleet_health_events_total. */
const COUNTED = new Set(['xid', 'sxid', 'fallen-off-bus', 'driver', 'counter', 'gpu-missing', 'tool-failure']);

/** One counter series: kind, code (XID/SXid number, counter name, or '') and the count. */
export interface EventCount {
  kind: string;
  code: string;
  count: number;
}

/** Counts health-relevant agent events by kind and code since the server started. */
export class EventCounter {
  private readonly series = new Map<string, EventCount>();

  count(f: EventFacts): void {
    const kind = f.record.kind;
    if (!COUNTED.has(kind)) return;
    const code = f.code !== null ? String(f.code) : (f.counter ?? '');
    const key = `${kind}\u0000${code}`;
    const s = this.series.get(key);
    if (s) s.count++;
    else this.series.set(key, { kind, code, count: 1 });
  }

  /** Every series, ordered by kind then code. */
  entries(): EventCount[] {
    return [...this.series.values()].sort((a, b) => a.kind.localeCompare(b.kind) || a.code.localeCompare(b.code, undefined, { numeric: true }));
  }
}
