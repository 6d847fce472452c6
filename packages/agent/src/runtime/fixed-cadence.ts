/**
 * Runs a pass on a fixed cadence: each pass is due one interval after the previous one was due,
 * not after it ended, so sampling does not drift; a pass that overruns makes the next one skip
 * to the next interval from now instead of piling up.
 */
export class FixedCadence {
  private timer: NodeJS.Timeout | null = null;
  private nextAt = 0;
  private running = false;

  constructor(private readonly pass: () => Promise<void>) {}

  /** (Re)starts the cadence: the first pass one interval from now. */
  start(intervalMs: number): void {
    this.running = true;
    this.arm(intervalMs, true);
  }

  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(intervalMs: number, reset: boolean): void {
    if (this.timer) clearTimeout(this.timer);
    const now = performance.now();
    this.nextAt = reset ? now + intervalMs : this.nextAt + intervalMs;
    if (this.nextAt < now) this.nextAt = now + intervalMs;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.pass().finally(() => {
        if (this.running && this.timer === null) this.arm(intervalMs, false);
      });
    }, this.nextAt - now);
  }
}
