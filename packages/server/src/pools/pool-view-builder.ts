import type { MaxUnavailable, PoolDetailView, PoolEventView, PoolMemberView, PoolOperationView, PoolView } from '@gpufleet/protocol';
import type { PoolConfigRecord, PoolEventRecord, PoolOperationRecord, PoolSizeSample, PoolStateRecord } from '../store/pool-records.js';
import type { MemberFacts } from './pool-facts.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** What one pool's views are made of. */
export interface PoolViewInput {
  config: PoolConfigRecord;
  providerType: string;
  state: PoolStateRecord | undefined;
  /** Live members (not terminated). */
  members: MemberFacts[];
  activeOps: PoolOperationRecord[];
}

export function poolView(input: PoolViewInput): PoolView {
  const { config, state, members } = input;
  const spec = config.spec;
  const joined = members.filter((m) => m.node !== undefined);
  const gpus = joined.reduce((n, m) => n + m.gpus, 0);
  const allocated = joined.reduce((n, m) => n + m.allocatedGpus, 0);
  const active = members.filter((m) => m.record.state === 'active');
  const prices = active.map((m) => m.record.pricePerHour ?? spec.pricePerHour);
  const lastScale = Math.max(state?.lastScaleUpAt ?? -1, state?.lastScaleDownAt ?? -1);
  return {
    name: config.name,
    provider: spec.provider,
    providerType: input.providerType,
    instanceType: spec.instanceType,
    ready: members.filter((m) => m.ready).length,
    current: members.length,
    desired: state?.desired ?? spec.minNodes,
    desiredSource: state?.desiredSource ?? 'min',
    minNodes: spec.minNodes,
    maxNodes: spec.maxNodes,
    gpus,
    allocatedPct: gpus > 0 ? Math.round((allocated * 1000) / gpus) / 10 : null,
    costPerHour: prices.some((p) => p === null) ? null : Math.round(prices.reduce((s: number, p) => s + (p ?? 0), 0) * 100) / 100,
    inFlight: input.activeOps.length,
    lastScaleAt: lastScale < 0 ? null : iso(lastScale),
  };
}

/** A node's hostname while the fleet knows the node; null once it is removed. */
export type HostnameOf = (nodeId: string) => string | null;

export function poolDetailView(input: PoolViewInput & { recentOps: PoolOperationRecord[]; samples: PoolSizeSample[]; hostnameOf: HostnameOf }): PoolDetailView {
  const spec = input.config.spec;
  return {
    ...poolView(input),
    zones: spec.zones,
    labels: { ...spec.labels, pool: input.config.name },
    cooldownMs: spec.cooldownMs,
    autoscaling: spec.autoscaling && {
      pendingAllocations: spec.autoscaling.pendingAllocations,
      scaleUpAtPct: spec.autoscaling.scaleUpAtPct,
      scaleDownAtPct: spec.autoscaling.scaleDownAtPct,
      idleForMs: spec.autoscaling.idleForMs,
    },
    health: {
      replaceAfterMs: spec.health.replaceAfterMs,
      maxParallelReplacements: spec.health.maxParallelReplacements,
      maxUnavailable: maxUnavailableText(spec.health.maxUnavailable),
      joinTimeoutMs: spec.health.joinTimeoutMs,
    },
    members: input.members.map(memberView),
    operations: [...input.activeOps, ...input.recentOps].map((op) => operationView(op, input.hostnameOf)),
    manualReason: input.state?.desiredSource === 'manual' ? input.state.manualReason : null,
    history: input.samples.map((s) => ({ at: new Date(s.at).toISOString(), ready: s.ready, desired: s.desired })),
  };
}

export function maxUnavailableText(m: MaxUnavailable): string {
  return m.kind === 'count' ? String(m.count) : `${m.percent}%`;
}

export function memberView(m: MemberFacts): PoolMemberView {
  const r = m.record;
  return {
    instanceId: r.instanceId,
    nodeId: r.nodeId,
    hostname: m.node?.hostname ?? null,
    zone: r.zone,
    instanceType: r.instanceType,
    state: r.state,
    nodeStatus: m.status,
    health: m.node ? (m.verdict ?? 'unknown') : null,
    gpus: m.gpus,
    allocations: m.running,
    pricePerHour: r.pricePerHour,
    provisionedAt: new Date(r.provisionedAt).toISOString(),
    joinedAt: iso(r.joinedAt),
  };
}

export function operationView(op: PoolOperationRecord, hostnameOf: HostnameOf): PoolOperationView {
  return {
    id: op.id,
    pool: op.pool,
    kind: op.kind,
    stage: op.stage,
    reason: op.reason,
    oldNodeId: op.oldNodeId,
    oldHostname: op.oldNodeId === null ? null : hostnameOf(op.oldNodeId),
    instanceId: op.instanceId,
    newNodeId: op.newNodeId,
    newHostname: op.newNodeId === null ? null : hostnameOf(op.newNodeId),
    zone: op.zone,
    zonesTried: op.zonesTried,
    attempts: op.attempts,
    error: op.error,
    startedAt: new Date(op.startedAt).toISOString(),
    updatedAt: new Date(op.updatedAt).toISOString(),
    deadlineAt: iso(op.deadlineAt),
  };
}

export function eventView(e: PoolEventRecord): PoolEventView {
  return {
    id: e.id,
    pool: e.pool,
    at: new Date(e.at).toISOString(),
    kind: e.kind,
    message: e.message,
    operationId: e.operationId,
    nodeId: e.nodeId,
    instanceId: e.instanceId,
  };
}
