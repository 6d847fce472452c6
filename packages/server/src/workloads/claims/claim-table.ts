import { type AllocStatus, type AssignedGpu, FleetError } from '@gpufleet/protocol';
import type { AllocationRecord, GpuClaimRecord, PlanConflict } from '../../store/workload-records.js';
import type { JobClaimChange, ObservableClaims } from '../scheduler/scheduler-types.js';

/** Statuses after which an allocation holds nothing (its GPU claims are released in the store too). */
export const FINAL_ALLOC_STATUSES: readonly AllocStatus[] = ['failed', 'complete', 'refused', 'stopped', 'lost'];

/** Whether the allocation still holds its GPUs, CPU and memory. */
export function holdsResources(allocation: Pick<AllocationRecord, 'status'>): boolean {
  return !FINAL_ALLOC_STATUSES.includes(allocation.status);
}

/** What one allocation holds, as the table needs it to release it. */
export interface AllocHold {
  allocId: string;
  nodeId: string;
  /** Null for a claim the table learnt of without its allocation (a conflict the database reported). */
  job: string | null;
  gpuIndexes: number[];
  cpu: number;
  memory: number;
}

/** What a claim takes: an allocation record has every field. */
export type ClaimInput = Pick<AllocationRecord, 'id' | 'job' | 'nodeId' | 'gpus' | 'cpu' | 'memory'>;

interface NodeClaims {
  gpus: Map<number, string>;
  cpu: number;
  memory: number;
}

/**
 * Who holds what, in memory: node GPU -> allocation, CPU and memory reserved per node, and each
 * job's allocations per node. Loaded from the store's claims and live allocations at start; the
 * plan applier claims after each commit and the workload service releases when an allocation
 * ends. The scheduler reads it (ClaimView); the fleet index follows its changes.
 */
export class ClaimTable implements ObservableClaims {
  private readonly nodes = new Map<string, NodeClaims>();
  private readonly holds = new Map<string, AllocHold>();
  private readonly jobs = new Map<string, Map<string, number>>();
  private readonly listeners = new Set<(nodeId: string) => void>();
  private readonly jobListeners = new Set<(change: JobClaimChange | null) => void>();

  /** Replaces everything with the store's view: GPU claims as stored, CPU, memory and job counts from live allocations. */
  load(claims: readonly GpuClaimRecord[], allocations: readonly AllocationRecord[]): void {
    const before = [...this.nodes.keys()];
    this.nodes.clear();
    this.holds.clear();
    this.jobs.clear();
    for (const c of claims) this.hold(c.allocId, c.nodeId, null).gpuIndexes.push(c.gpuIndex);
    for (const c of claims) this.node(c.nodeId).gpus.set(c.gpuIndex, c.allocId);
    for (const a of allocations) {
      if (!holdsResources(a)) continue;
      const hold = this.hold(a.id, a.nodeId, a.job);
      this.reserve(hold, a.cpu ?? 0, a.memory ?? 0);
    }
    for (const id of new Set([...before, ...this.nodes.keys()])) this.changed(id);
    for (const listener of this.jobListeners) listener(null);
  }

  /**
   * Records what an allocation holds. Throws FleetError('conflict') when another allocation holds
   * one of its GPUs, taking nothing, unless `takeOver` (the database has already committed it:
   * the table was behind). Claiming an allocation the table holds replaces what it held.
   */
  claim(input: ClaimInput, options: { takeOver?: boolean } = {}): void {
    if (!options.takeOver) {
      const conflicts = this.conflictsOf(input.nodeId, input.gpus, input.id);
      if (conflicts.length > 0) {
        const c = conflicts[0]!;
        throw new FleetError('conflict', `GPU ${c.gpuIndex} of node ${c.nodeId} is held by allocation ${c.heldBy}`, { details: conflicts });
      }
    }
    if (this.holds.has(input.id)) this.drop(input.id);
    const node = this.node(input.nodeId);
    for (const g of input.gpus) {
      const previous = node.gpus.get(g.index);
      if (previous !== undefined && previous !== input.id) this.forgetGpu(previous, g.index);
      node.gpus.set(g.index, input.id);
    }
    const hold = this.hold(input.id, input.nodeId, input.job);
    hold.gpuIndexes = input.gpus.map((g) => g.index);
    this.reserve(hold, input.cpu ?? 0, input.memory ?? 0);
    this.changed(input.nodeId);
  }

  /** Notes a GPU held by an allocation the table did not know of (a conflict the database reported). */
  holdGpu(nodeId: string, gpuIndex: number, allocId: string): void {
    const node = this.node(nodeId);
    const previous = node.gpus.get(gpuIndex);
    if (previous === allocId) return;
    if (previous !== undefined) this.forgetGpu(previous, gpuIndex);
    node.gpus.set(gpuIndex, allocId);
    const hold = this.hold(allocId, nodeId, null);
    if (!hold.gpuIndexes.includes(gpuIndex)) hold.gpuIndexes.push(gpuIndex);
    this.changed(nodeId);
  }

  /** Frees what the allocation held; false when it held nothing. */
  release(allocId: string): boolean {
    const hold = this.holds.get(allocId);
    if (!hold) return false;
    this.drop(allocId);
    this.changed(hold.nodeId);
    return true;
  }

  /** The GPUs of `gpus` on the node held by an allocation other than `except`. */
  conflictsOf(nodeId: string, gpus: readonly AssignedGpu[], except?: string): PlanConflict[] {
    const node = this.nodes.get(nodeId);
    if (!node) return [];
    const out: PlanConflict[] = [];
    for (const g of gpus) {
      const holder = node.gpus.get(g.index);
      if (holder !== undefined && holder !== except) out.push({ nodeId, gpuIndex: g.index, heldBy: holder });
    }
    return out;
  }

  held(allocId: string): Readonly<AllocHold> | undefined {
    return this.holds.get(allocId);
  }

  /** Allocations holding something. */
  get size(): number {
    return this.holds.size;
  }

  gpuHolder(nodeId: string, gpuIndex: number): string | null {
    return this.nodes.get(nodeId)?.gpus.get(gpuIndex) ?? null;
  }

  cpuReserved(nodeId: string): number {
    return this.nodes.get(nodeId)?.cpu ?? 0;
  }

  memoryReserved(nodeId: string): number {
    return this.nodes.get(nodeId)?.memory ?? 0;
  }

  jobAllocsOnNode(job: string, nodeId: string): number {
    return this.jobs.get(job)?.get(nodeId) ?? 0;
  }

  jobNodes(job: string): ReadonlyMap<string, number> {
    return this.jobs.get(job) ?? new Map();
  }

  onNodeChange(listener: (nodeId: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onJobChange(listener: (change: JobClaimChange | null) => void): () => void {
    this.jobListeners.add(listener);
    return () => this.jobListeners.delete(listener);
  }

  private node(nodeId: string): NodeClaims {
    let node = this.nodes.get(nodeId);
    if (!node) {
      node = { gpus: new Map(), cpu: 0, memory: 0 };
      this.nodes.set(nodeId, node);
    }
    return node;
  }

  /** The allocation's hold, created empty; a job learnt later is counted then. */
  private hold(allocId: string, nodeId: string, job: string | null): AllocHold {
    let hold = this.holds.get(allocId);
    if (!hold) {
      hold = { allocId, nodeId, job: null, gpuIndexes: [], cpu: 0, memory: 0 };
      this.holds.set(allocId, hold);
    }
    if (hold.job === null && job !== null) {
      hold.job = job;
      let perNode = this.jobs.get(job);
      if (!perNode) {
        perNode = new Map();
        this.jobs.set(job, perNode);
      }
      perNode.set(hold.nodeId, (perNode.get(hold.nodeId) ?? 0) + 1);
      this.jobChanged(job, hold.nodeId, 1);
    }
    return hold;
  }

  private reserve(hold: AllocHold, cpu: number, memory: number): void {
    const node = this.node(hold.nodeId);
    node.cpu += cpu - hold.cpu;
    node.memory += memory - hold.memory;
    hold.cpu = cpu;
    hold.memory = memory;
  }

  /** Removes a hold and everything it counted, without telling anyone. */
  private drop(allocId: string): void {
    const hold = this.holds.get(allocId)!;
    this.holds.delete(allocId);
    const node = this.nodes.get(hold.nodeId);
    if (node) {
      for (const index of hold.gpuIndexes) if (node.gpus.get(index) === allocId) node.gpus.delete(index);
      node.cpu -= hold.cpu;
      node.memory -= hold.memory;
      // Float sums of fractional cores drift; nothing held means exactly nothing.
      if (Math.abs(node.cpu) < 1e-9) node.cpu = 0;
      if (node.gpus.size === 0 && node.cpu === 0 && node.memory === 0) this.nodes.delete(hold.nodeId);
    }
    if (hold.job !== null) {
      const perNode = this.jobs.get(hold.job)!;
      const n = (perNode.get(hold.nodeId) ?? 0) - 1;
      if (n > 0) perNode.set(hold.nodeId, n);
      else perNode.delete(hold.nodeId);
      if (perNode.size === 0) this.jobs.delete(hold.job);
      this.jobChanged(hold.job, hold.nodeId, -1);
    }
  }

  /** Another allocation took this GPU over (the database said so): the old holder no longer lists it. */
  private forgetGpu(allocId: string, gpuIndex: number): void {
    const hold = this.holds.get(allocId);
    if (hold) hold.gpuIndexes = hold.gpuIndexes.filter((i) => i !== gpuIndex);
  }

  private jobChanged(job: string, nodeId: string, delta: number): void {
    for (const listener of this.jobListeners) listener({ job, nodeId, delta });
  }

  private changed(nodeId: string): void {
    for (const listener of this.listeners) listener(nodeId);
  }
}
