import type { AllocationRecord } from '../store/workload-records.js';
import type { JobEntry } from './job-entry.js';

/**
 * The jobs a workload service follows, with their live allocations indexed by id and by node:
 * each entry holds its allocations, and remember/forget keep the two indexes in step with it.
 */
export class JobTable {
  private readonly jobs = new Map<string, JobEntry>();
  /** Allocation id -> job name, for every allocation followed. */
  private readonly allocJob = new Map<string, string>();
  /** Node id -> allocations followed on it. */
  private readonly nodeAllocs = new Map<string, Set<string>>();

  get(name: string): JobEntry | undefined {
    return this.jobs.get(name);
  }

  has(name: string): boolean {
    return this.jobs.has(name);
  }

  add(entry: JobEntry): void {
    this.jobs.set(entry.name, entry);
  }

  /** Drops a job (its allocations are forgotten one by one before). */
  delete(name: string): void {
    this.jobs.delete(name);
  }

  names(): string[] {
    return [...this.jobs.keys()];
  }

  entries(): IterableIterator<JobEntry> {
    return this.jobs.values();
  }

  /** The name of the job an allocation belongs to, when it is followed. */
  jobOf(allocId: string): string | undefined {
    return this.allocJob.get(allocId);
  }

  /** The entry following an allocation. */
  entryOf(allocId: string): JobEntry | undefined {
    const job = this.allocJob.get(allocId);
    return job === undefined ? undefined : this.jobs.get(job);
  }

  /** A followed allocation as last known here. */
  followed(allocId: string): AllocationRecord | undefined {
    return this.entryOf(allocId)?.allocs.get(allocId);
  }

  /** Ids of the allocations followed on a node (a copy: callers may forget while they walk it). */
  allocsOn(nodeId: string): string[] {
    return [...(this.nodeAllocs.get(nodeId) ?? [])];
  }

  /** Nodes with a followed allocation. */
  nodes(): string[] {
    return [...this.nodeAllocs.keys()];
  }

  remember(entry: JobEntry, a: AllocationRecord): void {
    entry.allocs.set(a.id, a);
    this.allocJob.set(a.id, entry.name);
    let onNode = this.nodeAllocs.get(a.nodeId);
    if (!onNode) this.nodeAllocs.set(a.nodeId, (onNode = new Set()));
    onNode.add(a.id);
  }

  forget(entry: JobEntry, id: string): void {
    const a = entry.allocs.get(id);
    entry.allocs.delete(id);
    this.allocJob.delete(id);
    if (!a) return;
    const onNode = this.nodeAllocs.get(a.nodeId);
    onNode?.delete(id);
    if (onNode?.size === 0) this.nodeAllocs.delete(a.nodeId);
  }

  clear(): void {
    this.jobs.clear();
    this.allocJob.clear();
    this.nodeAllocs.clear();
  }
}
