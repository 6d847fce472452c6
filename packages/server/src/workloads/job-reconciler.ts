import { allocName, type PlanFailure, type PlannedPlacement } from '@gpufleet/protocol';
import type { Clock } from '../clock.js';
import type { EventHub } from '../events/event-hub.js';
import { gpuKeyOf } from '../health/gpu-keys.js';
import type { NodeRegistry } from '../services/node-registry.js';
import type { WorkloadStore } from '../store/workload-records.js';
import type { AllocDelivery } from './alloc-delivery.js';
import { isFinalStatus } from './alloc-reports.js';
import type { ClaimTable } from './claims/claim-table.js';
import type { PlanApplier } from './claims/plan-applier.js';
import { laterThan, saveDeployment } from './deployments.js';
import type { JobEntry } from './job-entry.js';
import { evaluateJob, type AllocChange, type EvalWorld, type JobSnapshot, type RetryPolicy, type SlotRequest } from './job-evaluation.js';
import type { JobTable } from './job-table.js';
import { ensureVersions, refreshVersionStatuses } from './job-versions.js';
import type { GpuNameOf } from './job-views.js';
import { mergeFailures } from './plan-view.js';
import type { PlacementScheduler } from './scheduler/placement-scheduler.js';
import { newRecordId, placeSlots } from './slot-placement.js';

export interface ReconcilerDeps {
  store: WorkloadStore;
  registry: Pick<NodeRegistry, 'get' | 'status' | 'states' | 'lastSeen'>;
  hub: EventHub;
  clock: Clock;
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
  table: JobTable;
  claims: ClaimTable;
  delivery: AllocDelivery;
  scheduler: PlacementScheduler;
  applier: PlanApplier;
  gpuName: GpuNameOf;
  retry: RetryPolicy;
  /** How long a connected host has to confirm a stop. */
  stopConfirmMs: number;
  /** A job that found no room is placed again at the latest after this, even without a fleet change. */
  blockedRetryMs: number;
  /** When the view was last read from the store: a node's offline time counts from it at the earliest. */
  startedAt(): number;
}

/** What an evaluation did, for the submit answer. */
export interface EvalOutcome {
  placements: PlannedPlacement[];
  stops: string[];
  failures: PlanFailure[];
  nodesEvaluated: number;
}

/** The job as an evaluation sees it. */
export function jobSnapshot(entry: JobEntry): JobSnapshot {
  const current = entry.current();
  return {
    job: entry.record,
    current: { version: current.version, spec: current.spec },
    versionStatus: (v) => entry.versions.get(v)?.record.status,
    allocations: [...entry.allocs.values()],
    deployment: entry.deployment,
    lastHealthyVersion: entry.lastHealthyVersion,
  };
}

/**
 * Applies what an evaluation (job-evaluation.ts) decides for one job: each allocation change goes
 * to the store first, then memory, then frames; a failed update is reverted; new slots are placed
 * through the scheduler and the plan applier. Callers hold the job's JobQueue turn.
 */
export class JobReconciler {
  /** Bumped whenever room may have appeared (a node changed, claims were released). */
  private capacityEpoch = 0;

  constructor(private readonly d: ReconcilerDeps) {}

  /** Room may have appeared: jobs that found none look again at their next evaluation. */
  roomMayHaveAppeared(): void {
    this.capacityEpoch++;
  }

  world(now: number): EvalWorld {
    const { registry } = this.d;
    return {
      now,
      node: (nodeId) => {
        const node = registry.get(nodeId);
        if (!node) return { status: 'UNKNOWN', lastSeen: null };
        // The server's own downtime is not the node's: offline time counts from this server's start at the earliest.
        return { status: registry.status(node), lastSeen: Math.max(registry.lastSeen(nodeId) ?? 0, this.d.startedAt()) };
      },
      gpuUnhealthy: (nodeId, gpu) => {
        let key = gpu.uuid;
        if (key === null) {
          const known = registry.get(nodeId)?.gpus.find((g) => g.index === gpu.index);
          if (!known) return false;
          key = gpuKeyOf(known);
        }
        return registry.states.gpuState(nodeId, key) === 'UNHEALTHY';
      },
      maybeDelivered: (id) => this.d.delivery.maybeDelivered(id),
      stopConfirmMs: this.d.stopConfirmMs,
      retry: this.d.retry,
    };
  }

  /** Evaluates the job and applies the decision; a revert makes another version current and evaluates again. */
  async evaluate(entry: JobEntry): Promise<EvalOutcome> {
    const outcome: EvalOutcome = { placements: [], stops: [], failures: [], nodesEvaluated: 0 };
    for (let pass = 0; pass < 3; pass++) {
      await ensureVersions(this.d.store, this.d.log, entry);
      const now = this.d.clock.now();
      const decision = evaluateJob(jobSnapshot(entry), this.world(now));
      for (const c of decision.changes) {
        if (c.alloc.desired === 'run' && c.patch.desired === 'stop' && !isFinalStatus(c.alloc.status))
          outcome.stops.push(allocName(c.alloc.group, c.alloc.index));
        await this.applyChange(entry, c);
      }
      if (decision.deployment) await saveDeployment(this.d.store, entry, decision.deployment);
      if (decision.revert) {
        await this.revert(entry, decision.revert, now);
        continue;
      }
      entry.exhausted = decision.exhausted;
      await this.place(entry, decision.places, outcome, now);
      break;
    }
    for (const a of entry.stale()) this.d.table.forget(entry, a.id);
    return outcome;
  }

  /** Writes one allocation change, then memory, then tells its host (stop) and the hub. */
  async applyChange(entry: JobEntry, c: AllocChange): Promise<void> {
    const id = c.alloc.id;
    if (c.ends) {
      await this.d.store.endAllocation(id, c.patch);
      this.d.claims.release(id);
      this.d.delivery.forget(id);
      this.capacityEpoch++;
    } else await this.d.store.updateAllocation(id, c.patch);
    const next = { ...(entry.allocs.get(id) ?? c.alloc), ...c.patch };
    this.d.table.remember(entry, next);
    if (c.stopReason !== null) {
      const v = entry.versions.get(next.jobVersion);
      if (v) this.d.delivery.stop(next, v.specHash, c.stopReason);
    }
    this.d.hub.publish({ type: 'workload', change: 'allocation', job: entry.name, allocId: id, nodeId: next.nodeId, status: next.status });
  }

  /**
   * Places slots: schedule against the claim table, commit through the plan applier (the store's
   * claims are the last guard), re-plan what raced, send the starts. Slots that find no room are
   * remembered (the job detail shows why) and tried again when the fleet changes.
   */
  private async place(entry: JobEntry, places: readonly SlotRequest[], outcome: EvalOutcome, now: number): Promise<void> {
    if (places.length === 0) {
      entry.unplaced = [];
      entry.blockedEpoch = null;
      return;
    }
    // Nothing changed since the last try found no room: do not scan the fleet again (for a while).
    if (entry.blockedEpoch === this.capacityEpoch && now - entry.blockedAt < this.d.blockedRetryMs) return;
    const v = entry.current();
    // Never before the deployment's start (which may be a millisecond ahead: see laterThan), so the deployment counts it.
    const createdAt = Math.max(now, entry.deployment?.startedAt ?? now);
    const epoch = this.capacityEpoch;
    const placed = await placeSlots(
      { scheduler: this.d.scheduler, claims: this.d.claims, applier: this.d.applier, gpuName: this.d.gpuName },
      entry.name,
      v,
      places,
      createdAt,
      (id) => entry.allocs.has(id),
    );
    for (const u of placed.linked) {
      const old = entry.allocs.get(u.id);
      if (old) this.d.table.remember(entry, { ...old, ...u.patch });
    }
    for (const a of placed.committed) {
      this.d.table.remember(entry, a);
      this.d.delivery.start(a, v.signed);
      this.d.hub.publish({ type: 'workload', change: 'allocation', job: entry.name, allocId: a.id, nodeId: a.nodeId, status: a.status });
    }
    outcome.placements.push(...placed.planned);
    outcome.failures.push(...placed.failures);
    outcome.nodesEvaluated += placed.nodesEvaluated;
    entry.unplaced = mergeFailures(placed.failures);
    // Only "no room" waits for the fleet to change; a lost race is tried again at once.
    if (placed.noRoom) {
      entry.blockedEpoch = epoch;
      entry.blockedAt = now;
    } else entry.blockedEpoch = null;
  }

  /** An update failed with auto_revert: its version is marked reverted and the last healthy one is current again. */
  private async revert(entry: JobEntry, r: { from: number; to: number; reason: string }, now: number): Promise<void> {
    const { store } = this.d;
    await store.setJobVersionStatus(entry.name, r.from, 'reverted');
    await store.updateJob(entry.name, { currentVersion: r.to, updatedAt: now });
    const record = await store.getJob(entry.name);
    if (record) entry.record = record;
    await ensureVersions(store, this.d.log, entry);
    await refreshVersionStatuses(store, entry);
    await saveDeployment(store, entry, {
      id: newRecordId(),
      job: entry.name,
      fromVersion: r.from,
      toVersion: r.to,
      state: 'running',
      message: `reverting to version ${r.to}: version ${r.from} failed (${r.reason})`,
      startedAt: laterThan(entry.deployment, now),
      finishedAt: null,
    });
    entry.blockedEpoch = null;
    this.d.log.info({ job: entry.name, from: r.from, to: r.to, reason: r.reason }, 'rolling update failed; reverted');
    this.d.hub.publish({ type: 'workload', change: 'job', job: entry.name });
  }
}
