import type { Bus, BusKv } from '../bus/bus.js';
import type { LeaseRole } from '../replicas/leases.js';
import { kvPut } from '../replicas/kv-put.js';

/**
 * Who may page, and who was already paged, when several replicas evaluate the same alerts.
 * Every replica evaluates every rule (each sees the whole fleet), but only the holder of the
 * `alerts` lease sends; the receivers it told of a firing alert are written to a shared ledger,
 * so a replica that takes the lease over does not page again for an alert the old holder already
 * sent, and does send the resolved message to those the old holder told.
 */
export interface AlertLeadership {
  /** Whether this replica sends notifications now. */
  holds(): boolean;
  /** Receivers told the alert (by its stable id) fires, by whichever replica sent it. */
  toldOf(alertId: string): readonly string[];
  /** The holder told these receivers the alert fires. */
  told(alertId: string, receivers: readonly string[]): void;
  /** The holder sent the resolved message: nobody is owed one any more. */
  resolved(alertId: string): void;
}

/** One replica alone: it always sends, and its own instances remember whom they told. */
export const SOLE_ALERT_SENDER: AlertLeadership = { holds: () => true, toldOf: () => [], told: () => {}, resolved: () => {} };

export const ALERT_NOTICES_BUCKET = 'alert-notices';

/** The ledger on the bus' KV, mirrored in memory by a watch (notify() is synchronous). */
export class NoticeLedger implements AlertLeadership {
  private kv: BusKv | null = null;
  private readonly toldBy = new Map<string, string[]>();
  private stopWatch: (() => Promise<void>) | null = null;

  constructor(private readonly o: { bus: Bus; lease: LeaseRole; log: { warn(obj: object, msg: string): void } }) {}

  async start(): Promise<void> {
    const kv = await this.o.bus.kv(ALERT_NOTICES_BUCKET);
    this.kv = kv;
    this.stopWatch = await kv.watch((change) => {
      const receivers = change.value === null ? null : parseReceivers(change.value);
      if (receivers === null) this.toldBy.delete(change.key);
      else this.toldBy.set(change.key, receivers);
    });
    for (const key of await kv.keys()) {
      const entry = await kv.get(key);
      const receivers = entry ? parseReceivers(entry.value) : null;
      if (receivers !== null && !this.toldBy.has(key)) this.toldBy.set(key, receivers);
    }
  }

  holds(): boolean {
    return this.o.lease.holds();
  }

  toldOf(alertId: string): readonly string[] {
    return this.toldBy.get(alertId) ?? [];
  }

  told(alertId: string, receivers: readonly string[]): void {
    const all = [...new Set([...this.toldOf(alertId), ...receivers])];
    this.toldBy.set(alertId, all);
    const kv = this.kv;
    this.write(alertId, () => (kv ? kvPut(kv, alertId, { receivers: all }) : undefined));
  }

  resolved(alertId: string): void {
    if (!this.toldBy.delete(alertId)) return;
    const kv = this.kv;
    this.write(alertId, () => kv?.delete(alertId));
  }

  private write(alertId: string, op: () => Promise<unknown> | undefined): void {
    void Promise.resolve()
      .then(op)
      .catch((err: Error) => this.o.log.warn({ alertId, err: err.message }, 'could not record an alert notice for the other replicas'));
  }

  async stop(): Promise<void> {
    await this.stopWatch?.();
    this.stopWatch = null;
    this.kv = null;
  }
}

function parseReceivers(value: Uint8Array): string[] | null {
  try {
    const o = JSON.parse(Buffer.from(value).toString('utf8')) as { receivers?: unknown };
    return Array.isArray(o.receivers) && o.receivers.every((r) => typeof r === 'string') ? (o.receivers as string[]) : null;
  } catch {
    return null;
  }
}
