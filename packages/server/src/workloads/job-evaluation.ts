import { allocName, type AllocStopCause, type AssignedGpu, type JobSpec } from '@gpufleet/protocol';
import type { AllocationPatch, AllocationRecord, DeploymentRecord, JobRecord, JobVersionRecord } from '../store/workload-records.js';
import { isFinalStatus } from './alloc-reports.js';
import { judgeDeployment, rolloutGate, type RolloutGate } from './rollout.js';

/**
 * One evaluation of one job (the reconciler's decision, Nomad-style): from the job, its current
 * version, its allocations and what is known of their nodes, decide which allocations stop (and
 * why), which allocation slots (`web-0`) get a new allocation, and how the rolling update moves.
 * Pure: the workload service applies what it returns (store, claims, frames) and places the slots
 * through the scheduler.
 */

/** Failed (or refused) allocations of one name are replaced this many times, with backoff, then left failed. */
export interface RetryPolicy {
  maxReplacements: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

/** What the evaluation knows of a node. */
export interface NodeFacts {
  /** The node's status (NodeStatus), or UNKNOWN for a node the fleet no longer has. */
  status: string;
  lastSeen: number | null;
}

export interface EvalWorld {
  now: number;
  node(nodeId: string): NodeFacts;
  /** Whether a GPU the allocation holds is UNHEALTHY (by its UUID, else by its index in the inventory). */
  gpuUnhealthy(nodeId: string, gpu: AssignedGpu): boolean;
  /** Whether the allocation's start may have reached its host (false: never sent by this server). */
  maybeDelivered(allocId: string): boolean;
  /** How long a connected host has to confirm a stop before the server stops waiting. */
  stopConfirmMs: number;
  retry: RetryPolicy;
}

export interface JobSnapshot {
  job: JobRecord;
  current: { version: number; spec: JobSpec };
  versionStatus(version: number): JobVersionRecord['status'] | undefined;
  /** Every allocation the service follows for the job (live ones, and recent final ones of the current version). */
  allocations: readonly AllocationRecord[];
  deployment: DeploymentRecord | null;
  /** The version the job goes back to when an update fails with auto_revert (null: none known). */
  lastHealthyVersion: number | null;
}

/** A change to one allocation. */
export interface AllocChange {
  alloc: AllocationRecord;
  patch: AllocationPatch;
  /** The allocation ends with it (its claims are released). */
  ends: boolean;
  /** Tell the host to stop it, with this reason; null: nothing to send (ended, or the host is gone). */
  stopReason: string | null;
}

/** An allocation slot (group-index) to place. */
export interface SlotRequest {
  group: string;
  index: number;
  /** The allocation the new one replaces (it links both). */
  replaces: string | null;
  /** Nodes not to place it on (where it was refused, lost or drained). */
  avoid: string[];
}

export interface Evaluation {
  changes: AllocChange[];
  places: SlotRequest[];
  /** The deployment, when the evaluation changed it (to be stored). */
  deployment: DeploymentRecord | null;
  /** An update failed with auto_revert: make `to` current again (then evaluate again). */
  revert: { from: number; to: number; reason: string } | null;
  /** The earliest time a backoff ends (evaluate again then). */
  retryAt: number | null;
  /** Slots out of replacements: left failed. */
  exhausted: string[];
}

const STOP_WORDS: Record<AllocStopCause, string> = {
  job_stopped: 'the job was stopped',
  gpu_unhealthy: 'a GPU it holds turned UNHEALTHY',
  node_lost: 'its node was offline past the offline grace',
  node_drained: 'its node is being drained',
  updated: 'replaced by a new version of the job',
  reverted: 'its version was rolled back',
  scaled_down: 'the job no longer asks for it',
  failed: 'it failed',
  refused: 'its host refused it',
  operator: 'stopped by an operator',
};

export function stopWords(cause: AllocStopCause): string {
  return STOP_WORDS[cause];
}

export function slotKey(group: string, index: number): string {
  return `${group}\u0000${index}`;
}

export function evaluateJob(snap: JobSnapshot, world: EvalWorld): Evaluation {
  const out: Evaluation = { changes: [], places: [], deployment: null, revert: null, retryAt: null, exhausted: [] };
  const work = new Map(snap.allocations.map((a) => [a.id, a]));
  const change = (c: AllocChange) => {
    out.changes.push(c);
    work.set(c.alloc.id, { ...c.alloc, ...c.patch });
  };

  // 1. Supervision: what must stop, end or be replaced, whatever the version.
  for (const a of snap.allocations) {
    const c = supervise(a, snap, world);
    if (c) change(c);
  }

  // 2. The rolling update: succeeded, failed, or reverted.
  const allocs = [...work.values()];
  const judged = judgeDeployment(snap, allocs, world.now);
  if (judged.deployment) out.deployment = judged.deployment;
  if (judged.revert) {
    out.revert = judged.revert;
    return out;
  }
  if (snap.job.state !== 'active') return out;

  // 3. Slots: each wanted allocation of the current version, placed, kept or rolled.
  const deployment = out.deployment ?? snap.deployment;
  const gate = rolloutGate(snap, deployment, allocs, world.now);
  let budget = gate.budget;
  const bySlot = new Map<string, AllocationRecord[]>();
  for (const a of allocs) {
    const key = slotKey(a.group, a.index);
    const list = bySlot.get(key);
    if (list) list.push(a);
    else bySlot.set(key, [a]);
  }
  for (const [group, spec] of Object.entries(snap.current.spec.allocations)) {
    for (let index = 0; index < spec.count; index++) {
      const slot = (bySlot.get(slotKey(group, index)) ?? []).map((a) => work.get(a.id)!);
      const running = slot.filter((a) => a.desired === 'run');
      const current = running.filter((a) => a.jobVersion === snap.current.version);
      const older = running.filter((a) => a.jobVersion !== snap.current.version);
      const canarySlot = gate.canaryPhase && index < gate.canariesPerGroup(group);
      if (current.length > 0) {
        // The new version holds the slot: the old one goes, unless it still stands beside a canary.
        if (!canarySlot) for (const old of older) change(stopOrder(old, causeForOld(snap, old), world, current[0]!.id));
        continue;
      }
      if (older.length > 0) {
        if (!gate.rolling) continue;
        if (gate.canaryPhase) {
          if (canarySlot) out.places.push({ group, index, replaces: older[0]!.id, avoid: [] });
          continue;
        }
        if (budget <= 0) continue;
        budget--;
        for (const old of older) change(stopOrder(old, 'updated', world, null));
        out.places.push({ group, index, replaces: older[0]!.id, avoid: [] });
        continue;
      }
      const request = replacementFor(snap, group, index, slot, world, out);
      if (request) out.places.push(request);
    }
  }
  return out;
}

/** Why an allocation of another version than the current one stops once the current one holds its slot. */
function causeForOld(snap: JobSnapshot, old: AllocationRecord): AllocStopCause {
  return snap.versionStatus(old.jobVersion) === 'reverted' ? 'reverted' : 'updated';
}

/** Stops a live allocation: `stopping` until its host confirms; one never sent ends at once. */
export function stopOrder(a: AllocationRecord, cause: AllocStopCause, world: EvalWorld, replacedBy: string | null, why = stopWords(cause)): AllocChange {
  const linked = replacedBy === null ? {} : { replacedBy };
  if (a.status === 'pending' && !world.maybeDelivered(a.id)) {
    return {
      alloc: a,
      patch: { desired: 'stop', status: 'stopped', stopCause: cause, message: `never started: ${why}`, updatedAt: world.now, ...linked },
      ends: true,
      stopReason: null,
    };
  }
  return {
    alloc: a,
    patch: { desired: 'stop', status: 'stopping', stopCause: cause, message: why, updatedAt: world.now, ...linked },
    ends: false,
    stopReason: why,
  };
}

/** The decision for one allocation's own situation (step 1), or null when it stays as it is. */
function supervise(a: AllocationRecord, snap: JobSnapshot, world: EvalWorld): AllocChange | null {
  const now = world.now;
  const spec = snap.current.spec;
  const node = world.node(a.nodeId);
  const nodeGone = node.status === 'DECOMMISSIONED' || node.status === 'UNKNOWN';
  const graceMs = spec.reschedule.offline_grace;
  const offlineTooLong = node.status === 'OFFLINE' && (node.lastSeen === null || now - node.lastSeen >= graceMs);
  const lost = (cause: AllocStopCause, why: string): AllocChange => ({
    alloc: a,
    patch: { desired: 'stop', status: 'lost', stopCause: cause, message: why, healthy: null, healthySince: null, updatedAt: now },
    ends: true,
    stopReason: null,
  });
  const lostWhy = nodeGone ? 'its node was removed from the fleet' : `its node was offline for more than ${Math.round(graceMs / 1000)} s`;

  if (a.desired === 'stop') {
    if (isFinalStatus(a.status)) return null;
    if (nodeGone || offlineTooLong) return lost(a.stopCause ?? 'node_lost', `${a.message ? `${a.message}; ` : ''}${lostWhy} before it confirmed the stop`);
    if (a.status === 'pending' && !world.maybeDelivered(a.id)) {
      return { alloc: a, patch: { status: 'stopped', message: `never started: ${a.message}`, updatedAt: now }, ends: true, stopReason: null };
    }
    if (node.status !== 'OFFLINE' && now - a.updatedAt > world.stopConfirmMs) {
      return {
        alloc: a,
        patch: {
          status: 'stopped',
          message: `${a.message}; its host did not confirm the stop within ${Math.round(world.stopConfirmMs / 1000)} s`,
          updatedAt: now,
        },
        ends: true,
        stopReason: null,
      };
    }
    return null;
  }

  if (isFinalStatus(a.status)) {
    // Complete: a batch allocation done for good. Failed, refused or stopped behind the server's back: replaced.
    if (a.status === 'complete') return null;
    // updatedAt stays when it ended: the backoff counts from there.
    const cause: AllocStopCause = a.status === 'refused' ? 'refused' : 'failed';
    return { alloc: a, patch: { desired: 'stop', stopCause: cause }, ends: false, stopReason: null };
  }
  if (snap.job.state !== 'active') return stopOrder(a, 'job_stopped', world, null);
  const group = Object.hasOwn(spec.allocations, a.group) ? spec.allocations[a.group] : undefined;
  if (!group || a.index >= group.count) return stopOrder(a, 'scaled_down', world, null);
  if (nodeGone || offlineTooLong) return lost('node_lost', lostWhy);
  const bad = a.gpus.find((g) => world.gpuUnhealthy(a.nodeId, g));
  if (bad) return stopOrder(a, 'gpu_unhealthy', world, null, `GPU ${bad.index} (${bad.uuid ?? 'no UUID'}) turned UNHEALTHY`);
  if (node.status === 'DRAINING' || node.status === 'DRAINED') return stopOrder(a, 'node_drained', world, null);
  return null;
}

/**
 * A slot with nothing running: place it, after a backoff when its allocations of this version
 * failed or were refused, and not at all once they did so more than maxReplacements times.
 */
function replacementFor(
  snap: JobSnapshot,
  group: string,
  index: number,
  slot: readonly AllocationRecord[],
  world: EvalWorld,
  out: Evaluation,
): SlotRequest | null {
  const ofVersion = slot.filter((a) => a.jobVersion === snap.current.version);
  // A batch allocation that completed holds its slot for good.
  if (ofVersion.some((a) => a.status === 'complete' && a.desired === 'run')) return null;
  const failures = ofVersion.filter((a) => a.stopCause === 'failed' || a.stopCause === 'refused');
  const { retry, now } = world;
  if (failures.length > retry.maxReplacements) {
    out.exhausted.push(allocName(group, index));
    return null;
  }
  if (failures.length > 0) {
    const last = Math.max(...failures.map((a) => a.updatedAt));
    const readyAt = last + Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (failures.length - 1));
    if (now < readyAt) {
      out.retryAt = out.retryAt === null ? readyAt : Math.min(out.retryAt, readyAt);
      return null;
    }
  }
  const avoid = new Set<string>();
  for (const a of ofVersion) if (a.stopCause === 'refused' || a.stopCause === 'node_lost' || a.stopCause === 'node_drained') avoid.add(a.nodeId);
  // The newest allocation of the slot nothing replaced yet is the one this replaces.
  const previous = [...slot]
    .filter((a) => a.desired === 'stop' && a.replacedBy === null)
    .sort((x, y) => y.createdAt - x.createdAt || (y.id < x.id ? -1 : 1))[0];
  return { group, index, replaces: previous?.id ?? null, avoid: [...avoid] };
}

export type { RolloutGate };
