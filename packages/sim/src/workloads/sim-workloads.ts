import { FleetError, type GroupSpec } from '@gpufleet/protocol';
import { systemClock, type Clock, type ExecutorStart, type RunningWorkload, type WorkloadExecutor } from '@gpufleet/agent';
import { hashString, mulberry32 } from '../prng.js';
import { FakeWorkloadExecutor } from './fake-executor.js';
import { FakeWorkload, type OutputSink } from './fake-workload.js';
import { simBehavior } from './sim-behavior.js';

export interface SimWorkloadsOptions {
  /** Same seed, same start delays. */
  seed: string | number;
  /** The clock health failures are timed on. Default the system clock. */
  clock?: Clock;
  /** A start takes from min to max ms (drawn from the seed per allocation and start). Default 5 to 50 ms. */
  startDelayMs?: { min: number; max: number };
}

/** A simulated allocation as the fault injector and the control endpoint show it. */
export interface SimAllocation {
  allocId: string;
  job: string;
  /** `web-0`. */
  name: string;
  jobVersion: number;
  specHash: string;
  hostname: string;
  executor: GroupSpec['executor'];
  gpus: { index: number; uuid: string | null }[];
  /** Starts of this allocation on its host (1 for the first, more after restarts). */
  starts: number;
  running: boolean;
  /** Whether its health checks pass now. */
  healthy: boolean;
}

interface Instance {
  info: Omit<SimAllocation, 'running' | 'healthy' | 'starts'>;
  workload: FakeWorkload;
  /** Order of starts across the fleet: the newest instance of a name wins a lookup. */
  seq: number;
  health: 'pass' | 'fail';
}

const DEFAULT_START_DELAY = { min: 5, max: 50 } as const;

/**
 * The fake workloads of a whole simulated fleet. Each host gets executors from here (one per
 * executor kind, so a job file's `executor: container` or `process` both run); what they start
 * is registered here, so a fault can reach an allocation by id or by `job/name` without
 * knowing its host, and an agent that restarts re-finds (adopts) what its host still runs.
 */
export class SimWorkloads {
  private readonly clock: Clock;
  private readonly delay: { min: number; max: number };
  /** The current instance of each allocation id. */
  private readonly byId = new Map<string, Instance>();
  /** `job/name` -> instances (there can be several: a replaced allocation on a host cut off, and its replacement). */
  private readonly byName = new Map<string, Set<Instance>>();
  private readonly startCounts = new Map<string, number>();
  /** Allocation id -> clock time its health checks fail until (Infinity: until cleared). */
  private readonly failingUntil = new Map<string, number>();
  private seq = 0;
  /** Starts made, across the fleet. */
  started = 0;

  constructor(private readonly o: SimWorkloadsOptions) {
    this.clock = o.clock ?? systemClock;
    this.delay = o.startDelayMs ?? DEFAULT_START_DELAY;
    const { min, max } = this.delay;
    if (!Number.isFinite(min) || !Number.isFinite(max) || min < 0 || max < min || max > 60_000)
      throw new FleetError('invalid_argument', `start delay must be 0 <= min <= max <= 60000 ms, got ${min} to ${max}`);
  }

  /** The executors of one host: a fake container executor and a fake process executor. */
  executorsFor(hostname: string): WorkloadExecutor[] {
    return [new FakeWorkloadExecutor(this, hostname, 'container'), new FakeWorkloadExecutor(this, hostname, 'process')];
  }

  /** Starts an instance on a host (FakeWorkloadExecutor.start). */
  async start(hostname: string, kind: GroupSpec['executor'], s: ExecutorStart, onOutput: OutputSink): Promise<RunningWorkload> {
    const behavior = simBehavior(s.env);
    const n = (this.startCounts.get(s.allocId) ?? 0) + 1;
    this.startCounts.set(s.allocId, n);
    const delayMs = behavior.startDelayMs ?? this.startDelayMs(s.allocId, n);
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs).unref());
    const ref = `${s.job}/${s.name}`;
    if (behavior.startError !== null) throw new FleetError('failed_precondition', `${ref} could not start: ${behavior.startError}`);

    const previous = this.byId.get(s.allocId);
    if (previous) this.forget(previous);
    const instance: Instance = {
      info: {
        allocId: s.allocId,
        job: s.job,
        name: s.name,
        jobVersion: s.jobVersion,
        specHash: s.specHash,
        hostname,
        executor: kind,
        gpus: s.gpus.map((g) => ({ index: g.index, uuid: g.uuid })),
      },
      seq: ++this.seq,
      health: behavior.health,
      workload: null as unknown as FakeWorkload,
    };
    instance.workload = new FakeWorkload(
      onOutput,
      () => this.passes(instance),
      behavior.exitAfterMs === null ? null : { ms: behavior.exitAfterMs, code: behavior.exitCode },
    );
    this.byId.set(s.allocId, instance);
    let names = this.byName.get(ref);
    if (!names) this.byName.set(ref, (names = new Set()));
    names.add(instance);
    this.started++;

    const what = kind === 'container' ? `image ${s.spec.image ?? '(none)'}` : `command ${(s.spec.command ?? []).join(' ')}`;
    const gpus = s.gpus.length === 0 ? 'no GPUs' : `GPU ${s.gpus.map((g) => g.index).join(', ')}`;
    instance.workload.write('stdout', `sim: ${ref} (${s.allocId}) starting on ${hostname}, ${gpus}${n > 1 ? `, start ${n}` : ''}\n`);
    instance.workload.write('stdout', `sim: ${what}\n`);
    instance.workload.write('stdout', `sim: ready${behavior.health === 'fail' ? ' (its health checks will fail: SIM_HEALTH=fail)' : ''}\n`);
    return instance.workload;
  }

  /** How long the n-th start of an allocation takes: drawn from the seed, so the same every run. */
  startDelayMs(allocId: string, n: number): number {
    const rng = mulberry32(hashString(`${String(this.o.seed)}:start:${allocId}:${n}`));
    return Math.round(this.delay.min + rng() * (this.delay.max - this.delay.min));
  }

  /** The running instance of an allocation on this host, handed to an agent that restarted. */
  adopt(hostname: string, kind: GroupSpec['executor'], allocId: string, onOutput: OutputSink): RunningWorkload | null {
    const instance = this.byId.get(allocId);
    if (!instance || instance.info.hostname !== hostname || instance.info.executor !== kind || !instance.workload.running) return null;
    instance.workload.attach(onOutput);
    return instance.workload;
  }

  /** Forgets a stopped instance (FakeWorkloadExecutor.cleanup). */
  cleanup(hostname: string, allocId: string): void {
    const instance = this.byId.get(allocId);
    if (instance && instance.info.hostname === hostname && !instance.workload.running) {
      this.forget(instance);
      this.startCounts.delete(allocId);
      this.failingUntil.delete(allocId);
    }
  }

  /**
   * The running allocation `ref` names: an allocation id, or `job/name` (the newest running
   * instance of that name: after a move, the replacement). Throws FleetError('not_found').
   */
  find(ref: string): SimAllocation {
    return this.view(this.instance(ref));
  }

  /** Every running allocation (on `hostname` only, when given), oldest start first. */
  list(hostname?: string): SimAllocation[] {
    return [...this.byId.values()]
      .filter((i) => i.workload.running && (hostname === undefined || i.info.hostname === hostname))
      .sort((a, b) => a.seq - b.seq)
      .map((i) => this.view(i));
  }

  /** Makes the allocation exit with `exitCode` as if it crashed; its host's restart policy takes over. */
  crash(ref: string, exitCode: number): SimAllocation {
    if (!Number.isInteger(exitCode) || exitCode < 0 || exitCode > 255) throw new FleetError('invalid_argument', `an exit code is 0 to 255, got ${exitCode}`);
    const instance = this.instance(ref);
    instance.workload.crash(exitCode);
    return this.view(instance);
  }

  /**
   * Makes the allocation's health checks fail for `forMs` (null: until cleared), across its
   * restarts: an allocation that stays unhealthy runs out of restarts and fails.
   */
  failHealth(ref: string, forMs: number | null): SimAllocation {
    if (forMs !== null && (!Number.isFinite(forMs) || forMs < 0)) throw new FleetError('invalid_argument', `a health failure lasts >= 0 ms, got ${forMs}`);
    const instance = this.instance(ref);
    this.failingUntil.set(instance.info.allocId, forMs === null ? Number.POSITIVE_INFINITY : this.clock.now() + forMs);
    return this.view(instance);
  }

  /** Ends injected health failures: of the allocations on `hostname`, or everywhere. How many were ended. */
  clearHealth(hostname?: string): number {
    let n = 0;
    for (const allocId of [...this.failingUntil.keys()]) {
      const host = this.byId.get(allocId)?.info.hostname;
      if (hostname === undefined || host === hostname || host === undefined) {
        this.failingUntil.delete(allocId);
        n++;
      }
    }
    return n;
  }

  /**
   * The host is switched off: what runs there dies with it (SIGKILL, no output), and is
   * forgotten. Returns the allocations that were still running.
   */
  powerOff(hostname: string): SimAllocation[] {
    const killed: SimAllocation[] = [];
    for (const i of [...this.byId.values()]) {
      if (i.info.hostname !== hostname) continue;
      if (i.workload.running) killed.push(this.view(i));
      i.workload.kill();
      this.forget(i);
      this.startCounts.delete(i.info.allocId);
      this.failingUntil.delete(i.info.allocId);
    }
    return killed;
  }

  /** Running instances, across the fleet. */
  get running(): number {
    let n = 0;
    for (const i of this.byId.values()) if (i.workload.running) n++;
    return n;
  }

  private instance(ref: string): Instance {
    if (typeof ref !== 'string' || ref.length === 0 || ref.length > 200)
      throw new FleetError('invalid_argument', 'an allocation is named by its id or as job/name (llama/web-0)');
    let found: Instance | undefined;
    if (ref.includes('/')) {
      for (const i of this.byName.get(ref) ?? []) if (i.workload.running && (!found || i.seq > found.seq)) found = i;
    } else {
      const i = this.byId.get(ref);
      if (i?.workload.running) found = i;
    }
    if (found) return found;
    const some = this.list()
      .slice(0, 5)
      .map((a) => `${a.job}/${a.name}`);
    throw new FleetError(
      'not_found',
      `no running simulated allocation '${ref}' (${some.length === 0 ? 'none runs' : `running: ${some.join(', ')}${this.running > 5 ? `, ... ${this.running} in all` : ''}`})`,
    );
  }

  private passes(i: Instance): boolean {
    if (i.health === 'fail') return false;
    const until = this.failingUntil.get(i.info.allocId);
    return until === undefined || this.clock.now() >= until;
  }

  private view(i: Instance): SimAllocation {
    return {
      ...i.info,
      gpus: i.info.gpus.map((g) => ({ ...g })),
      starts: this.startCounts.get(i.info.allocId) ?? 1,
      running: i.workload.running,
      healthy: this.passes(i),
    };
  }

  private forget(i: Instance): void {
    if (this.byId.get(i.info.allocId) === i) this.byId.delete(i.info.allocId);
    const ref = `${i.info.job}/${i.info.name}`;
    const names = this.byName.get(ref);
    names?.delete(i);
    if (names?.size === 0) this.byName.delete(ref);
  }
}
