import type { RunningWorkload, WorkloadExit } from '@gpufleet/agent';

export type OutputSink = (stream: 'stdout' | 'stderr', data: string) => void;

/**
 * One simulated instance of an allocation's workload: no process and no timer of its own
 * (unless it is told to exit by itself), just a promise that settles when it "exits". Cheap
 * enough for tens of thousands in one process. It exits on stop() (as on SIGTERM), on crash()
 * (the fault injector), or after `exitAfterMs` with `exitCode` (a batch job's work done).
 */
export class FakeWorkload implements RunningWorkload {
  readonly checkAddress = null;
  readonly exited: Promise<WorkloadExit>;
  private settle!: (exit: WorkloadExit) => void;
  private exit: WorkloadExit | null = null;
  private exitTimer: NodeJS.Timeout | null = null;

  constructor(
    private sink: OutputSink,
    private readonly healthy: () => boolean,
    exitAfter: { ms: number; code: number } | null,
  ) {
    this.exited = new Promise((resolve) => (this.settle = resolve));
    if (exitAfter) {
      this.exitTimer = setTimeout(() => {
        this.exitTimer = null;
        this.write(exitAfter.code === 0 ? 'stdout' : 'stderr', `sim: work done, exiting with code ${exitAfter.code}\n`);
        this.end({ exitCode: exitAfter.code, signal: null });
      }, exitAfter.ms);
      // A fleet that is stopping never waits on a simulated workload.
      this.exitTimer.unref();
    }
  }

  /** Whether it has not exited yet. */
  get running(): boolean {
    return this.exit === null;
  }

  /** Where its output goes from now on (an agent that restarted adopts it with a new sink). */
  attach(sink: OutputSink): void {
    this.sink = sink;
  }

  /** The agent stops and leaves it running for the next one (a container): its output goes nowhere until adopted. */
  detach(): void {
    this.sink = () => undefined;
  }

  /** Writes a line of output while it runs. */
  write(stream: 'stdout' | 'stderr', data: string): void {
    if (this.exit === null) this.sink(stream, data);
  }

  /** Exits at once on SIGTERM, as a well-behaved server does; the grace period is never needed. */
  stop(_graceMs: number): Promise<WorkloadExit> {
    if (this.exit === null) {
      this.write('stdout', 'sim: SIGTERM received, shutting down\n');
      this.end({ exitCode: null, signal: 'SIGTERM' });
    }
    return this.exited;
  }

  /** Exits by itself with this code, as a crashed process does. False when it had exited already. */
  crash(exitCode: number): boolean {
    if (this.exit !== null) return false;
    this.write('stderr', `sim: crashed with exit code ${exitCode}\n`);
    this.end({ exitCode, signal: null });
    return true;
  }

  /** Dies with its machine: no output, no exit code (SIGKILL). */
  kill(): void {
    this.end({ exitCode: null, signal: 'SIGKILL' });
  }

  async execCheck(_argv: readonly string[], _timeoutMs: number): Promise<{ exitCode: number | null }> {
    return { exitCode: this.exit === null && this.healthy() ? 0 : 1 };
  }

  async simulatedHealth(): Promise<boolean> {
    return this.exit === null && this.healthy();
  }

  private end(exit: WorkloadExit): void {
    if (this.exit !== null) return;
    this.exit = exit;
    if (this.exitTimer) clearTimeout(this.exitTimer);
    this.exitTimer = null;
    this.settle(exit);
  }
}
