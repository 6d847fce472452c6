import {
  FleetError,
  matchesSelector,
  parseSelector,
  type AllocationView,
  type AllocStatus,
  type JobDetailView,
  type JobSummaryView,
  type PlanFailure,
} from '@gpufleet/protocol';
import type { Clock } from '../clock.js';
import type { NodeRegistry } from '../services/node-registry.js';
import type { AllocationRecord, WorkloadStore } from '../store/workload-records.js';
import { isFinalStatus } from './alloc-reports.js';
import { allocationView, deploymentView, jobSummaryView, jobVersionView } from './job-views.js';
import type { WorkloadService } from './workload-service.js';

/** The job detail as served: the contract's view, plus why allocations could not be placed. */
export interface JobDetail extends JobDetailView {
  /** Groups the last evaluation found no room for (the plan's failures), and slots that failed for good. */
  placementFailures: PlanFailure[];
  exhausted: string[];
}

export interface AllocationQuery {
  job?: string;
  /** A node id, id prefix or hostname. */
  node?: string;
  /** A label selector over the allocation's node labels. */
  selector?: string;
  status?: AllocStatus;
  active?: boolean;
  limit?: number;
}

export interface AllocOutputItem {
  id: number;
  stream: 'stdout' | 'stderr';
  chunk: number;
  data: string;
  at: string;
}

/** Ended allocations a job detail lists besides the live ones (newest first). */
const ENDED_SHOWN = 100;

/** The read side of workloads: jobs, allocations and their output as the REST API shows them. */
export class WorkloadReads {
  constructor(
    private readonly o: {
      workloads: WorkloadService;
      store: WorkloadStore;
      registry: Pick<NodeRegistry, 'resolve' | 'labelsOf'>;
      clock: Clock;
    },
  ) {}

  async listJobs(): Promise<JobSummaryView[]> {
    await this.o.workloads.current();
    const out: JobSummaryView[] = [];
    for (const entry of this.o.workloads.entries()) {
      out.push(jobSummaryView(entry.record, entry.current().spec, [...entry.allocs.values()], entry.exhausted));
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  async job(name: string): Promise<JobDetail> {
    await this.o.workloads.current();
    const entry = this.o.workloads.entry(name);
    if (!entry) throw new FleetError('not_found', `no job '${name}' (see gpufleet jobs ls)`);
    const current = entry.current();
    const stored = await this.o.store.listAllocations({ job: name });
    // Followed allocations are newer than their stored copy by at most one write.
    const allocs = stored.map((a) => this.o.workloads.followed(a.id) ?? a);
    const live = allocs.filter((a) => a.desired === 'run' || !isFinalStatus(a.status) || a.status === 'lost');
    const ended = allocs
      .filter((a) => !live.includes(a))
      .sort((x, y) => y.updatedAt - x.updatedAt)
      .slice(0, ENDED_SHOWN);
    const shown = [...live, ...ended].sort((x, y) => x.group.localeCompare(y.group) || x.index - y.index || y.createdAt - x.createdAt);
    const versions = await this.o.store.listJobVersions(name);
    const snap = this.o.workloads.snapshot(entry);
    return {
      ...jobSummaryView(entry.record, current.spec, [...entry.allocs.values()], entry.exhausted),
      spec: current.spec,
      source: current.record.source,
      versions: versions.map(jobVersionView),
      allocations: shown.map((a) => allocationView(a, this.o.workloads.gpuName)),
      deployment: entry.deployment ? deploymentView(entry.deployment, snap, this.o.clock.now()) : null,
      placementFailures: entry.unplaced,
      exhausted: entry.exhausted,
    };
  }

  async allocations(q: AllocationQuery): Promise<AllocationView[]> {
    await this.o.workloads.current();
    const selector = q.selector === undefined ? null : parseSelector(q.selector);
    const nodeId = q.node === undefined ? undefined : this.o.registry.resolve(q.node).id;
    if (q.job !== undefined && !this.o.workloads.entry(q.job)) throw new FleetError('not_found', `no job '${q.job}' (see gpufleet jobs ls)`);
    const stored = await this.o.store.listAllocations({
      ...(q.job === undefined ? {} : { job: q.job }),
      ...(nodeId === undefined ? {} : { nodeId }),
      ...(q.active === undefined ? {} : { active: q.active }),
    });
    const out: AllocationView[] = [];
    for (const s of stored) {
      const a = this.o.workloads.followed(s.id) ?? s;
      if (q.status !== undefined && a.status !== q.status) continue;
      if (selector && !matchesSelector(selector, this.o.registry.labelsOf(a.nodeId))) continue;
      out.push(allocationView(a, this.o.workloads.gpuName));
      if (q.limit !== undefined && out.length >= q.limit) break;
    }
    return out;
  }

  async allocation(id: string): Promise<AllocationView> {
    await this.o.workloads.current();
    const a = await this.o.workloads.allocation(id);
    if (!a) throw new FleetError('not_found', `no allocation '${id}'`);
    return allocationView(a, this.o.workloads.gpuName);
  }

  /** An allocation of a job by id, or by name (`web-0`: the newest with that name, a running one first). */
  async jobAllocation(job: string, ref: string): Promise<AllocationView> {
    await this.o.workloads.current();
    if (!this.o.workloads.entry(job)) throw new FleetError('not_found', `no job '${job}' (see gpufleet jobs ls)`);
    const byId = await this.o.workloads.allocation(ref);
    if (byId && byId.job === job) return allocationView(byId, this.o.workloads.gpuName);
    const m = /^(.+)-(\d{1,5})$/.exec(ref);
    if (m) {
      const [, group, index] = m;
      const named = (await this.o.store.listAllocations({ job }))
        .filter((a) => a.group === group && a.index === Number(index))
        .map((a) => this.o.workloads.followed(a.id) ?? a);
      const pick = named.sort((x, y) => rank(y) - rank(x) || y.createdAt - x.createdAt)[0];
      if (pick) return allocationView(pick, this.o.workloads.gpuName);
    }
    throw new FleetError('not_found', `job '${job}' has no allocation '${ref}' (give a name such as web-0, or an allocation id)`);
  }

  /** Stored output of an allocation in arrival order, after `after` (an item id). */
  async output(id: string, q: { after?: number; limit?: number }): Promise<{ items: AllocOutputItem[]; next: number | null }> {
    if (!(await this.o.workloads.allocation(id))) throw new FleetError('not_found', `no allocation '${id}'`);
    await this.o.workloads.flushOutput();
    const limit = q.limit ?? 1000;
    const rows = await this.o.store.listAllocOutput(id, q.after ?? 0, limit);
    return {
      items: rows.map((r) => ({ id: r.id, stream: r.stream, chunk: r.chunk, data: r.data, at: new Date(r.at).toISOString() })),
      next: rows.length === limit ? rows[rows.length - 1]!.id : null,
    };
  }
}

/** Which of several allocations of one name a person means: a wanted, live one first. */
function rank(a: AllocationRecord): number {
  return (a.desired === 'run' ? 2 : 0) + (isFinalStatus(a.status) ? 0 : 1);
}
