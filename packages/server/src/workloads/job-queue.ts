/**
 * Work on one job runs one piece at a time (evaluations, host reports, submissions, stops), so
 * no two of them decide on the same allocations at once; different jobs run side by side.
 * `kick` asks for an evaluation soon and coalesces: however many reports arrive while one is
 * waiting, it runs once.
 */
export class JobQueue {
  private readonly tails = new Map<string, Promise<unknown>>();
  private readonly kicked = new Map<string, NodeJS.Timeout>();
  private closed = false;

  constructor(private readonly onError: (job: string, err: Error) => void) {}

  /** Runs `work` after everything queued for the job before it. */
  run<T>(job: string, work: () => Promise<T>): Promise<T> {
    const tail = this.tails.get(job) ?? Promise.resolve();
    const next = tail.then(work, work);
    const settled = next.catch(() => undefined);
    this.tails.set(job, settled);
    void settled.then(() => {
      if (this.tails.get(job) === settled) this.tails.delete(job);
    });
    return next;
  }

  /** Queues `work` for the job after `delayMs`, unless a kick of the job is waiting already. */
  kick(job: string, work: () => Promise<unknown>, delayMs = 10): void {
    if (this.closed || this.kicked.has(job)) return;
    const timer = setTimeout(() => {
      this.kicked.delete(job);
      this.run(job, work).catch((err: Error) => this.onError(job, err));
    }, delayMs);
    timer.unref?.();
    this.kicked.set(job, timer);
  }

  /** Stops taking kicks and waits for what is running. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.kicked.values()) clearTimeout(t);
    this.kicked.clear();
    await Promise.all([...this.tails.values()]);
  }
}
