import { FleetError, matchesSelector, parseSelector, type Labels, type NodeStatus, type SignedRollout } from '@gpufleet/protocol';
import type { NodeRecord } from '../store/store.js';
import type { RolloutHostRecord, RolloutRecord } from '../store/rollout-records.js';
import { hostAccepts, type RolloutTrust } from './rollout-authority.js';
import { orderHosts, splitSteps, type ChosenHost } from './rollout-steps.js';

/** The registry as a rollout start reads it. */
export interface RolloutFleet {
  all(): NodeRecord[];
  status(node: NodeRecord): NodeStatus;
  labelsOf(id: string): Labels;
}

/**
 * The hosts a rollout goes to, in their rollout order: agent hosts (not pending, not removed,
 * not SSH-only) that match its selector and that its signer may update (the capability's reach),
 * as runs pick their targets. Refuses a rollout that would reach no host.
 */
export function chooseHosts(fleet: RolloutFleet, signed: SignedRollout, trust: RolloutTrust): ChosenHost[] {
  const selector = parseSelector(signed.payload.selector);
  const chosen = fleet
    .all()
    .filter((n) => {
      const status = fleet.status(n);
      if (n.mode === 'ssh' || status === 'DECOMMISSIONED' || status === 'PENDING') return false;
      const labels = fleet.labelsOf(n.id);
      return matchesSelector(selector, labels) && hostAccepts(signed, labels, trust);
    })
    .map((n) => ({ nodeId: n.id, hostname: n.hostname }));
  if (chosen.length === 0) {
    throw new FleetError(
      'invalid_argument',
      `selector '${signed.payload.selector}' matches no agent host the rollout's signer may update (pending, removed and SSH-only nodes are never targets)`,
    );
  }
  return orderHosts(chosen);
}

/** A new rollout's records: running, its steps split from the ordered hosts, every host pending. */
export function newRollout(
  id: string,
  signed: SignedRollout,
  chosen: readonly ChosenHost[],
  actor: string,
  now: number,
): { rollout: RolloutRecord; hosts: RolloutHostRecord[] } {
  const p = signed.payload;
  const { steps, stepOf } = splitSteps(chosen, p.plan);
  const rollout: RolloutRecord = {
    id,
    kind: p.release.kind,
    name: p.release.name,
    version: p.release.version,
    targetPath: p.target.path,
    targetSha256: p.target.sha256,
    selector: p.selector,
    plan: p.plan,
    signed,
    state: 'running',
    step: 0,
    steps,
    forgivenFailures: 0,
    message: null,
    createdBy: actor,
    createdAt: now,
    updatedAt: now,
  };
  const hosts = chosen.map((h, i) => ({
    rolloutId: id,
    ...h,
    step: stepOf[i]!,
    position: i,
    state: 'pending' as const,
    fromVersion: null,
    runningVersion: null,
    healthySince: null,
    failedAt: null,
    rollback: 'none' as const,
    message: null,
    updatedAt: now,
  }));
  return { rollout, hosts };
}
