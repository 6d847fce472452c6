import type { AllocOutputInput, WorkloadStore } from '../store/workload-records.js';

export interface AllocOutputWriterOptions {
  store: Pick<WorkloadStore, 'appendAllocOutput' | 'trimAllocOutput'>;
  /** Output kept per allocation (bytes of data); older chunks are trimmed past it. Default 1 MiB. */
  keepBytes?: number;
  /** How long chunks gather before one write. Default 20 ms. */
  delayMs?: number;
  /** Told once a batch is stored, with the allocations it touched (live followers read on). */
  onStored(allocIds: ReadonlySet<string>): void;
  log: { warn(obj: object, msg: string): void };
}

interface Pending {
  chunk: AllocOutputInput;
  done: (err: Error | null) => void;
}

/**
 * Stores allocation output (alloc_output, never agent_events), batched: many hosts' chunks share
 * one transaction, and each caller's promise resolves once its chunk is stored (the gateway acks
 * the outbox item only then). Each allocation keeps its newest `keepBytes`: once what was written
 * since the last trim passes half of that, the oldest chunks are trimmed, so a chatty workload
 * holds at most 1.5x `keepBytes` of disk between trims.
 */
export class AllocOutputWriter {
  private queue: Pending[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();
  private readonly written = new Map<string, number>();
  private readonly keepBytes: number;

  constructor(private readonly o: AllocOutputWriterOptions) {
    this.keepBytes = o.keepBytes ?? 1024 * 1024;
  }

  write(chunk: AllocOutputInput): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ chunk, done: (err) => (err ? reject(err) : resolve()) });
      if (this.timer) return;
      this.timer = setTimeout(() => {
        this.timer = null;
        this.flushing = this.flushing.then(() => this.flushNow());
      }, this.o.delayMs ?? 20);
      this.timer.unref?.();
    });
  }

  /** Writes what is queued and resolves once it is stored (or failed). */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.flushing = this.flushing.then(() => this.flushNow());
    await this.flushing;
  }

  /** Forgets an allocation's count (its output was purged). */
  forget(allocId: string): void {
    this.written.delete(allocId);
  }

  private async flushNow(): Promise<void> {
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    try {
      await this.o.store.appendAllocOutput(batch.map((p) => p.chunk));
    } catch (err) {
      for (const p of batch) p.done(err as Error);
      return;
    }
    const touched = new Set<string>();
    for (const p of batch) {
      touched.add(p.chunk.allocId);
      this.written.set(p.chunk.allocId, (this.written.get(p.chunk.allocId) ?? 0) + p.chunk.data.length);
    }
    for (const id of touched) {
      if ((this.written.get(id) ?? 0) <= this.keepBytes / 2) continue;
      try {
        await this.o.store.trimAllocOutput(id, this.keepBytes);
        this.written.set(id, 0);
      } catch (err) {
        this.o.log.warn({ allocId: id, err: (err as Error).message }, 'could not trim allocation output');
      }
    }
    for (const p of batch) p.done(null);
    this.o.onStored(touched);
  }
}
