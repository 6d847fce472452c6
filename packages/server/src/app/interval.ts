/**
 * A timer as a service: `start()` runs `work` every `everyMs`, `stop()` clears it and, where
 * given, runs `last` once (a final flush). A failing run is logged, never thrown into the loop.
 */
export class Interval {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> = Promise.resolve();

  constructor(
    private readonly o: {
      name: string;
      everyMs: number;
      work: () => void | Promise<unknown>;
      /** Run once on stop, after the last tick finished. */
      last?: () => void | Promise<unknown>;
      log: { warn(obj: object, msg: string): void };
    },
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      this.running = this.running
        .then(() => this.o.work())
        .then(
          () => undefined,
          (err: Error) => this.o.log.warn({ err: err.message, timer: this.o.name }, `${this.o.name} failed`),
        );
    }, this.o.everyMs);
    this.timer.unref?.();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
    await this.o.last?.();
  }
}
