import { FleetError, allocName, jobSpecHash, type PlanView, type SubmitJobRequest } from '@gpufleet/protocol';
import type { Clock } from '../clock.js';
import type { EventHub } from '../events/event-hub.js';
import type { LeaseRole } from '../replicas/leases.js';
import type { WorkloadStore } from '../store/workload-records.js';
import { checkStartFrameSize, type AllocDelivery } from './alloc-delivery.js';
import type { AllocOutputWriter } from './alloc-output-writer.js';
import { isFinalStatus } from './alloc-reports.js';
import type { ClaimTable } from './claims/claim-table.js';
import { allHealthy, laterThan, saveDeployment } from './deployments.js';
import { checkSubmittedJob } from './job-authority.js';
import { JobEntry, versionInfoOf } from './job-entry.js';
import { stopOrder, stopWords } from './job-evaluation.js';
import type { JobQueue } from './job-queue.js';
import type { EvalOutcome, JobReconciler } from './job-reconciler.js';
import type { JobTable } from './job-table.js';
import { refreshVersionStatuses } from './job-versions.js';
import { planView } from './plan-view.js';
import type { PurgedLeftovers } from './purged-leftovers.js';
import { newRecordId } from './slot-placement.js';
import type { StoredView } from './stored-view.js';

export interface JobChangeDeps {
  store: WorkloadStore;
  hub: EventHub;
  clock: Clock;
  /** Fleet roots and revocations: who may run workloads (checked at submit; hosts check again). */
  trust: { currentRoots(): string[]; isRevoked(capId: string, did: string): boolean };
  /** How far in the future a job's issuedAt may be. */
  futureSkewMs: number;
  lease: LeaseRole;
  view: Pick<StoredView, 'forTenure'>;
  queue: JobQueue;
  table: JobTable;
  claims: ClaimTable;
  leftovers: PurgedLeftovers;
  delivery: AllocDelivery;
  output: AllocOutputWriter;
  reconciler: JobReconciler;
}

/**
 * What operators do to jobs: submit a signed job (a new version and deployment when its spec
 * differs from the current one) and stop one (with purge, forget it). Each change runs in the
 * job's JobQueue turn and ends with an evaluation, whose placements are the submit's answer.
 */
export class JobChanges {
  constructor(private readonly d: JobChangeDeps) {}

  /**
   * Takes a signed job: a new version when its spec differs from the current one (created), then
   * places what it needs now. The answer's plan is what this submission did.
   */
  async submit(input: SubmitJobRequest, actor: string): Promise<{ created: boolean; version: number; plan: PlanView }> {
    const { store, hub, reconciler } = this.d;
    this.requireScheduler();
    await this.d.view.forTenure();
    const now = this.d.clock.now();
    const signed = checkSubmittedJob(input.signed, {
      roots: () => this.d.trust.currentRoots(),
      isRevoked: (capId, did) => this.d.trust.isRevoked(capId, did),
      now,
      futureSkewMs: this.d.futureSkewMs,
    });
    const spec = signed.payload.job;
    const specHash = jobSpecHash(spec);
    checkStartFrameSize(signed);
    return this.d.queue.run(spec.name, async () => {
      let entry = this.d.table.get(spec.name);
      if (entry && entry.current().specHash === specHash) {
        // The same spec: no new version; a stopped job runs again.
        if (entry.record.state === 'stopped') await this.reactivate(entry, now);
        entry.blockedEpoch = null;
        const outcome = await reconciler.evaluate(entry);
        return { created: false, version: entry.record.currentVersion, plan: submitPlan(entry, outcome) };
      }
      const previous = entry?.record.currentVersion ?? null;
      const version = await store.addJobVersion({
        job: spec.name,
        specHash,
        signed,
        source: input.source ?? null,
        invoker: signed.payload.invoker,
        submittedBy: actor,
        submittedAt: now,
        kind: spec.kind,
        at: now,
      });
      const record = await store.getJob(spec.name);
      const stored = await store.getJobVersion(spec.name, version);
      const info = stored ? versionInfoOf(stored) : null;
      if (!record || !info) throw new FleetError('internal', `job ${spec.name} version ${version} was stored but cannot be read back`);
      if (!entry) {
        entry = new JobEntry(record);
        this.d.table.add(entry);
      } else entry.record = record;
      entry.versions.set(version, info);
      await refreshVersionStatuses(store, entry);
      if (entry.deployment?.state === 'running') {
        // Superseded before it settled: its version still counts as healthy if every slot of it runs healthy now.
        if (entry.deployment.toVersion === previous && allHealthy(entry, previous)) entry.lastHealthyVersion = previous;
        await saveDeployment(store, entry, { ...entry.deployment, state: 'failed', message: `superseded by version ${version}`, finishedAt: now });
      }
      await saveDeployment(store, entry, {
        id: newRecordId(),
        job: spec.name,
        fromVersion: previous,
        toVersion: version,
        state: 'running',
        message: previous === null ? `placing version ${version}` : `updating from version ${previous} to ${version}`,
        startedAt: laterThan(entry.deployment, now),
        finishedAt: null,
      });
      entry.blockedEpoch = null;
      entry.exhausted = [];
      const outcome = await reconciler.evaluate(entry);
      hub.publish({ type: 'workload', change: 'job', job: spec.name });
      return { created: true, version, plan: submitPlan(entry, outcome) };
    });
  }

  /** Stops every allocation of a job (the job stays, stopped); with purge, forgets it. */
  async stop(name: string, opts: { purge?: boolean; reason?: string }, actor: string): Promise<{ purged: boolean }> {
    const { store, table, reconciler } = this.d;
    this.requireScheduler();
    await this.d.view.forTenure();
    if (!table.has(name)) throw new FleetError('not_found', `no job '${name}'`);
    return this.d.queue.run(name, async () => {
      const entry = table.get(name);
      if (!entry) throw new FleetError('not_found', `no job '${name}'`);
      const now = this.d.clock.now();
      const why = `${stopWords('job_stopped')} by ${actor}${opts.reason ? `: ${opts.reason}` : ''}`;
      if (entry.record.state !== 'stopped') {
        await store.updateJob(name, { state: 'stopped', stoppedAt: now, updatedAt: now });
        entry.record = { ...entry.record, state: 'stopped', stoppedAt: now, updatedAt: now };
      }
      const world = reconciler.world(now);
      for (const a of [...entry.allocs.values()]) {
        if (a.desired === 'run' && !isFinalStatus(a.status)) await reconciler.applyChange(entry, stopOrder(a, 'job_stopped', world, null, why));
      }
      await reconciler.evaluate(entry);
      if (opts.purge) {
        await store.purgeJob(name);
        for (const a of [...entry.allocs.values()]) {
          const spec = entry.versions.get(a.jobVersion);
          // Still on its host: its GPUs stay claimed until the host confirms (see PurgedLeftovers).
          if (!isFinalStatus(a.status) && spec && this.d.delivery.maybeDelivered(a.id)) {
            this.d.leftovers.add({ allocId: a.id, nodeId: a.nodeId, specHash: spec.specHash, reason: a.message || why, since: now });
          } else this.d.claims.release(a.id);
          this.d.output.forget(a.id);
          table.forget(entry, a.id);
        }
        reconciler.roomMayHaveAppeared();
        table.delete(name);
      }
      this.d.hub.publish({ type: 'workload', change: 'job', job: name });
      return { purged: opts.purge === true };
    });
  }

  /** Job changes go to the replica that schedules: another one's view of the jobs may be behind. */
  private requireScheduler(): void {
    if (!this.d.lease.holds())
      throw new FleetError(
        'failed_precondition',
        'this replica does not run the workload scheduler: send job changes to the replica holding the scheduler lease (gpufleet replicas ls, LEASES column)',
      );
  }

  private async reactivate(entry: JobEntry, now: number): Promise<void> {
    await this.d.store.updateJob(entry.name, { state: 'active', stoppedAt: null, updatedAt: now });
    entry.record = { ...entry.record, state: 'active', stoppedAt: null, updatedAt: now };
    entry.exhausted = [];
  }
}

/** The submit's answer: what this evaluation placed and stopped, and how many allocations of the current version stay as they are. */
function submitPlan(entry: JobEntry, outcome: EvalOutcome): PlanView {
  const placed = new Set(outcome.placements.map((p) => p.name));
  let unchanged = 0;
  for (const a of entry.allocs.values()) {
    if (a.desired === 'run' && !isFinalStatus(a.status) && a.jobVersion === entry.record.currentVersion && !placed.has(allocName(a.group, a.index)))
      unchanged++;
  }
  return planView({
    job: entry.name,
    version: entry.record.currentVersion,
    placements: outcome.placements,
    unchanged,
    stops: outcome.stops.sort(),
    failures: outcome.failures,
    nodesEvaluated: outcome.nodesEvaluated,
  });
}
