import type { RolloutCounts, RolloutDetail, RolloutHostView, RolloutView } from '@gpufleet/protocol';
import type { RolloutHostRecord, RolloutRecord } from '../store/rollout-records.js';
import { UPDATING_STATES } from './rollout-machine.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function rolloutCounts(hosts: readonly RolloutHostRecord[]): RolloutCounts {
  const counts: RolloutCounts = { pending: 0, updating: 0, healthy: 0, failed: 0, refused: 0, rolledBack: 0, skipped: 0 };
  for (const h of hosts) {
    if ((UPDATING_STATES as readonly string[]).includes(h.state)) counts.updating++;
    else if (h.state === 'rolled-back') counts.rolledBack++;
    else counts[h.state as 'pending' | 'healthy' | 'failed' | 'refused' | 'skipped']++;
  }
  return counts;
}

/** A rollout as the REST API shows it (rollout-views.ts in the protocol). */
export function rolloutView(r: RolloutRecord, hosts: readonly RolloutHostRecord[]): RolloutView {
  return {
    id: r.id,
    release: { kind: r.kind, name: r.name, version: r.version },
    target: { path: r.targetPath, sha256: r.targetSha256 },
    selector: r.selector,
    plan: r.plan,
    state: r.state,
    step: r.step,
    steps: r.steps.map((s, index) => ({ index, name: s.name, hosts: s.hosts, state: s.state, startedAt: iso(s.startedAt), doneAt: iso(s.doneAt) })),
    counts: rolloutCounts(hosts),
    message: r.message,
    createdBy: r.createdBy,
    createdAt: new Date(r.createdAt).toISOString(),
    updatedAt: new Date(r.updatedAt).toISOString(),
  };
}

export function rolloutHostView(h: RolloutHostRecord): RolloutHostView {
  return {
    nodeId: h.nodeId,
    hostname: h.hostname,
    step: h.step,
    state: h.state,
    fromVersion: h.fromVersion,
    runningVersion: h.runningVersion,
    healthySince: iso(h.healthySince),
    message: h.message,
    updatedAt: new Date(h.updatedAt).toISOString(),
  };
}

export function rolloutDetail(r: RolloutRecord, hosts: readonly RolloutHostRecord[]): RolloutDetail {
  return { ...rolloutView(r, hosts), hosts: hosts.map(rolloutHostView) };
}
