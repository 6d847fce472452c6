import type { AllocOutputData, AllocStateData, GroupSpec, JobSpec, RefusalReason } from '@gpufleet/protocol';
import { errorText, type Logger } from '../runtime/logger.js';
import { AllocOutput, type OutputRateLimits } from './alloc-output.js';
import { executorStart } from './alloc-start.js';
import type { ExecutorStart, RunningWorkload, WorkloadExecutor, WorkloadExit } from './executor.js';
import { HealthWatch } from './health-watch.js';
import { describePolicy, formatMs, recentRestarts, restartAllowed, withRestart } from './restart-budget.js';
import { FINAL_STATES, type StoredAllocation, type StoredAllocState } from './stored-allocation.js';

export interface SupervisedAllocationDeps {
  executor: WorkloadExecutor;
  /** Epoch ms (the agent's clock). */
  now: () => number;
  logger: Logger;
  /** Sends the allocation's state (an alloc-state event; critical). */
  report: (data: AllocStateData) => void;
  /** Sends a chunk of its output (an alloc-output event; not critical). */
  output: (data: AllocOutputData) => void;
  /** Stores every allocation's record (called after this one changed). */
  persist: () => void;
  outputLimits?: Partial<OutputRateLimits>;
}

type Phase = 'idle' | 'launching' | 'running' | 'waiting' | 'cycling' | 'stopping' | 'done' | 'detached';

function describeExit(exit: WorkloadExit): string {
  if (exit.signal) return `killed by ${exit.signal}`;
  if (exit.exitCode === null) return 'ended (exit status unknown)';
  return `exited with code ${exit.exitCode}`;
}

/**
 * One accepted allocation on this host and its supervision, which needs no server: start it,
 * watch it exit, restart it under its restart policy (any exit of a service; a non-zero exit of
 * a batch job, whose exit 0 completes it), check its health and restart it when it turns
 * unhealthy, stop it on an order. Every change of state is stored, then reported.
 *
 * Transitions run one at a time (a queue), so an exit, a failed health check and a stop order
 * that arrive together are handled in order; each started instance has a generation, and
 * events of an instance that was replaced are ignored.
 */
export class SupervisedAllocation {
  private readonly group: GroupSpec;
  private readonly kind: JobSpec['kind'];
  private readonly start: ExecutorStart;
  private readonly out: AllocOutput;
  private phase: Phase = 'idle';
  private generation = 0;
  private running: RunningWorkload | null = null;
  private health: HealthWatch | null = null;
  private restartTimer: NodeJS.Timeout | null = null;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    readonly record: StoredAllocation,
    private readonly d: SupervisedAllocationDeps,
  ) {
    const spec = record.placement.job.payload.job;
    this.group = spec.allocations[record.placement.group]!;
    this.kind = spec.kind;
    this.start = executorStart(record.placement, record.specHash, record.gpus);
    this.out = new AllocOutput({
      allocId: record.placement.allocId,
      emit: d.output,
      reserved: record.outputReserved,
      reserve: (stream, upTo) => {
        this.record.outputReserved[stream] = upTo;
        this.d.persist();
      },
      limits: d.outputLimits,
    });
  }

  get allocId(): string {
    return this.record.placement.allocId;
  }

  get specHash(): string {
    return this.record.specHash;
  }

  get state(): StoredAllocState {
    return this.record.state;
  }

  /** Nothing runs and nothing more happens here (failed, complete, stopped). */
  get isFinal(): boolean {
    return FINAL_STATES.has(this.record.state);
  }

  /** `job/web-0` for logs and messages. */
  get label(): string {
    return `${this.start.job}/${this.start.name}`;
  }

  /** Whether this allocation holds the GPU at `index` (every state but the final ones does). */
  holdsGpu(index: number): boolean {
    return !this.isFinal && this.record.placement.gpus.some((g) => g.index === index);
  }

  /** The state as reported; `message` replaces the stored message in this report only. */
  stateData(message?: string): AllocStateData {
    const r = this.record;
    const text = message ?? r.message;
    return {
      allocId: this.allocId,
      specHash: r.specHash,
      state: r.state,
      healthy: r.healthy,
      restarts: r.restarts,
      exitCode: r.exitCode,
      reason: r.reason,
      message: text.length > 4096 ? `${text.slice(0, 4095)}…` : text,
    };
  }

  /** Reports the current state again (a start or stop delivered again), with a note. */
  reportAgain(note: string): void {
    this.d.report(this.stateData(`${this.record.message} (${note})`));
  }

  /** A newly accepted allocation: reports 'starting' and starts it. */
  begin(): void {
    this.change({ state: 'starting', healthy: null, exitCode: null, message: `accepted; starting ${this.describeWhat()}` });
    void this.enqueue(() => this.launch(null));
  }

  /**
   * After an agent restart: takes over the instance that survived (a container), or starts it
   * again (a process workload does not outlive its agent; that counts as a restart, not against
   * the restart policy).
   */
  resume(): Promise<void> {
    return this.enqueue(async () => {
      if (this.isFinal) return;
      this.phase = 'launching';
      let adopted: RunningWorkload | null = null;
      try {
        adopted = await this.d.executor.adopt(this.allocId, (s, data) => this.out.write(s, data), { sinceMs: this.record.updatedAt });
      } catch (err) {
        this.d.logger.warn('could not look for a surviving instance of an allocation; starting it again', { allocId: this.allocId, err: errorText(err) });
      }
      if (adopted) {
        this.attach(++this.generation, adopted, 'running (taken over after the agent restarted)');
        return;
      }
      const wasUp = this.record.state === 'running';
      if (wasUp) this.record.restarts++;
      await this.launch(wasUp ? 'started again after the agent restarted (the instance did not survive it)' : null);
    });
  }

  /**
   * Stops it on an order (or because it may no longer run here): SIGTERM or the engine's stop,
   * the spec's stop_grace, then SIGKILL; then 'stopped' and the container removed.
   */
  stop(message: string, reason: RefusalReason | null = null): Promise<void> {
    this.clearRestartTimer();
    this.health?.stop();
    return this.enqueue(async () => {
      if (this.isFinal) return;
      this.generation++;
      this.phase = 'stopping';
      let exit: WorkloadExit | null = null;
      const running = this.running;
      this.running = null;
      if (running) exit = await running.stop(this.group.stop_grace);
      await this.finish('stopped', exit?.exitCode ?? null, message, reason);
    });
  }

  /**
   * After an agent restart, for an allocation that may no longer run here: stops whatever
   * instance survived (never starts one) and ends it as 'stopped' with the reason.
   */
  stopSurvivor(message: string, reason: RefusalReason): Promise<void> {
    return this.enqueue(async () => {
      if (this.isFinal) return;
      let survivor: RunningWorkload | null = null;
      try {
        survivor = await this.d.executor.adopt(this.allocId, () => undefined);
      } catch (err) {
        this.d.logger.warn('could not look for a surviving instance to stop', { allocId: this.allocId, err: errorText(err) });
      }
      const exit = survivor ? await survivor.stop(this.group.stop_grace) : null;
      await this.finish('stopped', exit?.exitCode ?? null, message, reason);
    });
  }

  /**
   * The agent is stopping: a container keeps running (the next agent takes it over); a process
   * workload is stopped (within `graceCapMs`), to be started again by the next agent. Nothing is
   * reported: the allocation still runs here as far as the server is concerned.
   */
  detach(graceCapMs: number): Promise<void> {
    this.clearRestartTimer();
    this.health?.stop();
    return this.enqueue(async () => {
      if (this.isFinal) return;
      this.generation++;
      this.phase = 'detached';
      const running = this.running;
      this.running = null;
      if (running && this.d.executor.kind === 'process') await running.stop(Math.min(this.group.stop_grace, graceCapMs));
      else running?.detach?.();
      // Buffered output goes into the outbox now; the next agent picks up from here (updatedAt).
      this.out.close();
      this.record.updatedAt = this.d.now();
    });
  }

  private describeWhat(): string {
    return this.group.executor === 'container' ? `container ${this.group.image}` : `process ${this.group.command?.[0] ?? ''}`;
  }

  private enqueue(step: () => Promise<void> | void): Promise<void> {
    const next = this.chain.then(step).catch((err: unknown) => {
      this.d.logger.error('an allocation step failed inside the agent', { allocId: this.allocId, err: errorText(err) });
    });
    this.chain = next;
    return next;
  }

  /** Starts an instance; a failure to start is handled like an exit (the restart policy decides). */
  private async launch(note: string | null): Promise<void> {
    if (this.isFinal) return;
    const gen = ++this.generation;
    this.phase = 'launching';
    let workload: RunningWorkload;
    try {
      workload = await this.d.executor.start(this.start, (s, data) => this.out.write(s, data));
    } catch (err) {
      this.d.logger.warn('an allocation could not start', { allocId: this.allocId, err: errorText(err) });
      this.afterExit({ exitCode: null, signal: null }, `could not start: ${errorText(err)}`);
      return;
    }
    this.attach(gen, workload, note ?? (this.record.restarts > 0 ? `running (restart ${this.record.restarts})` : 'running'));
  }

  private attach(gen: number, workload: RunningWorkload, message: string): void {
    this.running = workload;
    this.phase = 'running';
    this.change({ state: 'running', healthy: null, exitCode: null, message });
    void workload.exited.then((exit) => this.enqueue(() => this.onExited(gen, exit)));
    this.health?.stop();
    this.health = null;
    const check = this.group.health;
    if (check) {
      this.health = new HealthWatch({
        spec: check,
        workload,
        now: this.d.now,
        onChange: (healthy, detail) => {
          if (gen !== this.generation) return;
          this.change({ healthy, message: healthy ? 'running; health check passing' : `running; unhealthy: ${detail}` });
        },
        onUnhealthy: (detail) => void this.enqueue(() => this.onUnhealthy(gen, detail)),
      });
      this.health.start();
    }
  }

  private onExited(gen: number, exit: WorkloadExit): void {
    if (gen !== this.generation || this.phase !== 'running') return;
    this.health?.stop();
    this.running = null;
    this.afterExit(exit, describeExit(exit));
  }

  /** Restarts after a failed health check (it counts as an attempt), or fails it when out of attempts. */
  private async onUnhealthy(gen: number, detail: string): Promise<void> {
    if (gen !== this.generation || this.phase !== 'running') return;
    this.generation++;
    this.phase = 'cycling';
    const running = this.running;
    this.running = null;
    const exit = running ? await running.stop(this.group.stop_grace) : { exitCode: null, signal: null };
    this.afterExit(exit, `unhealthy (${detail}); stopped`, true);
  }

  private afterExit(exit: WorkloadExit, how: string, unhealthy = false): void {
    if (!unhealthy && this.kind === 'batch' && exit.exitCode === 0) {
      void this.finish('complete', 0, 'complete: exited with code 0');
      return;
    }
    const policy = this.group.restart;
    const now = this.d.now();
    if (!restartAllowed(policy, this.record.restartTimes, now)) {
      const used = recentRestarts(policy, this.record.restartTimes, now).length;
      void this.finish('failed', exit.exitCode, `${how}; out of restarts (${used} used, the policy allows ${describePolicy(policy)})`);
      return;
    }
    this.record.restarts++;
    this.record.restartTimes = withRestart(policy, this.record.restartTimes, now);
    this.phase = 'waiting';
    this.change({
      state: 'restarting',
      healthy: unhealthy ? false : null,
      exitCode: exit.exitCode,
      message: `${how}; restarting in ${formatMs(policy.delay)} (restart ${this.record.restarts}; the policy allows ${describePolicy(policy)})`,
    });
    const gen = this.generation;
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (gen === this.generation && this.phase === 'waiting') void this.enqueue(() => this.launch(null));
    }, policy.delay);
  }

  private async finish(state: 'failed' | 'complete' | 'stopped', exitCode: number | null, message: string, reason: RefusalReason | null = null): Promise<void> {
    this.clearRestartTimer();
    this.health?.stop();
    this.phase = 'done';
    // Its last output goes into the outbox before its final state, so a log follower that ends on that state has it all.
    this.out.close();
    this.change({ state, healthy: null, exitCode, message, reason });
    try {
      await this.d.executor.cleanup(this.allocId);
    } catch (err) {
      this.d.logger.warn('could not clean up after an allocation', { allocId: this.allocId, err: errorText(err) });
    }
  }

  /** Stores and reports a change of the record. */
  private change(fields: Partial<Pick<StoredAllocation, 'state' | 'healthy' | 'exitCode' | 'message' | 'reason'>>): void {
    Object.assign(this.record, fields, { updatedAt: this.d.now() });
    this.d.logger.info('allocation state', { allocId: this.allocId, alloc: this.label, state: this.record.state, healthy: this.record.healthy });
    this.d.persist();
    this.d.report(this.stateData());
  }

  private clearRestartTimer(): void {
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
  }
}
