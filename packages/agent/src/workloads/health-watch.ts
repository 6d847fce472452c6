import type { HealthCheckSpec } from '@gpufleet/protocol';
import type { RunningWorkload } from './executor.js';
import { runHealthCheck, type ProbeResult } from './health-probe.js';

export interface HealthWatchOptions {
  spec: HealthCheckSpec;
  workload: RunningWorkload;
  /** Epoch ms (the agent's clock): the grace period is measured on it. */
  now: () => number;
  /** The verdict changed: true after a passing check, false once `failures` checks in a row failed. */
  onChange: (healthy: boolean, detail: string) => void;
  /** `failures` consecutive failures after the grace period: the watch stops; the caller restarts. */
  onUnhealthy: (detail: string) => void;
  /** Runs one check; default runHealthCheck. */
  check?: (spec: HealthCheckSpec, workload: RunningWorkload) => Promise<ProbeResult>;
}

/**
 * Checks one running instance every `interval` (each check limited to `timeout`). A pass makes
 * it healthy; failures count only once `grace` has passed since the watch started (a model
 * loading its weights), and `failures` of them in a row make it unhealthy, which ends the watch.
 * Checks never overlap: the next one waits for the previous one.
 */
export class HealthWatch {
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private consecutive = 0;
  private healthy: boolean | null = null;
  private readonly startedAt: number;

  constructor(private readonly o: HealthWatchOptions) {
    this.startedAt = o.now();
  }

  start(): void {
    this.schedule(this.o.spec.interval);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.checkOnce();
    }, delayMs);
  }

  private async checkOnce(): Promise<void> {
    const began = performance.now();
    const result = await (this.o.check ?? runHealthCheck)(this.o.spec, this.o.workload);
    if (this.stopped) return;
    if (result.ok) {
      this.consecutive = 0;
      if (this.healthy !== true) {
        this.healthy = true;
        this.o.onChange(true, result.detail);
      }
    } else if (this.o.now() - this.startedAt >= this.o.spec.grace) {
      this.consecutive++;
      if (this.consecutive >= this.o.spec.failures) {
        this.stop();
        const detail = `${this.consecutive} health check${this.consecutive === 1 ? '' : 's'} failed in a row: ${result.detail}`;
        if (this.healthy !== false) {
          this.healthy = false;
          this.o.onChange(false, detail);
        }
        this.o.onUnhealthy(detail);
        return;
      }
    }
    this.schedule(Math.max(0, this.o.spec.interval - (performance.now() - began)));
  }
}
