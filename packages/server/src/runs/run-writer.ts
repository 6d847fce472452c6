import type { RunOutputInput, RunRecord, RunTargetRecord, Store } from '../store/store.js';

export interface RunWriterOptions {
  store: Pick<Store, 'saveRunProgress'>;
  /**
   * How long changes gather before one transaction writes them (default 100 ms): a host's sent,
   * running and final states then mostly land in one row write instead of three.
   */
  delayMs?: number;
  log: { warn(obj: object, msg: string): void };
}

/**
 * Gathers run changes and writes them in one transaction per tick (like gateway/event-writer.ts):
 * 10,000 hosts answering at once mean a handful of commits, not 30,000. Runs and targets are held
 * by reference and written as they are at flush time, so a target that changed three times in a
 * tick is written once. A failed write is kept and tried again on the next tick.
 */
export class RunWriter {
  private runs = new Map<string, RunRecord>();
  private targets = new Map<string, RunTargetRecord>();
  private output: RunOutputInput[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();
  private failures = 0;
  /** Callers of settled() waiting for the next successful write. */
  private waiters: Array<() => void> = [];
  /** Whether the pending timer is settled()'s short one (then a new caller does not push it back). */
  private soon = false;

  constructor(private readonly o: RunWriterOptions) {}

  run(run: RunRecord): void {
    this.runs.set(run.id, run);
    this.schedule();
  }

  target(t: RunTargetRecord): void {
    this.targets.set(`${t.runId}\u0000${t.nodeId}`, t);
    this.schedule();
  }

  chunk(c: RunOutputInput): void {
    this.output.push(c);
    this.schedule();
  }

  get pending(): number {
    return this.runs.size + this.targets.size + this.output.length;
  }

  private schedule(): void {
    if (this.timer) return;
    // Back off while the store keeps failing, so a dead database is not hammered every 20 ms.
    const delay = (this.o.delayMs ?? 100) * Math.min(2 ** this.failures, 250);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flushing = this.flushing.then(() => this.write());
    }, delay);
    this.timer.unref?.();
  }

  /**
   * Resolves once everything taken so far is stored, within a short delay (20 ms) so that many
   * hosts' chunks still share one transaction; a failing store keeps it waiting (the caller's
   * outbox item then stays unacknowledged and the host sends it again).
   */
  settled(): Promise<void> {
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      // A steady stream of callers must not keep postponing the write; a failing store keeps its backoff.
      if (this.timer && (this.soon || this.failures > 0)) return;
      if (this.timer) clearTimeout(this.timer);
      this.soon = true;
      this.timer = setTimeout(
        () => {
          this.timer = null;
          this.soon = false;
          this.flushing = this.flushing.then(() => this.write());
        },
        Math.min(20, this.o.delayMs ?? 100),
      );
      this.timer.unref?.();
    });
  }

  private async write(): Promise<void> {
    const waiters = this.waiters;
    this.waiters = [];
    if (this.pending === 0) {
      for (const w of waiters) w();
      return;
    }
    // Copies: the live records keep changing while the transaction runs.
    const runs = [...this.runs.values()].map((r) => ({ ...r }));
    const targets = [...this.targets.values()].map((t) => ({ ...t }));
    const output = this.output;
    this.runs = new Map();
    this.targets = new Map();
    this.output = [];
    try {
      await this.o.store.saveRunProgress({ runs, targets, output });
      this.failures = 0;
      for (const w of waiters) w();
    } catch (err) {
      this.failures++;
      this.o.log.warn(
        { err: (err as Error).message, runs: runs.length, targets: targets.length, chunks: output.length },
        'could not store run progress; trying again',
      );
      // Newer changes win over the failed copies; chunks go back in front, in order.
      for (const r of runs) if (!this.runs.has(r.id)) this.runs.set(r.id, r);
      for (const t of targets) if (!this.targets.has(`${t.runId}\u0000${t.nodeId}`)) this.targets.set(`${t.runId}\u0000${t.nodeId}`, t);
      this.output = [...output, ...this.output];
      this.waiters = [...waiters, ...this.waiters];
      this.schedule();
    }
  }

  /** Writes everything gathered so far and resolves once it is stored (or the attempt failed). */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
      this.soon = false;
    }
    this.flushing = this.flushing.then(() => this.write());
    await this.flushing;
  }

  async close(): Promise<void> {
    await this.flush();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
