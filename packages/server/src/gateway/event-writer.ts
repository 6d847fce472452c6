import type { AgentEventRecord, Store } from '../store/store.js';
import { DEFAULT_EVENT_LIMITS, EventBudget } from './event-limits.js';

interface Pending {
  record: AgentEventRecord;
  done: (err: Error | null) => void;
}

/** What a message keeps when its event is over the size limit. */
const CUT_MESSAGE_CHARS = 4096;
/** Data fields up to this size (as JSON) are kept when an event is cut down; larger ones are noted. */
const KEPT_FIELD_BYTES = 256;

/** The bytes an event costs in the store: its message and its data as JSON. */
export function storedEventBytes(record: Pick<AgentEventRecord, 'message' | 'data'>): number {
  return Buffer.byteLength(record.message) + Buffer.byteLength(JSON.stringify(record.data ?? {}));
}

/**
 * The event as it may be stored: unchanged when it fits `maxBytes`, else with its message cut and
 * its large data fields replaced by `truncated: { bytes, fields }`, so the item is still stored
 * (and acknowledged) and the outbox behind it moves on.
 */
export function fitEvent(record: AgentEventRecord, maxBytes: number): { record: AgentEventRecord; bytes: number; cut: boolean } {
  const bytes = storedEventBytes(record);
  if (bytes <= maxBytes) return { record, bytes, cut: false };
  const kept: Record<string, unknown> = {};
  const dropped: string[] = [];
  for (const [key, value] of Object.entries(record.data ?? {})) {
    if (Buffer.byteLength(JSON.stringify(value) ?? '') <= KEPT_FIELD_BYTES) kept[key] = value;
    else dropped.push(key);
  }
  const message = record.message.length > CUT_MESSAGE_CHARS ? `${record.message.slice(0, CUT_MESSAGE_CHARS)}…` : record.message;
  let data: Record<string, unknown> = { ...kept, truncated: { bytes, fields: dropped } };
  if (storedEventBytes({ message, data }) > maxBytes) data = { truncated: { bytes, fields: Object.keys(record.data ?? {}) } };
  const fitted = { ...record, message, data };
  return { record: fitted, bytes: storedEventBytes(fitted), cut: true };
}

/**
 * Collects outbox items from every session and writes them in one transaction per tick,
 * so 10,000 agents do not mean 10,000 single-row commits. Callers ack only after `write`
 * resolves. Each node's events pass its budget first (event-limits.ts): a node over its rate
 * waits, so the store's growth per node is bounded and nothing the agent sent is lost.
 */
export class EventWriter {
  private queue: Pending[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();
  /** Events stored cut down because they were over `maxEventBytes`. */
  cut = 0;

  constructor(
    private readonly store: Store,
    private readonly maxDelayMs = 20,
    private readonly maxBatch = 1000,
    /** Per-node rate and size limits; the composition root passes one built on its clock. */
    readonly budget: EventBudget = new EventBudget(DEFAULT_EVENT_LIMITS, Date.now),
  ) {}

  /** Stores one event (batched); rejects with `rate_limited` when its node is far over its budget. */
  async write(record: AgentEventRecord): Promise<void> {
    const fitted = fitEvent(record, this.budget.limits.maxEventBytes);
    if (fitted.cut) this.cut++;
    await this.budget.admit(record.nodeId, fitted.bytes);
    return new Promise((resolve, reject) => {
      this.queue.push({ record: fitted.record, done: (err) => (err ? reject(err) : resolve()) });
      if (this.queue.length >= this.maxBatch) this.flushSoon(0);
      else this.flushSoon(this.maxDelayMs);
    });
  }

  private flushSoon(delay: number): void {
    if (this.timer && delay > 0) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flushing = this.flushing.then(() => this.flush());
    }, delay);
  }

  async flush(): Promise<void> {
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    try {
      await this.store.insertAgentEvents(batch.map((p) => p.record));
      for (const p of batch) p.done(null);
    } catch (err) {
      for (const p of batch) p.done(err as Error);
    }
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.flushing;
    await this.flush();
  }
}
