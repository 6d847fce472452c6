import { allocName, parseJobFile, jobSpecHash, type GpuAllocationRef, type JobSpec, type PlanView, type SubmitJobRequest } from '@gpufleet/protocol';
import type { LeaseRole } from '../replicas/leases.js';
import { JobTable } from './job-table.js';
import type { Clock } from '../clock.js';
import type { EventHub } from '../events/event-hub.js';
import type { NodeRegistry } from '../services/node-registry.js';
import type { AgentEventRecord } from '../store/store.js';
import type { AllocationRecord, WorkloadStore } from '../store/workload-records.js';
import { AllocDelivery, type FrameSender } from './alloc-delivery.js';
import { AllocOutputWriter } from './alloc-output-writer.js';
import { isFinalStatus } from './alloc-reports.js';
import { ClaimTable } from './claims/claim-table.js';
import { PlanApplier } from './claims/plan-applier.js';
import { FleetSync } from './fleet-sync.js';
import { HostReportIntake } from './host-report-intake.js';
import { JobChanges } from './job-changes.js';
import type { JobEntry } from './job-entry.js';
import type { JobSnapshot, RetryPolicy } from './job-evaluation.js';
import { JobQueue } from './job-queue.js';
import { JobReconciler, jobSnapshot } from './job-reconciler.js';
import { dryRunPlan } from './dry-run-plan.js';
import { pendingSlotsOf } from './pending-slots.js';
import { FleetIndex } from './scheduler/fleet-index.js';
import { PlacementScheduler } from './scheduler/placement-scheduler.js';
import { PurgedLeftovers } from './purged-leftovers.js';
import { StoredView } from './stored-view.js';
import type { PendingSlots } from '../pools/pools-api.js';

export interface WorkloadServiceOptions {
  store: WorkloadStore;
  registry: Pick<NodeRegistry, 'get' | 'all' | 'status' | 'labelsOf' | 'states' | 'lastSeen'>;
  sessions: FrameSender;
  hub: EventHub;
  clock: Clock;
  /** Fleet roots and revocations: who may run workloads (checked at submit; hosts check again). */
  trust: { currentRoots(): string[]; isRevoked(capId: string, did: string): boolean };
  log: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
  /**
   * The `scheduler` lease: with several replicas only its holder changes jobs and places
   * allocations, so two replicas never place the same job twice (soleHolder alone).
   */
  lease: LeaseRole;
  /** How often every job is evaluated again (deadlines, grace periods, backoffs). Default 1 s. */
  tickMs?: number;
  /** Replacements of a failed allocation name. Default 5, after 10 s, 20 s, 40 s... (at most 5 min). */
  retry?: RetryPolicy;
  /** How long a connected host has to confirm a stop. Default 5 min. */
  stopConfirmMs?: number;
  /** Output kept per allocation. Default 1 MiB. */
  outputKeepBytes?: number;
  /** How far in the future a job's issuedAt may be. Default 5 min. */
  futureSkewMs?: number;
  /** A job that found no room is placed again at the latest after this, even without a fleet change. Default 30 s. */
  blockedRetryMs?: number;
  /** Seeded randomness for the scheduler (tests). */
  random?: () => number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxReplacements: 5, baseDelayMs: 10_000, maxDelayMs: 300_000 };
const DEFAULT_STOP_CONFIRM_MS = 5 * 60_000;

/**
 * Workloads on the control plane (issue 10): takes operator-signed jobs, keeps their versions,
 * places their allocations through the scheduler and the plan applier, delivers them to hosts,
 * follows what hosts report, and moves allocations when a GPU turns UNHEALTHY, a node stays
 * OFFLINE past the job's grace, or a node is drained; new versions roll out per `update`.
 *
 * Each job is worked on serially (JobQueue): an evaluation (job-evaluation.ts) decides, the
 * reconciler (job-reconciler.ts) applies the decision (store first, then memory, then frames).
 * Evaluations run on a submission or stop (job-changes.ts), after host reports
 * (host-report-intake.ts), when a node or GPU changes, and every tick. This class owns the shared
 * state and wires those parts; the view of it is read from the store by stored-view.ts.
 */
export class WorkloadService {
  private readonly table = new JobTable();
  readonly claims = new ClaimTable();
  private readonly index: FleetIndex;
  private readonly fleet: FleetSync;
  private readonly scheduler: PlacementScheduler;
  private readonly delivery: AllocDelivery;
  private readonly output: AllocOutputWriter;
  private readonly queue: JobQueue;
  /** Allocations of purged jobs whose hosts have not confirmed the stop yet (their GPUs stay claimed). */
  private readonly leftovers = new PurgedLeftovers();
  private readonly stopConfirmMs: number;
  private readonly view: StoredView;
  private readonly reconciler: JobReconciler;
  private readonly changes: JobChanges;
  private readonly reports: HostReportIntake;
  private timer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;

  constructor(private readonly o: WorkloadServiceOptions) {
    this.index = new FleetIndex({ claims: this.claims });
    this.fleet = new FleetSync(o.registry, this.index);
    this.scheduler = new PlacementScheduler(this.index, o.random ? { random: o.random } : {});
    const applier = new PlanApplier({ claims: this.claims, commit: (plan) => o.store.commitPlan(plan), fleet: this.index });
    this.delivery = new AllocDelivery(o.sessions);
    this.output = new AllocOutputWriter({
      store: o.store,
      ...(o.outputKeepBytes === undefined ? {} : { keepBytes: o.outputKeepBytes }),
      log: o.log,
      onStored: (ids) => {
        for (const allocId of ids) {
          const job = this.table.jobOf(allocId);
          if (job !== undefined) o.hub.publish({ type: 'workload', change: 'output', job, allocId });
        }
      },
    });
    this.queue = new JobQueue((job, err) => o.log.warn({ job, err: err.message }, 'workload evaluation failed'));
    this.stopConfirmMs = o.stopConfirmMs ?? DEFAULT_STOP_CONFIRM_MS;
    const shared = { store: o.store, clock: o.clock, log: o.log, lease: o.lease, table: this.table, claims: this.claims };
    this.view = new StoredView({ ...shared, fleet: this.fleet, resendTo: (nodeId) => this.reports.resendTo(nodeId) });
    this.reconciler = new JobReconciler({
      ...shared,
      registry: o.registry,
      hub: o.hub,
      delivery: this.delivery,
      scheduler: this.scheduler,
      applier,
      gpuName: this.gpuName,
      retry: o.retry ?? DEFAULT_RETRY,
      stopConfirmMs: this.stopConfirmMs,
      blockedRetryMs: o.blockedRetryMs ?? 30_000,
      startedAt: () => this.view.startedAt,
    });
    const work = { view: this.view, queue: this.queue, leftovers: this.leftovers, delivery: this.delivery, output: this.output, reconciler: this.reconciler };
    this.changes = new JobChanges({ ...shared, ...work, hub: o.hub, trust: o.trust, futureSkewMs: o.futureSkewMs ?? 5 * 60_000 });
    this.reports = new HostReportIntake({
      ...shared,
      ...work,
      kick: (job) => this.kick(job),
      endLeftover: (allocId) => this.endLeftover(allocId),
    });
  }

  // ---- lifecycle ----

  /** Reads jobs, their live allocations and the GPU claims from the store, and the fleet from the registry. */
  load(): Promise<void> {
    return this.view.load();
  }

  /**
   * Resolves once this replica's view is current enough to answer a read: the holder's own view
   * (read again first when its tenure is new); on another replica, the store read again when the
   * last read is too old (stored-view.ts).
   */
  current(): Promise<void> {
    return this.view.current();
  }

  /** Follows node and GPU changes and evaluates every job each tick. */
  start(): void {
    if (this.timer) return;
    this.unsubscribe = this.o.hub.subscribe((e) => {
      if (e.type !== 'node') return;
      this.fleet.syncNode(e.nodeId);
      this.reconciler.roomMayHaveAppeared();
      for (const id of this.table.allocsOn(e.nodeId)) this.kick(this.table.jobOf(id));
      for (const entry of this.table.entries()) if (entry.unplaced.length > 0) this.kick(entry.name);
    });
    this.timer = setInterval(() => this.tick(), this.o.tickMs ?? 1000);
    this.timer.unref?.();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.unsubscribe?.();
    this.unsubscribe = null;
    await this.queue.close();
    await this.output.flush();
    this.index.close();
  }

  /** Evaluates the jobs that may have something to do (all but the stopped and settled ones). */
  tick(): void {
    if (!this.o.lease.holds()) return;
    void this.view.forTenure().catch((err: Error) => this.o.log.warn({ err: err.message }, 'could not read the jobs again after taking the scheduler lease'));
    for (const l of this.leftovers.olderThan(this.stopConfirmMs, this.o.clock.now())) this.endLeftover(l.allocId);
    for (const entry of this.table.entries()) {
      if (entry.allocs.size > 0 || entry.unplaced.length > 0 || entry.deployment?.state === 'running') this.kick(entry.name, 0);
    }
  }

  /** Evaluates every job now, each after the work queued for it, and resolves when all are done. */
  async evaluateAll(): Promise<void> {
    await Promise.all(this.table.names().map((job) => this.queue.run(job, () => this.evaluateNamed(job))));
  }

  // ---- operator actions (job-changes.ts) ----

  /** Parses a job file: the normalized spec the browser signs, and its hash. */
  parse(source: string): { spec: JobSpec; specHash: string } {
    const spec = parseJobFile(source);
    return { spec, specHash: jobSpecHash(spec) };
  }

  /**
   * Takes a signed job: a new version when its spec differs from the current one (created), then
   * places what it needs now. The answer's plan is what this submission did.
   */
  submit(input: SubmitJobRequest, actor: string): Promise<{ created: boolean; version: number; plan: PlanView }> {
    return this.changes.submit(input, actor);
  }

  /** Stops every allocation of a job (the job stays, stopped); with purge, forgets it. */
  stopJob(name: string, opts: { purge?: boolean; reason?: string }, actor: string): Promise<{ purged: boolean }> {
    return this.changes.stop(name, opts, actor);
  }

  /**
   * A dry run of a job file: where each allocation would go now, or why it cannot, and which of
   * the job's allocations would stop. Nothing is stored or claimed.
   */
  plan(source: string): PlanView {
    const spec = parseJobFile(source);
    const entry = this.table.get(spec.name);
    return dryRunPlan({ scheduler: this.scheduler, claims: this.claims, gpuName: this.gpuName }, spec, entry);
  }

  // ---- what hosts say (host-report-intake.ts) ----

  /** An `alloc-state` event (stored already): the allocation follows its host's word (on the scheduler's holder only). */
  onHostReport(record: AgentEventRecord): Promise<void> {
    return this.reports.onHostReport(record);
  }

  /** An `alloc-output` event: stored as the allocation's output (resolves once stored). */
  onHostOutput(record: AgentEventRecord): Promise<void> {
    return this.reports.onHostOutput(record);
  }

  /** Gateway hook (or the replica bridge): a host is connected again; the scheduler's holder resends what it must run and stop. */
  onSessionReady(nodeId: string): void {
    if (!this.o.lease.holds()) return;
    this.reports.resendTo(nodeId);
  }

  /** Allocations on the node that have not ended, purged ones included (drains wait for them). */
  runningOn(nodeId: string): number {
    let n = this.leftovers.size > 0 ? this.leftovers.onNode(nodeId).length : 0;
    for (const id of this.table.allocsOn(nodeId)) {
      const a = this.table.followed(id);
      if (a && !isFinalStatus(a.status)) n++;
    }
    return n;
  }

  /**
   * Slots the last evaluations found no node for, per job group, with what each slot needs: the
   * pool manager grows a pool whose new nodes would take them (PendingDemand).
   */
  pendingSlots(): PendingSlots[] {
    return pendingSlotsOf(this.table.entries());
  }

  /** The allocation holding a GPU, for GPU views. */
  gpuAllocation(nodeId: string, gpuIndex: number): GpuAllocationRef | null {
    const holder = this.claims.gpuHolder(nodeId, gpuIndex);
    if (holder === null) return null;
    const a = this.table.followed(holder);
    if (a) return { id: a.id, job: a.job, name: allocName(a.group, a.index) };
    return { id: holder, job: this.claims.held(holder)?.job ?? '', name: '' };
  }

  // ---- reads (workload-reads.ts builds the views) ----

  /** The followed jobs, by name. */
  entries(): IterableIterator<JobEntry> {
    return this.table.entries();
  }

  entry(name: string): JobEntry | undefined {
    return this.table.get(name);
  }

  /** The allocation as followed in memory (newer than its stored copy by at most one write), if it is. */
  followed(id: string): AllocationRecord | undefined {
    return this.table.followed(id);
  }

  /** The allocation as followed now, else as stored. */
  async allocation(id: string): Promise<AllocationRecord | undefined> {
    return this.followed(id) ?? (await this.o.store.getAllocation(id));
  }

  /** Writes pending output (reads that must see everything call this first). */
  flushOutput(): Promise<void> {
    return this.output.flush();
  }

  readonly gpuName = (nodeId: string, gpuIndex: number): string | null => this.o.registry.get(nodeId)?.gpus.find((g) => g.index === gpuIndex)?.name ?? null;

  snapshot(entry: JobEntry): JobSnapshot {
    return jobSnapshot(entry);
  }

  // ---- evaluation (job-reconciler.ts applies it) ----

  private kick(job: string | undefined, delayMs = 10): void {
    if (job === undefined || !this.table.has(job)) return;
    this.queue.kick(job, () => this.evaluateNamed(job), delayMs);
  }

  private async evaluateNamed(job: string): Promise<void> {
    // Only the scheduler places: two replicas evaluating one job would both place its allocations.
    if (!this.o.lease.holds()) return;
    await this.view.forTenure();
    const entry = this.table.get(job);
    if (entry) await this.reconciler.evaluate(entry);
  }

  /** A purged job's allocation ended on its host (or was waited for long enough): its GPUs are free. */
  private endLeftover(allocId: string): void {
    const l = this.leftovers.get(allocId);
    if (!l) return;
    this.leftovers.delete(allocId);
    this.claims.release(allocId);
    this.reconciler.roomMayHaveAppeared();
    for (const entry of this.table.entries()) if (entry.unplaced.length > 0) this.kick(entry.name);
  }
}
