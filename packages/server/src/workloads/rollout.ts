import { allocName } from '@gpufleet/protocol';
import type { AllocationRecord, DeploymentRecord } from '../store/workload-records.js';
import { isFinalStatus } from './alloc-reports.js';
import type { JobSnapshot } from './job-evaluation.js';
import { settled } from './settled.js';

/**
 * Rolling updates (spec.update). A new version of a running job is a deployment: with canaries,
 * `canary` new allocations per group are placed beside the old ones first; once each has been
 * healthy for `healthy_for` they are promoted (the old ones beside them stop) and the rest of the
 * slots roll `max_parallel` at a time (an old allocation stops, a new one is placed; the next
 * one rolls when a new one has been healthy for healthy_for). A new allocation that fails, is
 * refused, or is not healthy within `deadline` of its placement fails the deployment; with
 * auto_revert the job goes back to its last healthy version: a deployment of its own (from the
 * failed version to that one), never reverted again, which ends as `reverted` once that version
 * is healthy again. A first version, and a revert, place every slot at once.
 */

/** How the slots of the current version may move in this evaluation. */
export interface RolloutGate {
  /** Slots still on an older version may roll. */
  rolling: boolean;
  /** Canaries are being placed or awaited: only canary slots move. */
  canaryPhase: boolean;
  canariesPerGroup(group: string): number;
  /** How many more slots may roll now. */
  budget: number;
}

/** A deployment back to a version that was healthy: it has no canaries and is never reverted itself. */
export function isRevertDeployment(snap: Pick<JobSnapshot, 'versionStatus'>, d: DeploymentRecord): boolean {
  return d.fromVersion !== null && snap.versionStatus(d.fromVersion) === 'reverted';
}

function runningDeployment(snap: JobSnapshot, d: DeploymentRecord | null): d is DeploymentRecord {
  return d !== null && d.state === 'running' && d.toVersion === snap.current.version && snap.job.state === 'active';
}

/** Canary slots per group under this deployment (0 without canaries: a first version, a revert, canary 0). */
export function canariesOf(snap: JobSnapshot, d: DeploymentRecord | null): (group: string) => number {
  const canary = snap.current.spec.update.canary;
  if (d === null || d.fromVersion === null || canary === 0 || isRevertDeployment(snap, d)) return () => 0;
  return (group) => Math.min(canary, snap.current.spec.allocations[group]?.count ?? 0);
}

export function rolloutGate(snap: JobSnapshot, d: DeploymentRecord | null, allocs: readonly AllocationRecord[], now: number): RolloutGate {
  const { version, spec } = snap.current;
  if (!runningDeployment(snap, d)) return { rolling: false, canaryPhase: false, canariesPerGroup: () => 0, budget: 0 };
  const canaries = canariesOf(snap, d);
  const key = (group: string, index: number) => `${group}\u0000${index}`;
  let hasOlder = false;
  let inFlight = 0;
  // Slots with something wanted running, and those whose current allocation has settled (canaries promoted).
  const held = new Set<string>();
  const settledHere = new Set<string>();
  for (const a of allocs) {
    if (a.desired !== 'run') continue;
    held.add(key(a.group, a.index));
    if (a.jobVersion !== version) hasOlder = true;
    else if (settled(a, spec.update.healthy_for, now)) settledHere.add(key(a.group, a.index));
    // In flight: new allocations not yet settled...
    else inFlight++;
  }
  let canaryPhase = false;
  for (const [group, g] of Object.entries(spec.allocations)) {
    if (hasOlder) for (let i = 0; i < canaries(group); i++) if (!settledHere.has(key(group, i))) canaryPhase = true;
    // ...and slots left with nothing running (a placement that found no room).
    for (let i = 0; i < g.count; i++) if (!held.has(key(group, i))) inFlight++;
  }
  return { rolling: true, canaryPhase, canariesPerGroup: canaries, budget: Math.max(0, spec.update.max_parallel - inFlight) };
}

/**
 * Whether the running deployment of the current version succeeded (every slot on the new version
 * and settled, nothing older left running), failed, or must be reverted. Returns the changed
 * deployment (null: unchanged).
 */
export function judgeDeployment(
  snap: JobSnapshot,
  allocs: readonly AllocationRecord[],
  now: number,
): { deployment: DeploymentRecord | null; revert: { from: number; to: number; reason: string } | null } {
  const d = snap.deployment;
  if (d === null || d.state !== 'running') return { deployment: null, revert: null };
  if (snap.job.state !== 'active') {
    return { deployment: { ...d, state: 'failed', message: 'the job was stopped', finishedAt: now }, revert: null };
  }
  if (d.toVersion !== snap.current.version) return { deployment: null, revert: null };
  const { version, spec } = snap.current;
  const update = spec.update;
  const fresh = allocs.filter((a) => a.jobVersion === version && a.createdAt >= d.startedAt);
  const failed = fresh.find((a) => a.status === 'failed' || a.status === 'refused' || a.stopCause === 'failed' || a.stopCause === 'refused');
  const late = fresh.find((a) => a.desired === 'run' && !isFinalStatus(a.status) && a.healthySince === null && now - a.createdAt > update.deadline);
  const bad = failed ?? late;
  if (bad) {
    const name = allocName(bad.group, bad.index);
    const reason =
      bad === failed
        ? `${name} (${bad.id}) ${bad.status === 'refused' || bad.stopCause === 'refused' ? 'was refused' : 'failed'}${bad.message ? `: ${bad.message}` : ''}`
        : `${name} (${bad.id}) was not healthy within ${Math.round(update.deadline / 1000)} s of its placement`;
    const target = snap.lastHealthyVersion;
    if (update.auto_revert && target !== null && target !== version && !isRevertDeployment(snap, d)) {
      return {
        deployment: { ...d, state: 'failed', message: `version ${version} failed: ${reason}; reverting to version ${target}`, finishedAt: now },
        revert: { from: version, to: target, reason },
      };
    }
    return { deployment: { ...d, state: 'failed', message: `version ${version} failed: ${reason}`, finishedAt: now }, revert: null };
  }
  const settledSlots = new Set<string>();
  for (const a of allocs) {
    if (a.desired !== 'run') continue;
    if (a.jobVersion !== version) return { deployment: null, revert: null };
    if (settled(a, update.healthy_for, now)) settledSlots.add(`${a.group}\u0000${a.index}`);
  }
  for (const [group, g] of Object.entries(spec.allocations)) {
    for (let i = 0; i < g.count; i++) if (!settledSlots.has(`${group}\u0000${i}`)) return { deployment: null, revert: null };
  }
  const healthy = `every allocation of version ${version} is healthy`;
  // A revert ends as `reverted`, and keeps saying why it happened.
  if (isRevertDeployment(snap, d)) return { deployment: { ...d, state: 'reverted', message: `${d.message}; ${healthy}`, finishedAt: now }, revert: null };
  return { deployment: { ...d, state: 'succeeded', message: healthy, finishedAt: now }, revert: null };
}
