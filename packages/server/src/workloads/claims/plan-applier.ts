import type { AllocationRecord, PlanCommit, PlanConflict } from '../../store/workload-records.js';
import type { SchedNode } from '../scheduler/scheduler-types.js';
import type { ClaimTable } from './claim-table.js';

/** The store's commitPlan: one transaction, refused with the conflicts when a GPU is already claimed. */
export type CommitPlan = (plan: PlanCommit) => Promise<{ ok: true } | { ok: false; conflicts: PlanConflict[] }>;

export interface PlanApplierOptions {
  claims: ClaimTable;
  commit: CommitPlan;
  /** The fleet as the scheduler sees it: with it, node state, GPU state, CPU and memory are re-checked too. */
  fleet?: { get(id: string): SchedNode | undefined };
  /** Commits the database refuses are retried this many times without the conflicting allocations. Default 3. */
  maxRetries?: number;
}

/** A new allocation left out of the commit, to be placed again. */
export interface DroppedPlacement {
  allocation: AllocationRecord;
  /** Why, for logs and plans: "GPU 3 of node n1 is held by allocation a9". */
  reason: string;
  conflicts: PlanConflict[];
}

export interface ApplyResult {
  /** The new allocations written, and what was committed with them; null when nothing was written. */
  committed: AllocationRecord[];
  commit: PlanCommit | null;
  dropped: DroppedPlacement[];
}

function gpuKey(nodeId: string, gpuIndex: number): string {
  return `${nodeId}\u0000${gpuIndex}`;
}

/**
 * Applies plans one at a time, the way Nomad's plan applier does. Plans are computed against the
 * claim table, possibly interleaved with other plans; `apply` re-checks each new allocation
 * against the table as it is now (its GPUs still free, and with the fleet given, its node and
 * GPUs still READY and the CPU and memory still there), drops the ones that raced and returns
 * them for re-planning, commits the rest through the store (the database's claim keys are the
 * last guard), and only after the commit succeeds records the claims in the table.
 */
export class PlanApplier {
  private tail: Promise<unknown> = Promise.resolve();
  private readonly maxRetries: number;

  constructor(private readonly options: PlanApplierOptions) {
    this.maxRetries = options.maxRetries ?? 3;
  }

  /** Queued behind the plans before it; a failed commit (thrown) leaves the table as it was. */
  apply(plan: PlanCommit): Promise<ApplyResult> {
    const run = this.tail.then(() => this.applyNow(plan));
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async applyNow(plan: PlanCommit): Promise<ApplyResult> {
    const dropped: DroppedPlacement[] = [];
    const dropIds = new Set<string>();
    const drop = (allocation: AllocationRecord, reason: string, conflicts: PlanConflict[]) => {
      if (dropIds.has(allocation.id)) return;
      dropIds.add(allocation.id);
      dropped.push({ allocation, reason, conflicts });
    };
    for (const [allocation, why] of this.recheck(plan)) drop(allocation, why.reason, why.conflicts);

    for (let attempt = 0; ; attempt++) {
      const trimmed = this.without(plan, dropIds);
      if (trimmed.inserts.length === 0 && trimmed.updates.length === 0 && trimmed.release.length === 0) {
        return { committed: [], commit: null, dropped };
      }
      const outcome = await this.options.commit(trimmed);
      if (outcome.ok) {
        const { claims } = this.options;
        for (const id of trimmed.release) claims.release(id);
        // The database holds these claims now: the table follows, whatever it believed.
        for (const a of trimmed.inserts) claims.claim(a, { takeOver: true });
        return { committed: trimmed.inserts, commit: trimmed, dropped };
      }
      // Another writer (a replica, a path around this applier) got there first: learn its claims and drop ours.
      const byGpu = new Map(outcome.conflicts.map((c) => [gpuKey(c.nodeId, c.gpuIndex), c]));
      for (const c of outcome.conflicts) this.options.claims.holdGpu(c.nodeId, c.gpuIndex, c.heldBy);
      let droppedNow = 0;
      for (const a of trimmed.inserts) {
        const conflicts = a.gpus.map((g) => byGpu.get(gpuKey(a.nodeId, g.index))).filter((c): c is PlanConflict => c !== undefined);
        if (conflicts.length > 0) {
          drop(a, `the store refused it: ${describe(conflicts[0]!)}`, conflicts);
          droppedNow++;
        }
      }
      if (droppedNow === 0 || attempt >= this.maxRetries) {
        // Nothing we can drop explains the refusal, or it keeps happening: write nothing.
        for (const a of trimmed.inserts) drop(a, 'the store refused the plan', outcome.conflicts);
        return { committed: [], commit: null, dropped };
      }
    }
  }

  /** The new allocations that can no longer go where they were planned, with why. */
  private recheck(plan: PlanCommit): Map<AllocationRecord, { reason: string; conflicts: PlanConflict[] }> {
    const { claims, fleet } = this.options;
    const releasing = new Set(plan.release);
    const takenHere = new Map<string, string>();
    const cpuHere = new Map<string, number>();
    const memoryHere = new Map<string, number>();
    const freed = (nodeId: string, pick: 'cpu' | 'memory') => {
      let sum = 0;
      for (const id of releasing) {
        const hold = claims.held(id);
        if (hold && hold.nodeId === nodeId) sum += hold[pick];
      }
      return sum;
    };
    const out = new Map<AllocationRecord, { reason: string; conflicts: PlanConflict[] }>();
    for (const a of plan.inserts) {
      const conflicts: PlanConflict[] = [];
      for (const g of a.gpus) {
        const holder = takenHere.get(gpuKey(a.nodeId, g.index)) ?? claims.gpuHolder(a.nodeId, g.index);
        if (holder !== null && holder !== a.id && !releasing.has(holder)) conflicts.push({ nodeId: a.nodeId, gpuIndex: g.index, heldBy: holder });
      }
      if (new Set(a.gpus.map((g) => g.index)).size !== a.gpus.length) {
        out.set(a, { reason: 'it names one GPU twice', conflicts });
        continue;
      }
      if (conflicts.length > 0) {
        out.set(a, { reason: describe(conflicts[0]!), conflicts });
        continue;
      }
      if (fleet) {
        const why = this.nodeProblem(a, fleet.get(a.nodeId), {
          cpuLeft: (node) => (node.cpuCores ?? 0) - claims.cpuReserved(a.nodeId) + freed(a.nodeId, 'cpu') - (cpuHere.get(a.nodeId) ?? 0),
          memoryLeft: (node) => (node.memoryBytes ?? 0) - claims.memoryReserved(a.nodeId) + freed(a.nodeId, 'memory') - (memoryHere.get(a.nodeId) ?? 0),
        });
        if (why !== null) {
          out.set(a, { reason: why, conflicts: [] });
          continue;
        }
      }
      for (const g of a.gpus) takenHere.set(gpuKey(a.nodeId, g.index), a.id);
      cpuHere.set(a.nodeId, (cpuHere.get(a.nodeId) ?? 0) + (a.cpu ?? 0));
      memoryHere.set(a.nodeId, (memoryHere.get(a.nodeId) ?? 0) + (a.memory ?? 0));
    }
    return out;
  }

  /** Why the node can no longer take the allocation, or null. */
  private nodeProblem(
    a: AllocationRecord,
    node: SchedNode | undefined,
    left: { cpuLeft: (node: SchedNode) => number; memoryLeft: (node: SchedNode) => number },
  ): string | null {
    if (!node) return `node ${a.nodeId} is no longer in the fleet`;
    if (node.state !== 'READY') return `node ${node.hostname} is ${node.state.toLowerCase()}`;
    for (const g of a.gpus) {
      const gpu = node.gpus.find((x) => x.index === g.index);
      if (!gpu) return `node ${node.hostname} has no GPU ${g.index}`;
      if (g.uuid !== null && gpu.uuid !== null && gpu.uuid !== g.uuid) return `GPU ${g.index} of node ${node.hostname} is now ${gpu.uuid}, not ${g.uuid}`;
      if (gpu.state !== 'READY') return `GPU ${g.index} of node ${node.hostname} is ${gpu.state.toLowerCase()}`;
    }
    if (a.cpu !== null && (node.cpuCores === null || left.cpuLeft(node) < a.cpu - 1e-9)) return `node ${node.hostname} no longer has ${a.cpu} free CPU cores`;
    if (a.memory !== null && (node.memoryBytes === null || left.memoryLeft(node) < a.memory)) return `node ${node.hostname} no longer has the memory`;
    return null;
  }

  /**
   * The plan without the dropped allocations. An update that links an existing allocation to a
   * dropped one (`replacedBy`) loses the link but keeps the rest (the old allocation is still
   * lost or stopping); the caller places the dropped one again and links it then.
   */
  private without(plan: PlanCommit, dropIds: ReadonlySet<string>): PlanCommit {
    if (dropIds.size === 0) return plan;
    const updates: PlanCommit['updates'] = [];
    for (const u of plan.updates) {
      if (u.patch.replacedBy == null || !dropIds.has(u.patch.replacedBy)) {
        updates.push(u);
        continue;
      }
      const { replacedBy: _, ...rest } = u.patch;
      if (Object.keys(rest).length > 0) updates.push({ id: u.id, patch: rest });
    }
    return { inserts: plan.inserts.filter((a) => !dropIds.has(a.id)), updates, release: plan.release };
  }
}

function describe(c: PlanConflict): string {
  return `GPU ${c.gpuIndex} of node ${c.nodeId} is held by allocation ${c.heldBy}`;
}
