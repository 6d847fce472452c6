import { allocName, type PlanFailure, type PlanView, type PlannedPlacement } from '@gpufleet/protocol';
import type { GpuNameOf } from './job-views.js';
import type { Placement } from './scheduler/scheduler-types.js';

/** A scheduler placement as `jobs plan` shows it. */
export function plannedPlacement(p: Placement, gpuName: GpuNameOf): PlannedPlacement {
  return {
    name: allocName(p.request.group, p.request.index),
    group: p.request.group,
    index: p.request.index,
    nodeId: p.nodeId,
    hostname: p.hostname,
    gpus: p.gpus.map((g) => ({ index: g.index, uuid: g.uuid, name: gpuName(p.nodeId, g.index) })),
    score: p.score,
  };
}

/** Failures of the same group from several scheduling passes (placement retried after a race), as one. */
export function mergeFailures(failures: readonly PlanFailure[]): PlanFailure[] {
  const byGroup = new Map<string, PlanFailure>();
  for (const f of failures) {
    const seen = byGroup.get(f.group);
    if (!seen) byGroup.set(f.group, { ...f, rejections: [...f.rejections] });
    else seen.unplaced += f.unplaced;
  }
  return [...byGroup.values()];
}

export function planView(o: {
  job: string;
  version: number | null;
  placements: PlannedPlacement[];
  unchanged: number;
  stops: string[];
  failures: PlanFailure[];
  nodesEvaluated: number;
}): PlanView {
  return { ...o, failures: mergeFailures(o.failures) };
}
