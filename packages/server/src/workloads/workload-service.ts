import {
  ALLOC_ID,
  AllocOutputData,
  AllocStateData,
  FleetError,
  allocName,
  jobSpecHash,
  parseJobFile,
  type GpuAllocationRef,
  type JobSpec,
  type PlanFailure,
  type PlannedPlacement,
  type PlanView,
  type SubmitJobRequest,
} from '@gpufleet/protocol';
import type { LeaseRole } from '../replicas/leases.js';
import { JobTable } from './job-table.js';
import { LeaseTenure } from './lease-tenure.js';
import type { Clock } from '../clock.js';
import type { EventHub } from '../events/event-hub.js';
import { gpuKeyOf } from '../health/gpu-keys.js';
import type { NodeRegistry } from '../services/node-registry.js';
import type { AgentEventRecord } from '../store/store.js';
import type { AllocationRecord, DeploymentRecord, WorkloadStore } from '../store/workload-records.js';
import { AllocDelivery, checkStartFrameSize, type FrameSender } from './alloc-delivery.js';
import { AllocOutputWriter } from './alloc-output-writer.js';
import { applyHostReport, isFinalStatus } from './alloc-reports.js';
import { ClaimTable } from './claims/claim-table.js';
import { PlanApplier } from './claims/plan-applier.js';
import { FleetSync } from './fleet-sync.js';
import { checkSubmittedJob } from './job-authority.js';
import { JobEntry, versionInfoOf, type VersionInfo } from './job-entry.js';
import { evaluateJob, stopOrder, stopWords, type AllocChange, type EvalWorld, type JobSnapshot, type RetryPolicy, type SlotRequest } from './job-evaluation.js';
import { JobQueue } from './job-queue.js';
import { mergeFailures, planView } from './plan-view.js';
import { dryRunPlan } from './dry-run-plan.js';
import { newRecordId, placeSlots } from './slot-placement.js';
import { FleetIndex } from './scheduler/fleet-index.js';
import { PlacementScheduler } from './scheduler/placement-scheduler.js';
import { PurgedLeftovers } from './purged-leftovers.js';
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

/** What an evaluation did, for the submit answer. */
interface EvalOutcome {
  placements: PlannedPlacement[];
  stops: string[];
  failures: PlanFailure[];
  nodesEvaluated: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxReplacements: 5, baseDelayMs: 10_000, maxDelayMs: 300_000 };
const DEFAULT_STOP_CONFIRM_MS = 5 * 60_000;
/** A replica that does not schedule answers reads from a view at most this old (it reads the store again). */
const FOLLOWER_READ_MS = 1000;

/**
 * Workloads on the control plane (issue 10): takes operator-signed jobs, keeps their versions,
 * places their allocations through the scheduler and the plan applier, delivers them to hosts,
 * follows what hosts report, and moves allocations when a GPU turns UNHEALTHY, a node stays
 * OFFLINE past the job's grace, or a node is drained; new versions roll out per `update`.
 *
 * Each job is worked on serially (JobQueue): an evaluation (job-evaluation.ts) decides, this
 * service applies the decision (store first, then memory, then frames). Evaluations run on a
 * submission or stop, after host reports, when a node or GPU changes, and every tick.
 */
export class WorkloadService {
  private readonly table = new JobTable();
  readonly claims = new ClaimTable();
  private readonly index: FleetIndex;
  private readonly fleet: FleetSync;
  private readonly scheduler: PlacementScheduler;
  private readonly applier: PlanApplier;
  private readonly delivery: AllocDelivery;
  private readonly output: AllocOutputWriter;
  private readonly queue: JobQueue;
  private readonly retry: RetryPolicy;
  /** Allocations of purged jobs whose hosts have not confirmed the stop yet (their GPUs stay claimed). */
  private readonly leftovers = new PurgedLeftovers();
  /** Bumped whenever room may have appeared (a node changed, claims were released). */
  private capacityEpoch = 0;
  private startedAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;
  /** Reads the view again when this replica begins a new tenure of the scheduler lease. */
  private readonly tenure: LeaseTenure;
  /** When the view was last read from the store, and a read again in progress on a replica that does not schedule. */
  private readAt = 0;
  private followerRead: Promise<void> | null = null;

  constructor(private readonly o: WorkloadServiceOptions) {
    this.index = new FleetIndex({ claims: this.claims });
    this.fleet = new FleetSync(o.registry, this.index);
    this.scheduler = new PlacementScheduler(this.index, o.random ? { random: o.random } : {});
    this.applier = new PlanApplier({ claims: this.claims, commit: (plan) => o.store.commitPlan(plan), fleet: this.index });
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
    this.retry = o.retry ?? DEFAULT_RETRY;
    this.tenure = new LeaseTenure(o.lease, () => this.takeOver());
  }

  // ---- lifecycle ----

  /** Reads jobs, their live allocations and the GPU claims from the store, and the fleet from the registry. */
  async load(): Promise<void> {
    this.startedAt = this.o.clock.now();
    this.readAt = this.startedAt;
    const followed: AllocationRecord[] = [];
    for (const record of await this.o.store.listJobs()) {
      const entry = new JobEntry(record);
      const current = await this.o.store.getJobVersion(record.name, record.currentVersion);
      const info = current ? versionInfoOf(current) : null;
      if (!info) {
        this.o.log.warn({ job: record.name, version: record.currentVersion }, 'a stored job has no readable current version; not followed');
        continue;
      }
      entry.versions.set(info.version, info);
      for (const a of await this.o.store.listAllocations({ job: record.name })) if (entry.keeps(a)) this.table.remember(entry, a);
      for (const a of entry.stale()) this.table.forget(entry, a.id);
      followed.push(...entry.allocs.values());
      entry.deployment = (await this.o.store.latestDeployment(record.name)) ?? null;
      entry.lastHealthyVersion = lastHealthyOf(entry.deployment);
      this.table.add(entry);
      await this.ensureVersions(entry);
    }
    this.claims.load(await this.o.store.listGpuClaims(), followed);
    this.fleet.syncAll();
  }

  /**
   * This replica took the scheduler lease over: what the previous holder decided is only in the
   * store, so the view is read again; then every host is handed its allocations again (a start
   * is idempotent, the host reports its state once more), so reports the previous holder took
   * but never applied come back.
   */
  private async takeOver(): Promise<void> {
    this.o.log.info({}, 'took the scheduler lease over: reading the jobs and allocations again');
    await this.readAgain();
    for (const nodeId of this.table.nodes()) this.resendTo(nodeId);
  }

  private async readAgain(): Promise<void> {
    this.table.clear();
    await this.load();
  }

  /**
   * Resolves once this replica's view is current enough to answer a read: the holder's own view
   * (read again first when its tenure is new); on another replica, which changes nothing, the
   * store read again when the last read is older than FOLLOWER_READ_MS.
   */
  async current(): Promise<void> {
    if (this.o.lease.holds()) return this.tenure.current();
    if (this.o.clock.now() - this.readAt < FOLLOWER_READ_MS) return;
    this.followerRead ??= this.readAgain().finally(() => {
      this.followerRead = null;
    });
    await this.followerRead;
  }

  /** Follows node and GPU changes and evaluates every job each tick. */
  start(): void {
    if (this.timer) return;
    this.unsubscribe = this.o.hub.subscribe((e) => {
      if (e.type !== 'node') return;
      this.fleet.syncNode(e.nodeId);
      this.capacityEpoch++;
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
    void this.tenure.current().catch((err: Error) => this.o.log.warn({ err: err.message }, 'could not read the jobs again after taking the scheduler lease'));
    const stopConfirmMs = this.o.stopConfirmMs ?? DEFAULT_STOP_CONFIRM_MS;
    for (const l of this.leftovers.olderThan(stopConfirmMs, this.o.clock.now())) this.endLeftover(l.allocId);
    for (const entry of this.table.entries()) {
      if (entry.allocs.size > 0 || entry.unplaced.length > 0 || entry.deployment?.state === 'running') this.kick(entry.name, 0);
    }
  }

  /** Evaluates every job now, each after the work queued for it, and resolves when all are done. */
  async evaluateAll(): Promise<void> {
    await Promise.all(this.table.names().map((job) => this.queue.run(job, () => this.evaluateNamed(job))));
  }

  // ---- operator actions ----

  /** Parses a job file: the normalized spec the browser signs, and its hash. */
  parse(source: string): { spec: JobSpec; specHash: string } {
    const spec = parseJobFile(source);
    return { spec, specHash: jobSpecHash(spec) };
  }

  /**
   * Takes a signed job: a new version when its spec differs from the current one (created), then
   * places what it needs now. The answer's plan is what this submission did.
   */
  async submit(input: SubmitJobRequest, actor: string): Promise<{ created: boolean; version: number; plan: PlanView }> {
    this.requireScheduler();
    await this.tenure.current();
    const now = this.o.clock.now();
    const signed = checkSubmittedJob(input.signed, {
      roots: () => this.o.trust.currentRoots(),
      isRevoked: (capId, did) => this.o.trust.isRevoked(capId, did),
      now,
      futureSkewMs: this.o.futureSkewMs ?? 5 * 60_000,
    });
    const spec = signed.payload.job;
    const specHash = jobSpecHash(spec);
    checkStartFrameSize(signed);
    return this.queue.run(spec.name, async () => {
      let entry = this.table.get(spec.name);
      if (entry && entry.current().specHash === specHash) {
        // The same spec: no new version; a stopped job runs again.
        if (entry.record.state === 'stopped') await this.reactivate(entry, now);
        entry.blockedEpoch = null;
        const outcome = await this.evaluate(entry);
        return { created: false, version: entry.record.currentVersion, plan: this.planOf(entry, outcome) };
      }
      const previous = entry?.record.currentVersion ?? null;
      const version = await this.o.store.addJobVersion({
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
      const record = await this.o.store.getJob(spec.name);
      const stored = await this.o.store.getJobVersion(spec.name, version);
      const info = stored ? versionInfoOf(stored) : null;
      if (!record || !info) throw new FleetError('internal', `job ${spec.name} version ${version} was stored but cannot be read back`);
      if (!entry) {
        entry = new JobEntry(record);
        this.table.add(entry);
      } else entry.record = record;
      entry.versions.set(version, info);
      await this.refreshVersionStatuses(entry);
      if (entry.deployment?.state === 'running') {
        // Superseded before it settled: its version still counts as healthy if every slot of it runs healthy now.
        if (entry.deployment.toVersion === previous && this.allHealthy(entry, previous)) entry.lastHealthyVersion = previous;
        await this.saveDeployment(entry, { ...entry.deployment, state: 'failed', message: `superseded by version ${version}`, finishedAt: now });
      }
      await this.saveDeployment(entry, {
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
      const outcome = await this.evaluate(entry);
      this.o.hub.publish({ type: 'workload', change: 'job', job: spec.name });
      return { created: true, version, plan: this.planOf(entry, outcome) };
    });
  }

  /** Stops every allocation of a job (the job stays, stopped); with purge, forgets it. */
  async stopJob(name: string, opts: { purge?: boolean; reason?: string }, actor: string): Promise<{ purged: boolean }> {
    this.requireScheduler();
    await this.tenure.current();
    if (!this.table.has(name)) throw new FleetError('not_found', `no job '${name}'`);
    return this.queue.run(name, async () => {
      const entry = this.table.get(name);
      if (!entry) throw new FleetError('not_found', `no job '${name}'`);
      const now = this.o.clock.now();
      const why = `${stopWords('job_stopped')} by ${actor}${opts.reason ? `: ${opts.reason}` : ''}`;
      if (entry.record.state !== 'stopped') {
        await this.o.store.updateJob(name, { state: 'stopped', stoppedAt: now, updatedAt: now });
        entry.record = { ...entry.record, state: 'stopped', stoppedAt: now, updatedAt: now };
      }
      const world = this.world(now);
      for (const a of [...entry.allocs.values()]) {
        if (a.desired === 'run' && !isFinalStatus(a.status)) await this.applyChange(entry, stopOrder(a, 'job_stopped', world, null, why));
      }
      await this.evaluate(entry);
      if (opts.purge) {
        await this.o.store.purgeJob(name);
        for (const a of [...entry.allocs.values()]) {
          const spec = entry.versions.get(a.jobVersion);
          // Still on its host: its GPUs stay claimed until the host confirms (see PurgedLeftovers).
          if (!isFinalStatus(a.status) && spec && this.delivery.maybeDelivered(a.id)) {
            this.leftovers.add({ allocId: a.id, nodeId: a.nodeId, specHash: spec.specHash, reason: a.message || why, since: now });
          } else this.claims.release(a.id);
          this.output.forget(a.id);
          this.table.forget(entry, a.id);
        }
        this.capacityEpoch++;
        this.table.delete(name);
      }
      this.o.hub.publish({ type: 'workload', change: 'job', job: name });
      return { purged: opts.purge === true };
    });
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

  // ---- what hosts say ----

  /**
   * An `alloc-state` event (stored already): the allocation follows its host's word. Store
   * failures reject (the item is resent). Only the scheduler's holder applies it: another
   * replica's view of the jobs may be behind (it would take a job submitted since it started for
   * a purged one and stop it); the report reaches the holder through the replica bridge.
   */
  async onHostReport(record: AgentEventRecord): Promise<void> {
    if (!this.o.lease.holds()) return;
    await this.tenure.current();
    const parsed = AllocStateData.safeParse(record.data);
    if (!parsed.success) {
      this.o.log.warn({ nodeId: record.nodeId, id: record.id }, 'an alloc-state event without valid data; ignored');
      return;
    }
    const d = parsed.data;
    // Ids are ours (ALLOC_ID); anything else names no allocation and is not worth a store read.
    const job = this.table.jobOf(d.allocId) ?? (ALLOC_ID.test(d.allocId) ? (await this.o.store.getAllocation(d.allocId))?.job : undefined);
    const entry = job === undefined ? undefined : this.table.get(job);
    if (!entry) {
      // Nothing the server wants: a job purged while its host was away. Tell a host that runs it to stop.
      const live = ['starting', 'running', 'restarting'].includes(d.state);
      const leftover = this.leftovers.get(d.allocId);
      if (leftover && leftover.nodeId === record.nodeId && !live) this.endLeftover(d.allocId);
      else if (live && d.specHash !== null && /^[0-9a-f]{64}$/.test(d.specHash)) {
        this.delivery.stop({ id: d.allocId, nodeId: record.nodeId }, d.specHash, 'the control plane does not know this allocation (its job was purged)');
      }
      return;
    }
    await this.queue.run(entry.name, async () => {
      const a = entry.allocs.get(d.allocId) ?? (await this.o.store.getAllocation(d.allocId));
      if (!a) return;
      if (a.nodeId !== record.nodeId) {
        this.o.log.warn({ nodeId: record.nodeId, allocId: a.id, allocNode: a.nodeId }, 'a host reported on an allocation of another node; ignored');
        return;
      }
      const version = entry.versions.get(a.jobVersion);
      if (d.specHash !== null && version && d.specHash !== version.specHash) {
        // The host speaks of another spec under this id (e.g. it refused a conflicting start while it runs ours): not a change of ours.
        this.o.log.warn({ nodeId: record.nodeId, allocId: a.id, state: d.state }, 'a host reported on an allocation under another spec hash; ignored');
        return;
      }
      const now = this.o.clock.now();
      const outcome = applyHostReport(a, d, now);
      if (outcome.patch) await this.applyChange(entry, { alloc: a, patch: outcome.patch, ends: outcome.ends, stopReason: null });
      if (outcome.restop) {
        const v = entry.versions.get(a.jobVersion);
        if (v) this.delivery.stop(a, v.specHash, a.message || stopWords(a.stopCause ?? 'operator'));
      }
    });
    this.kick(entry.name);
  }

  /** An `alloc-output` event: stored as the allocation's output (resolves once stored). */
  async onHostOutput(record: AgentEventRecord): Promise<void> {
    const parsed = AllocOutputData.safeParse(record.data);
    if (!parsed.success) {
      this.o.log.warn({ nodeId: record.nodeId, id: record.id }, 'an alloc-output event without valid data; ignored');
      return;
    }
    const d = parsed.data;
    if (!ALLOC_ID.test(d.allocId)) return;
    const a = this.table.jobOf(d.allocId) === undefined ? await this.o.store.getAllocation(d.allocId) : this.table.followed(d.allocId);
    // Output of an allocation the server does not know, or of another node's, is not kept.
    if (!a || a.nodeId !== record.nodeId) return;
    await this.output.write({ allocId: d.allocId, stream: d.stream, chunk: d.chunk, data: d.data, at: record.ts });
  }

  /** Gateway hook (or the replica bridge): a host is connected again; the scheduler's holder resends what it must run and stop. */
  onSessionReady(nodeId: string): void {
    if (!this.o.lease.holds()) return;
    this.resendTo(nodeId);
  }

  private resendTo(nodeId: string): void {
    if (this.leftovers.size > 0) for (const l of this.leftovers.onNode(nodeId)) this.delivery.stop({ id: l.allocId, nodeId }, l.specHash, l.reason);
    for (const id of this.table.allocsOn(nodeId)) {
      const entry = this.table.entryOf(id);
      const a = entry?.allocs.get(id);
      const v = a ? entry?.versions.get(a.jobVersion) : undefined;
      if (!a || !v) continue;
      if (a.desired === 'run' && !isFinalStatus(a.status)) this.delivery.start(a, v.signed);
      else if (a.desired === 'stop' && (a.status === 'stopping' || a.status === 'lost' || a.status === 'pending')) {
        this.delivery.stop(a, v.specHash, a.message || stopWords(a.stopCause ?? 'operator'));
      }
    }
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
    const out: PendingSlots[] = [];
    for (const entry of this.table.entries()) {
      if (entry.unplaced.length === 0 || entry.record.stoppedAt !== null) continue;
      const spec = entry.versions.get(entry.record.currentVersion)?.placeSpec;
      if (!spec) continue;
      for (const failure of entry.unplaced) {
        const group = spec.allocations[failure.group];
        if (!group || failure.unplaced <= 0) continue;
        out.push({
          job: entry.name,
          group: failure.group,
          count: failure.unplaced,
          gpusPerSlot: group.resources.gpus,
          gpuModels: group.resources.gpu_model ?? [],
          gpuMemoryMinBytes: group.resources.gpu_memory_min ?? 0,
          constraints: spec.constraints,
          since: entry.blockedAt,
        });
      }
    }
    return out;
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

  // ---- evaluation ----

  private kick(job: string | undefined, delayMs = 10): void {
    if (job === undefined || !this.table.has(job)) return;
    this.queue.kick(job, () => this.evaluateNamed(job), delayMs);
  }

  /** Job changes go to the replica that schedules: another one's view of the jobs may be behind. */
  private requireScheduler(): void {
    if (!this.o.lease.holds())
      throw new FleetError(
        'failed_precondition',
        'this replica does not run the workload scheduler: send job changes to the replica holding the scheduler lease (gpufleet replicas ls, LEASES column)',
      );
  }

  private async evaluateNamed(job: string): Promise<void> {
    // Only the scheduler places: two replicas evaluating one job would both place its allocations.
    if (!this.o.lease.holds()) return;
    await this.tenure.current();
    const entry = this.table.get(job);
    if (entry) await this.evaluate(entry);
  }

  private world(now: number): EvalWorld {
    const { registry } = this.o;
    return {
      now,
      node: (nodeId) => {
        const node = registry.get(nodeId);
        if (!node) return { status: 'UNKNOWN', lastSeen: null };
        // The server's own downtime is not the node's: offline time counts from this server's start at the earliest.
        return { status: registry.status(node), lastSeen: Math.max(registry.lastSeen(nodeId) ?? 0, this.startedAt) };
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
      maybeDelivered: (id) => this.delivery.maybeDelivered(id),
      stopConfirmMs: this.o.stopConfirmMs ?? DEFAULT_STOP_CONFIRM_MS,
      retry: this.retry,
    };
  }

  /** Evaluates the job and applies the decision; a revert makes another version current and evaluates again. */
  private async evaluate(entry: JobEntry): Promise<EvalOutcome> {
    const outcome: EvalOutcome = { placements: [], stops: [], failures: [], nodesEvaluated: 0 };
    for (let pass = 0; pass < 3; pass++) {
      await this.ensureVersions(entry);
      const now = this.o.clock.now();
      const decision = evaluateJob(this.snapshot(entry), this.world(now));
      for (const c of decision.changes) {
        if (c.alloc.desired === 'run' && c.patch.desired === 'stop' && !isFinalStatus(c.alloc.status))
          outcome.stops.push(allocName(c.alloc.group, c.alloc.index));
        await this.applyChange(entry, c);
      }
      if (decision.deployment) await this.saveDeployment(entry, decision.deployment);
      if (decision.revert) {
        await this.revert(entry, decision.revert, now);
        continue;
      }
      entry.exhausted = decision.exhausted;
      await this.place(entry, decision.places, outcome, now);
      break;
    }
    for (const a of entry.stale()) this.table.forget(entry, a.id);
    return outcome;
  }

  /** Writes one allocation change, then memory, then tells its host (stop) and the hub. */
  private async applyChange(entry: JobEntry, c: AllocChange): Promise<void> {
    const id = c.alloc.id;
    if (c.ends) {
      await this.o.store.endAllocation(id, c.patch);
      this.claims.release(id);
      this.delivery.forget(id);
      this.capacityEpoch++;
    } else await this.o.store.updateAllocation(id, c.patch);
    const next = { ...(entry.allocs.get(id) ?? c.alloc), ...c.patch };
    this.table.remember(entry, next);
    if (c.stopReason !== null) {
      const v = entry.versions.get(next.jobVersion);
      if (v) this.delivery.stop(next, v.specHash, c.stopReason);
    }
    this.o.hub.publish({ type: 'workload', change: 'allocation', job: entry.name, allocId: id, nodeId: next.nodeId, status: next.status });
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
    if (entry.blockedEpoch === this.capacityEpoch && now - entry.blockedAt < (this.o.blockedRetryMs ?? 30_000)) return;
    const v = entry.current();
    // Never before the deployment's start (which may be a millisecond ahead: see laterThan), so the deployment counts it.
    const createdAt = Math.max(now, entry.deployment?.startedAt ?? now);
    const epoch = this.capacityEpoch;
    const placed = await placeSlots(
      { scheduler: this.scheduler, claims: this.claims, applier: this.applier, gpuName: this.gpuName },
      entry.name,
      v,
      places,
      createdAt,
      (id) => entry.allocs.has(id),
    );
    for (const u of placed.linked) {
      const old = entry.allocs.get(u.id);
      if (old) this.table.remember(entry, { ...old, ...u.patch });
    }
    for (const a of placed.committed) {
      this.table.remember(entry, a);
      this.delivery.start(a, v.signed);
      this.o.hub.publish({ type: 'workload', change: 'allocation', job: entry.name, allocId: a.id, nodeId: a.nodeId, status: a.status });
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

  /** Whether every slot of the job has an allocation of `version` running and healthy (or running, without a check). */
  private allHealthy(entry: JobEntry, version: number): boolean {
    const spec = entry.versions.get(version)?.spec;
    if (!spec) return false;
    const healthy = new Set<string>();
    for (const a of entry.allocs.values()) {
      if (a.desired === 'run' && a.jobVersion === version && a.status === 'running' && a.healthySince !== null) healthy.add(allocName(a.group, a.index));
    }
    for (const [group, g] of Object.entries(spec.allocations)) for (let i = 0; i < g.count; i++) if (!healthy.has(allocName(group, i))) return false;
    return true;
  }

  /** A purged job's allocation ended on its host (or was waited for long enough): its GPUs are free. */
  private endLeftover(allocId: string): void {
    const l = this.leftovers.get(allocId);
    if (!l) return;
    this.leftovers.delete(allocId);
    this.claims.release(allocId);
    this.capacityEpoch++;
    for (const entry of this.table.entries()) if (entry.unplaced.length > 0) this.kick(entry.name);
  }

  private async saveDeployment(entry: JobEntry, d: DeploymentRecord): Promise<void> {
    await this.o.store.upsertDeployment(d);
    entry.deployment = d;
    if (d.state === 'succeeded' || d.state === 'reverted') entry.lastHealthyVersion = d.toVersion;
  }

  /** An update failed with auto_revert: its version is marked reverted and the last healthy one is current again. */
  private async revert(entry: JobEntry, r: { from: number; to: number; reason: string }, now: number): Promise<void> {
    await this.o.store.setJobVersionStatus(entry.name, r.from, 'reverted');
    await this.o.store.updateJob(entry.name, { currentVersion: r.to, updatedAt: now });
    const record = await this.o.store.getJob(entry.name);
    if (record) entry.record = record;
    await this.ensureVersions(entry);
    await this.refreshVersionStatuses(entry);
    await this.saveDeployment(entry, {
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
    this.o.log.info({ job: entry.name, from: r.from, to: r.to, reason: r.reason }, 'rolling update failed; reverted');
    this.o.hub.publish({ type: 'workload', change: 'job', job: entry.name });
  }

  private async reactivate(entry: JobEntry, now: number): Promise<void> {
    await this.o.store.updateJob(entry.name, { state: 'active', stoppedAt: null, updatedAt: now });
    entry.record = { ...entry.record, state: 'active', stoppedAt: null, updatedAt: now };
    entry.exhausted = [];
  }

  /** Loads every version the job's allocations, current version and deployment name. */
  private async ensureVersions(entry: JobEntry): Promise<void> {
    const wanted = new Set<number>([entry.record.currentVersion]);
    for (const a of entry.allocs.values()) wanted.add(a.jobVersion);
    if (entry.deployment?.fromVersion != null) wanted.add(entry.deployment.fromVersion);
    for (const v of wanted) {
      if (entry.versions.has(v)) continue;
      const stored = await this.o.store.getJobVersion(entry.name, v);
      const info = stored ? versionInfoOf(stored) : null;
      if (info) entry.versions.set(v, info);
      else this.o.log.warn({ job: entry.name, version: v }, 'a job version its allocations name cannot be read');
    }
  }

  private async refreshVersionStatuses(entry: JobEntry): Promise<void> {
    for (const record of await this.o.store.listJobVersions(entry.name)) {
      const info: VersionInfo | undefined = entry.versions.get(record.version);
      if (info) info.record = record;
    }
  }

  private planOf(entry: JobEntry, outcome: EvalOutcome): PlanView {
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
}

/** A new deployment's start: now, and after the one before it (the store reads the latest by start time). */
function laterThan(previous: DeploymentRecord | null, now: number): number {
  return previous === null ? now : Math.max(now, previous.startedAt + 1);
}

/**
 * The version a job goes back to when an update fails, read from its latest deployment after a
 * restart: the one it reached, or else the one it started from (taken as healthy).
 */
function lastHealthyOf(d: DeploymentRecord | null): number | null {
  if (d === null) return null;
  return d.state === 'succeeded' || d.state === 'reverted' ? d.toVersion : d.fromVersion;
}
