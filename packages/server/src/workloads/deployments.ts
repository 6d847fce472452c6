import { allocName } from '@gpufleet/protocol';
import type { DeploymentRecord, WorkloadStore } from '../store/workload-records.js';
import type { JobEntry } from './job-entry.js';

/** Stores a deployment and makes it the job's; a settled one names the version to go back to. */
export async function saveDeployment(store: Pick<WorkloadStore, 'upsertDeployment'>, entry: JobEntry, d: DeploymentRecord): Promise<void> {
  await store.upsertDeployment(d);
  entry.deployment = d;
  if (d.state === 'succeeded' || d.state === 'reverted') entry.lastHealthyVersion = d.toVersion;
}

/** A new deployment's start: now, and after the one before it (the store reads the latest by start time). */
export function laterThan(previous: DeploymentRecord | null, now: number): number {
  return previous === null ? now : Math.max(now, previous.startedAt + 1);
}

/**
 * The version a job goes back to when an update fails, read from its latest deployment after a
 * restart: the one it reached, or else the one it started from (taken as healthy).
 */
export function lastHealthyOf(d: DeploymentRecord | null): number | null {
  if (d === null) return null;
  return d.state === 'succeeded' || d.state === 'reverted' ? d.toVersion : d.fromVersion;
}

/** Whether every slot of the job has an allocation of `version` running and healthy (or running, without a check). */
export function allHealthy(entry: JobEntry, version: number): boolean {
  const spec = entry.versions.get(version)?.spec;
  if (!spec) return false;
  const healthy = new Set<string>();
  for (const a of entry.allocs.values()) {
    if (a.desired === 'run' && a.jobVersion === version && a.status === 'running' && a.healthySince !== null) healthy.add(allocName(a.group, a.index));
  }
  for (const [group, g] of Object.entries(spec.allocations)) for (let i = 0; i < g.count; i++) if (!healthy.has(allocName(group, i))) return false;
  return true;
}
