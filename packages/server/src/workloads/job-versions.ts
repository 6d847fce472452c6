import type { WorkloadStore } from '../store/workload-records.js';
import { versionInfoOf, type JobEntry, type VersionInfo } from './job-entry.js';

/** Loads every version the job's allocations, current version and deployment name. */
export async function ensureVersions(
  store: Pick<WorkloadStore, 'getJobVersion'>,
  log: { warn(obj: object, msg: string): void },
  entry: JobEntry,
): Promise<void> {
  const wanted = new Set<number>([entry.record.currentVersion]);
  for (const a of entry.allocs.values()) wanted.add(a.jobVersion);
  if (entry.deployment?.fromVersion != null) wanted.add(entry.deployment.fromVersion);
  for (const v of wanted) {
    if (entry.versions.has(v)) continue;
    const stored = await store.getJobVersion(entry.name, v);
    const info = stored ? versionInfoOf(stored) : null;
    if (info) entry.versions.set(v, info);
    else log.warn({ job: entry.name, version: v }, 'a job version its allocations name cannot be read');
  }
}

/** Reads the status of the job's loaded versions again (a new version supersedes, a revert marks one reverted). */
export async function refreshVersionStatuses(store: Pick<WorkloadStore, 'listJobVersions'>, entry: JobEntry): Promise<void> {
  for (const record of await store.listJobVersions(entry.name)) {
    const info: VersionInfo | undefined = entry.versions.get(record.version);
    if (info) info.record = record;
  }
}
