import { SignedJob, allocName, jobSpecHash, type JobSpec, type PlanFailure } from '@gpufleet/protocol';
import type { AllocationRecord, DeploymentRecord, JobRecord, JobVersionRecord } from '../store/workload-records.js';
import { isFinalStatus } from './alloc-reports.js';
import { placementSpec } from './placement-spec.js';

/** A version of a job as the service uses it: the signed job as stored, its spec, and the spec the scheduler places. */
export interface VersionInfo {
  version: number;
  record: JobVersionRecord;
  signed: SignedJob;
  spec: JobSpec;
  /** The spec with the capability chain's selectors added to its constraints (placement-spec.ts). */
  placeSpec: JobSpec;
  specHash: string;
}

/** Reads a stored version; null when what is stored is not a signed job (never written by this server). */
export function versionInfoOf(record: JobVersionRecord): VersionInfo | null {
  const parsed = SignedJob.safeParse(record.signed);
  if (!parsed.success) return null;
  const signed = parsed.data;
  return { version: record.version, record, signed, spec: signed.payload.job, placeSpec: placementSpec(signed), specHash: jobSpecHash(signed.payload.job) };
}

/** Final allocations kept per slot (failure counts, places to avoid); older ones are read from the store when shown. */
const FINAL_KEPT_PER_SLOT = 8;

/**
 * One job as the workload service follows it in memory: the record, the versions its allocations
 * run, the allocations it still acts on (every one wanted or not yet ended, lost ones until their
 * host confirms, and the latest ended ones of the current version), its deployment, and what the
 * last evaluation could not do.
 */
export class JobEntry {
  readonly versions = new Map<number, VersionInfo>();
  readonly allocs = new Map<string, AllocationRecord>();
  deployment: DeploymentRecord | null = null;
  /** Where an update with auto_revert goes back to. */
  lastHealthyVersion: number | null = null;
  /** Groups the last evaluation found no room for, with why. */
  unplaced: PlanFailure[] = [];
  /** Slots out of replacements (failed for good). */
  exhausted: string[] = [];
  /** The fleet capacity epoch when placement last found no room (placement waits for a change). */
  blockedEpoch: number | null = null;
  blockedAt = 0;

  constructor(public record: JobRecord) {}

  get name(): string {
    return this.record.name;
  }

  current(): VersionInfo {
    const v = this.versions.get(this.record.currentVersion);
    if (!v) throw new Error(`job ${this.name}: version ${this.record.currentVersion} is not loaded`);
    return v;
  }

  /** Whether the service keeps following the allocation. */
  keeps(a: AllocationRecord): boolean {
    return a.desired === 'run' || !isFinalStatus(a.status) || a.status === 'lost' || a.jobVersion === this.record.currentVersion;
  }

  /** The allocations that stopped being worth following (to be forgotten), oldest final ones per slot included. */
  stale(): AllocationRecord[] {
    const out: AllocationRecord[] = [];
    const finalsBySlot = new Map<string, AllocationRecord[]>();
    for (const a of this.allocs.values()) {
      if (!this.keeps(a)) {
        out.push(a);
        continue;
      }
      if (a.desired === 'run' || !isFinalStatus(a.status) || a.status === 'lost') continue;
      const key = allocName(a.group, a.index);
      const list = finalsBySlot.get(key);
      if (list) list.push(a);
      else finalsBySlot.set(key, [a]);
    }
    for (const list of finalsBySlot.values()) {
      if (list.length <= FINAL_KEPT_PER_SLOT) continue;
      list.sort((x, y) => y.updatedAt - x.updatedAt);
      out.push(...list.slice(FINAL_KEPT_PER_SLOT));
    }
    return out;
  }
}
