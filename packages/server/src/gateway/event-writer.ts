import type { AgentEventRecord, Store } from '../store/store.js';

interface Pending {
  record: AgentEventRecord;
  done: (err: Error | null) => void;
}

/**
 * Collects outbox items from every session and writes them in one transaction per tick,
 * so 10,000 agents do not mean 10,000 single-row commits. Callers ack only after `done`.
 */
export class EventWriter {
  private queue: Pending[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: Store,
    private readonly maxDelayMs = 20,
    private readonly maxBatch = 1000,
  ) {}

  write(record: AgentEventRecord): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ record, done: (err) => (err ? reject(err) : resolve()) });
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
