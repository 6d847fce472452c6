import type { PendingSlots } from '../pools/pools-api.js';
import type { JobEntry } from './job-entry.js';

/**
 * Slots the last evaluations found no node for, per job group, with what each slot needs: the
 * pool manager grows a pool whose new nodes would take them (PendingDemand). Stopped jobs want none.
 */
export function pendingSlotsOf(entries: Iterable<JobEntry>): PendingSlots[] {
  const out: PendingSlots[] = [];
  for (const entry of entries) {
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
