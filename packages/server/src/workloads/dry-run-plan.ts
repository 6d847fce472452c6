import { allocName, jobSpecHash, type JobSpec, type PlanView } from '@gpufleet/protocol';
import { isFinalStatus } from './alloc-reports.js';
import type { ClaimTable } from './claims/claim-table.js';
import { ClaimsWithout } from './claims-without.js';
import type { JobEntry } from './job-entry.js';
import type { GpuNameOf } from './job-views.js';
import { plannedPlacement, planView } from './plan-view.js';
import type { ClaimView, PlacementRequest, Scheduler } from './scheduler/scheduler-types.js';

/**
 * `jobs plan`: where each allocation of a job file would go now, or why it cannot, and which of
 * the job's allocations would stop. Nothing is stored or claimed (the scheduler's batch notes are
 * undone when it returns). The same spec as the running version places only its missing slots;
 * a changed one is placed as if the job's own allocations were gone, since its new version
 * replaces them (the rollout itself goes max_parallel at a time).
 */
export function dryRunPlan(d: { scheduler: Scheduler; claims: ClaimTable; gpuName: GpuNameOf }, spec: JobSpec, entry: JobEntry | undefined): PlanView {
  const same = entry !== undefined && entry.record.state === 'active' && entry.current().specHash === jobSpecHash(spec);
  const live = entry ? [...entry.allocs.values()].filter((a) => a.desired === 'run' && !isFinalStatus(a.status)) : [];
  const requests: PlacementRequest[] = [];
  let unchanged = 0;
  const stops: string[] = [];
  let claims: ClaimView = d.claims;
  if (same) {
    const held = new Set(live.map((a) => allocName(a.group, a.index)));
    for (const [group, g] of Object.entries(spec.allocations)) {
      for (let index = 0; index < g.count; index++) {
        if (held.has(allocName(group, index))) unchanged++;
        else requests.push({ job: entry.current().placeSpec, group, index });
      }
    }
  } else {
    for (const a of live) stops.push(allocName(a.group, a.index));
    claims = new ClaimsWithout(d.claims, new Set(live.map((a) => a.id)));
    for (const [group, g] of Object.entries(spec.allocations)) for (let index = 0; index < g.count; index++) requests.push({ job: spec, group, index });
  }
  const result = d.scheduler.schedule(requests, claims);
  return planView({
    job: spec.name,
    version: same ? entry.record.currentVersion : null,
    placements: result.placements.map((p) => plannedPlacement(p, d.gpuName)),
    unchanged,
    stops: stops.sort(),
    failures: result.failures,
    nodesEvaluated: result.nodesEvaluated,
  });
}
