import { randomBytes } from 'node:crypto';
import type { PlanFailure, PlannedPlacement } from '@gpufleet/protocol';
import type { AllocationRecord, PlanCommit } from '../store/workload-records.js';
import type { PlanApplier } from './claims/plan-applier.js';
import type { VersionInfo } from './job-entry.js';
import type { SlotRequest } from './job-evaluation.js';
import type { GpuNameOf } from './job-views.js';
import { plannedPlacement } from './plan-view.js';
import type { ClaimView, PlacementRequest, Scheduler } from './scheduler/scheduler-types.js';

/** A new id for an allocation or a deployment: 16 URL-safe characters (fits ALLOC_ID). */
export function newRecordId(): string {
  return randomBytes(12).toString('base64url');
}

export interface SlotPlacementDeps {
  scheduler: Scheduler;
  claims: ClaimView;
  applier: Pick<PlanApplier, 'apply'>;
  gpuName: GpuNameOf;
}

export interface PlacedSlots {
  /** The new allocations, committed with their claims. */
  committed: AllocationRecord[];
  /** The links committed with them (`replacedBy` on the allocations they replace). */
  linked: PlanCommit['updates'];
  /** What `jobs plan` shows of them. */
  planned: PlannedPlacement[];
  /** Groups with allocations that found no node (why), and allocations that kept losing races. */
  failures: PlanFailure[];
  /** Whether the scheduler found no room for some (not merely lost a race). */
  noRoom: boolean;
  nodesEvaluated: number;
}

/**
 * Places slots of one version: schedules them against the claim table, builds their allocations,
 * commits them through the plan applier (which re-checks and lets the store's claims decide) and
 * schedules again, at most three times, the ones that lost a race to another plan.
 * `replacing(id)` says whether an allocation a new one replaces is still followed (then it is
 * linked to it in the same commit).
 */
export async function placeSlots(
  d: SlotPlacementDeps,
  job: string,
  version: VersionInfo,
  places: readonly SlotRequest[],
  createdAt: number,
  replacing: (allocId: string) => boolean,
): Promise<PlacedSlots> {
  const out: PlacedSlots = { committed: [], linked: [], planned: [], failures: [], noRoom: false, nodesEvaluated: 0 };
  let pending = [...places];
  for (let attempt = 0; attempt < 3 && pending.length > 0; attempt++) {
    const slots = new Map<PlacementRequest, SlotRequest>();
    const requests = pending.map((s) => {
      const r: PlacementRequest = { job: version.placeSpec, group: s.group, index: s.index, ...(s.avoid.length > 0 ? { avoid: s.avoid } : {}) };
      slots.set(r, s);
      return r;
    });
    const result = d.scheduler.schedule(requests, d.claims);
    out.nodesEvaluated += result.nodesEvaluated;
    out.failures.push(...result.failures);
    if (result.failures.length > 0) out.noRoom = true;
    if (result.placements.length === 0) return out;
    const planned = new Map<string, PlannedPlacement>();
    const inserts = result.placements.map((p): AllocationRecord => {
      const slot = slots.get(p.request)!;
      const a: AllocationRecord = {
        id: newRecordId(),
        job,
        jobVersion: version.version,
        group: slot.group,
        index: slot.index,
        nodeId: p.nodeId,
        hostname: p.hostname,
        desired: 'run',
        status: 'pending',
        healthy: null,
        healthySince: null,
        restarts: 0,
        exitCode: null,
        message: '',
        gpus: p.gpus,
        cpu: p.cpu,
        memory: p.memory,
        replaces: slot.replaces,
        replacedBy: null,
        stopCause: null,
        createdAt,
        updatedAt: createdAt,
      };
      planned.set(a.id, plannedPlacement(p, d.gpuName));
      return a;
    });
    const updates = inserts.filter((a) => a.replaces !== null && replacing(a.replaces)).map((a) => ({ id: a.replaces!, patch: { replacedBy: a.id } }));
    const applied = await d.applier.apply({ inserts, updates, release: [] });
    out.linked.push(...(applied.commit?.updates ?? []));
    for (const a of applied.committed) {
      out.committed.push(a);
      out.planned.push(planned.get(a.id)!);
    }
    pending = applied.dropped.map((x) => ({ group: x.allocation.group, index: x.allocation.index, replaces: x.allocation.replaces, avoid: [] }));
  }
  if (pending.length > 0) {
    const groups = new Map<string, number>();
    for (const s of pending) groups.set(s.group, (groups.get(s.group) ?? 0) + 1);
    for (const [group, n] of groups)
      out.failures.push({
        group,
        unplaced: n,
        rejections: [],
        message: `${n} allocation(s) kept losing races with other placements; placed again on the next evaluation`,
      });
  }
  return out;
}
