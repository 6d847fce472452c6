import type { AllocationRecord } from '../store/workload-records.js';

/** Whether the allocation has been running and healthy (or running, without a check) for `ms`. */
export function healthyFor(a: AllocationRecord, ms: number, now: number): boolean {
  return a.status === 'running' && a.healthySince !== null && now - a.healthySince >= ms;
}

/** Done for its slot: a batch allocation that exited 0, or one healthy for `ms` (update.healthy_for). */
export function settled(a: AllocationRecord, ms: number, now: number): boolean {
  return a.status === 'complete' || healthyFor(a, ms, now);
}
