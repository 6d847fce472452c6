import {
  ALLOC_ID,
  JobSpec,
  jobSpecHash,
  verifySignedJob,
  type AllocFrame,
  type AllocPlacement,
  type AllocStateData,
  type Labels,
  type RefusalReason,
} from '@gpufleet/protocol';
import type { HostLabelView } from '../exec/attested-labels.js';
import { systemClock, type Clock } from '../runtime/clock.js';
import type { NewAgentEvent } from '../runtime/gpu-changes.js';
import { errorText, silentLogger, type Logger } from '../runtime/logger.js';
import type { AgentStateStore } from '../runtime/state.js';
import type { OutputRateLimits } from './alloc-output.js';
import { judgeStart, type HostGpu } from './alloc-start.js';
import type { WorkloadExecutor } from './executor.js';
import { SupervisedAllocation } from './supervised-alloc.js';
import type { StoredAllocation } from './stored-allocation.js';

/** The TrustStore as the supervisor uses it: the same roots, revocations and label view as signed commands. */
export interface WorkloadTrust {
  readonly roots: readonly string[];
  readonly skewMs: number;
  isRevoked: (capId: string, did: string) => boolean;
  labelView(base: Labels): HostLabelView;
}

/** This host as the supervisor judges placements against it, read when an order arrives. */
export interface WorkloadHost {
  nodeId: string;
  /** Empty while the host facts are unknown (a pin by hostname then does not match). */
  hostname: string;
  /** The GPUs of the latest readout. */
  gpus: HostGpu[];
  /** The labels this host vouches for itself (vouchedHostLabels); the attested ones are added by trust.labelView. */
  labels: Labels;
}

export interface WorkloadSupervisorOptions {
  state: AgentStateStore;
  trust: WorkloadTrust;
  host: () => WorkloadHost;
  /** One per kind (container, process); a kind without one is refused as unsupported. */
  executors: readonly WorkloadExecutor[];
  /** Puts an event in the outbox: alloc-state critical, alloc-output not. */
  enqueue: (event: NewAgentEvent, critical: boolean) => unknown;
  clock?: Clock;
  logger?: Logger;
  /** False refuses every start (`gpufleet-agent run --workloads off`); stop orders still act. Default true. */
  enabled?: boolean;
  /** Output rate cap per allocation. Default DEFAULT_OUTPUT_RATE (32 KiB/s, bursts of 256 KiB). */
  output?: Partial<OutputRateLimits>;
  /** On agent stop, a process workload gets at most this long after SIGTERM. Default 10 s (systemd waits 15). */
  shutdownGraceMs?: number;
  /** Finished allocations remembered (so a start delivered again never runs them twice). Default 1000. */
  keepFinished?: number;
}

export type SupervisorLifecycle = 'starting' | 'running' | 'stopping' | 'stopped';

const short = (hash: string) => hash.slice(0, 12);

/**
 * The host side of workloads (issue 10). For each `alloc` frame:
 *
 * - start: verify before anything starts (judgeStart: the signed job with the same trust state
 *   as signed commands, then the placement against the job and this host); a refusal starts
 *   nothing and is reported as `alloc-state` 'refused' with its reason. An accepted allocation is
 *   stored (its signed placement) before it starts, then supervised here (SupervisedAllocation).
 *   A start for an allocation already here with the same spec hash reports its state again; with
 *   another hash it is refused (placement_invalid) and what runs keeps running.
 * - stop: acts only when this host has the allocation with that spec hash; otherwise it reports
 *   what it has (or that nothing runs) and does nothing.
 *
 * After an agent restart, resume() takes over what survived (containers), starts process
 * workloads again, and keeps finished allocations so an old start order cannot run them again.
 */
export class WorkloadSupervisor {
  private readonly allocs = new Map<string, SupervisedAllocation>();
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly executors = new Map<string, WorkloadExecutor>();
  private current: SupervisorLifecycle = 'starting';

  constructor(private readonly o: WorkloadSupervisorOptions) {
    this.logger = o.logger ?? silentLogger;
    this.clock = o.clock ?? systemClock;
    for (const e of o.executors) this.executors.set(e.kind, e);
  }

  get lifecycle(): SupervisorLifecycle {
    return this.current;
  }

  /** Allocations this host has accepted and not yet forgotten, finished ones included. */
  list(): AllocStateData[] {
    return [...this.allocs.values()].map((a) => a.stateData());
  }

  /** One allocation's state, or null when this host does not have it. */
  get(allocId: string): AllocStateData | null {
    return this.allocs.get(allocId)?.stateData() ?? null;
  }

  /** Which allocation holds a GPU of this host, or null. */
  holderOf(gpuIndex: number): string | null {
    for (const a of this.allocs.values()) if (a.holdsGpu(gpuIndex)) return a.allocId;
    return null;
  }

  /**
   * Reads the stored allocations and takes them over: each still running is verified again
   * (roots, revocations or this host's labels may have changed while the agent was down; one
   * that may no longer run here is stopped) and then adopted or started again. Call once, at
   * agent start, before frames arrive.
   */
  async resume(): Promise<void> {
    let records: StoredAllocation[] = [];
    try {
      records = this.o.state.loadAllocations();
    } catch (err) {
      this.logger.error('could not read the stored allocations; none taken over', { err: errorText(err) });
    }
    const resumed: Promise<void>[] = [];
    for (const record of records) {
      const alloc = this.supervise(record);
      if (alloc.isFinal) continue;
      if (this.o.enabled === false) {
        resumed.push(this.stopUnverified(alloc, 'unsupported', 'workloads are turned off on this host (the agent runs with --workloads off)'));
        continue;
      }
      const verdict = this.verifyAgain(record.placement);
      if (verdict.ok) resumed.push(alloc.resume());
      else resumed.push(this.stopUnverified(alloc, verdict.reason, verdict.message));
    }
    await Promise.all(resumed);
    if (this.current === 'starting') this.current = 'running';
  }

  /** An `alloc` frame from the server (shape already checked by the link). */
  onFrame(body: AllocFrame['body']): void {
    if (this.current === 'stopping' || this.current === 'stopped') return;
    try {
      if (body.op === 'start') this.onStart(body.placement);
      else this.onStop(body.allocId, body.specHash, body.reason);
    } catch (err) {
      // A bug in handling one frame must not take the agent down; a start is refused, never run.
      this.logger.error('could not handle an alloc frame', { op: body.op, err: errorText(err) });
      if (body.op === 'start' && !this.allocs.has(body.placement.allocId))
        this.refuse(body.placement.allocId, null, 'malformed', `could not handle the start order: ${errorText(err)}`);
    }
  }

  /**
   * An `alloc` frame that does not match the protocol: a start is refused as malformed when it
   * names an allocation id this host does not have (what runs here is never touched by a frame
   * it cannot read); anything else is logged.
   */
  onMalformed(raw: unknown, why: string): void {
    const body = (raw as { body?: Record<string, unknown> } | null)?.body;
    const placement = body?.placement as { allocId?: unknown; job?: { payload?: { job?: unknown } } } | undefined;
    const allocId = placement?.allocId ?? body?.allocId;
    if (typeof allocId !== 'string' || !ALLOC_ID.test(allocId)) {
      this.logger.warn('ignoring a malformed alloc frame without an allocation id', { why });
      return;
    }
    const known = this.allocs.get(allocId);
    if (known) {
      known.reportAgain(`an order that does not match the protocol was ignored: ${why}`);
      return;
    }
    if (body?.op !== 'start') {
      this.logger.warn('ignoring a malformed alloc frame', { allocId, why });
      return;
    }
    const spec = JobSpec.safeParse(placement?.job?.payload?.job);
    this.refuse(allocId, spec.success ? jobSpecHash(spec.data) : null, 'malformed', `the start order does not match the protocol: ${why}`);
  }

  /**
   * The agent is stopping: containers keep running for the next agent, process workloads are
   * stopped (they cannot be taken over) and started again by it. Waits at most shutdownGraceMs
   * plus a little for the engine.
   */
  async shutdown(): Promise<void> {
    if (this.current === 'stopping' || this.current === 'stopped') return;
    this.current = 'stopping';
    const cap = this.o.shutdownGraceMs ?? 10_000;
    const all = Promise.allSettled([...this.allocs.values()].map((a) => a.detach(cap)));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise((resolve) => (timer = setTimeout(resolve, cap + 3000)))]);
    clearTimeout(timer);
    this.persist();
    this.current = 'stopped';
  }

  private onStart(placement: AllocPlacement): void {
    const { allocId } = placement;
    const hash = jobSpecHash(placement.job.payload.job);
    const known = this.allocs.get(allocId);
    if (known) {
      if (known.specHash === hash) known.reportAgain('start order delivered again; nothing started twice');
      else
        this.refuse(
          allocId,
          hash,
          'placement_invalid',
          `allocation ${allocId} already exists on this host for spec ${short(known.specHash)} (${known.state}); a start for spec ${short(hash)} under the same id is refused`,
        );
      return;
    }
    if (this.o.enabled === false) {
      this.refuse(allocId, hash, 'unsupported', 'workloads are turned off on this host (the agent runs with --workloads off)');
      return;
    }
    const host = this.o.host();
    const verdict = judgeStart(placement, {
      trust: this.o.trust,
      labels: this.o.trust.labelView(host.labels),
      now: this.clock.now(),
      nodeId: host.nodeId,
      hostname: host.hostname,
      gpus: host.gpus,
      heldByOthers: (i) => this.holderOf(i),
      executors: new Set(this.executors.keys()),
    });
    if (!verdict.ok) {
      this.refuse(allocId, hash, verdict.reason, verdict.message);
      return;
    }
    const now = this.clock.now();
    const alloc = this.supervise({
      placement,
      specHash: hash,
      gpus: verdict.gpus,
      state: 'starting',
      healthy: null,
      restarts: 0,
      restartTimes: [],
      exitCode: null,
      reason: null,
      message: 'accepted',
      outputReserved: { stdout: 0, stderr: 0 },
      acceptedAt: now,
      updatedAt: now,
    });
    try {
      // Stored before it starts: an agent restart must know what it may have started.
      this.o.state.saveAllocations(this.records());
    } catch (err) {
      this.allocs.delete(allocId);
      this.refuse(allocId, hash, 'unsupported', `this host could not record the allocation before starting it: ${errorText(err)}`);
      return;
    }
    this.logger.info('allocation accepted', { allocId, alloc: alloc.label, invoker: placement.job.payload.invoker, gpus: placement.gpus.map((g) => g.index) });
    alloc.begin();
    this.forgetOldFinished();
  }

  private onStop(allocId: string, specHash: string, reason: string): void {
    const alloc = this.allocs.get(allocId);
    if (!alloc) {
      this.logger.info('stop order for an allocation this host does not have', { allocId });
      this.report({
        allocId,
        specHash,
        state: 'stopped',
        healthy: null,
        restarts: 0,
        exitCode: null,
        reason: null,
        message: `allocation ${allocId} does not run on this host; nothing to stop`,
      });
      return;
    }
    if (alloc.specHash !== specHash) {
      this.logger.warn('stop order for another version of an allocation; ignored', { allocId, runs: alloc.specHash, order: specHash });
      alloc.reportAgain(`a stop order for spec ${short(specHash)} was ignored: this host runs spec ${short(alloc.specHash)} for it`);
      return;
    }
    if (alloc.isFinal) {
      alloc.reportAgain('stop order delivered after it ended');
      return;
    }
    void alloc.stop(`stopped on the server's order${reason ? `: ${reason}` : ''}`);
  }

  private supervise(record: StoredAllocation): SupervisedAllocation {
    const spec = record.placement.job.payload.job;
    const kind = spec.allocations[record.placement.group]!.executor;
    const executor = this.executors.get(kind) ?? missingExecutor(kind);
    const alloc = new SupervisedAllocation(record, {
      executor,
      now: () => this.clock.now(),
      logger: this.logger,
      report: (data) => this.report(data),
      output: (data) => this.o.enqueue({ kind: 'alloc-output', message: '', data }, false),
      persist: () => this.persist(),
      outputLimits: this.o.output,
    });
    this.allocs.set(record.placement.allocId, alloc);
    return alloc;
  }

  /** The signed job checked again at agent start: signature, authority and revocations, constraints. */
  private verifyAgain(placement: AllocPlacement): { ok: true } | { ok: false; reason: RefusalReason; message: string } {
    const host = this.o.host();
    const labels = this.o.trust.labelView(host.labels);
    return verifySignedJob(placement.job, {
      roots: this.o.trust.roots,
      now: this.clock.now(),
      skewMs: this.o.trust.skewMs,
      isRevoked: this.o.trust.isRevoked,
      hostLabels: labels.labels,
      vouches: labels.vouches,
    });
  }

  /** A stored allocation that may no longer run here: whatever survived is stopped, and it is reported stopped with the reason. */
  private async stopUnverified(alloc: SupervisedAllocation, reason: RefusalReason, why: string): Promise<void> {
    this.logger.warn('a stored allocation may no longer run here; stopping it', { allocId: alloc.allocId, reason, why });
    await alloc.stopSurvivor(`stopped after the agent restarted: it may no longer run here: ${why}`, reason);
  }

  private refuse(allocId: string, specHash: string | null, reason: RefusalReason, message: string): void {
    this.logger.warn('allocation refused; nothing started', { allocId, reason, message: message.slice(0, 500) });
    this.report({ allocId, specHash, state: 'refused', healthy: null, restarts: 0, exitCode: null, reason, message: message.slice(0, 4096) });
  }

  private report(data: AllocStateData): void {
    const alloc = this.allocs.get(data.allocId);
    const who = alloc ? `${alloc.label} (${data.allocId})` : data.allocId;
    const health = data.state === 'running' && data.healthy !== null ? (data.healthy ? ', healthy' : ', unhealthy') : '';
    this.o.enqueue({ kind: 'alloc-state', message: `allocation ${who} ${data.state}${health}: ${data.message}`, data }, true);
  }

  private records(): StoredAllocation[] {
    return [...this.allocs.values()].map((a) => a.record);
  }

  private persist(): void {
    try {
      this.o.state.saveAllocations(this.records());
    } catch (err) {
      this.logger.error('could not store the allocations', { err: errorText(err) });
    }
  }

  /** Keeps the newest keepFinished finished allocations; older ones are forgotten. */
  private forgetOldFinished(): void {
    const keep = this.o.keepFinished ?? 1000;
    const finished = [...this.allocs.values()].filter((a) => a.isFinal).sort((a, b) => a.record.updatedAt - b.record.updatedAt);
    if (finished.length <= keep) return;
    for (const a of finished.slice(0, finished.length - keep)) this.allocs.delete(a.allocId);
    this.persist();
  }
}

/** Stands in for an executor this agent no longer has (a stored allocation of a kind now turned off). */
function missingExecutor(kind: string): WorkloadExecutor {
  const no = () => Promise.reject(new Error(`this agent has no ${kind} executor`));
  return { kind: kind as WorkloadExecutor['kind'], start: no, adopt: async () => null, cleanup: async () => undefined };
}
