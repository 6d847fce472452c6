import type { HealthVerdict, NodeStatus } from '@gpufleet/protocol';
import type { NodeRecord } from '../store/store.js';
import type { PoolMemberRecord, PoolOperationRecord } from '../store/pool-records.js';
import type { PoolManagerOptions } from './pool-manager-options.js';
import type { RemovalCandidate } from './scale-down-choice.js';
import type { MemberAvailability } from './unavailable-budget.js';

/** A live member with what the fleet says of its node right now. */
export interface MemberFacts {
  record: PoolMemberRecord;
  node: NodeRecord | undefined;
  status: NodeStatus | null;
  ready: boolean;
  verdict: HealthVerdict | null;
  gpus: number;
  allocatedGpus: number;
  /** Commands in flight and allocations not ended on the node. */
  running: number;
}

type FactSources = Pick<PoolManagerOptions, 'registry' | 'health' | 'runningWork' | 'allocatedGpus'>;

/** Reads one member's node: status, verdict, GPUs and what runs there. */
export function memberFacts(record: PoolMemberRecord, o: FactSources): MemberFacts {
  const node = record.nodeId === null ? undefined : o.registry.get(record.nodeId);
  if (!node) return { record, node, status: null, ready: false, verdict: null, gpus: 0, allocatedGpus: 0, running: 0 };
  const status = o.registry.status(node);
  let running = 0;
  for (const work of o.runningWork) running += work.runningOn(node.id);
  return {
    record,
    node,
    status,
    ready: status === 'READY',
    verdict: o.health.verdictOf(node.id, null),
    gpus: node.gpus.length,
    allocatedGpus: o.allocatedGpus(node.id),
    running,
  };
}

/** Nodes that leave the pool's count: old nodes being replaced, nodes being scaled down. */
export function nodesLeaving(ops: readonly PoolOperationRecord[]): Set<string> {
  const out = new Set<string>();
  for (const op of ops) if ((op.kind === 'replace' || op.kind === 'scale-down') && op.oldNodeId !== null) out.add(op.oldNodeId);
  return out;
}

/** Provisions (alone or for a replacement) whose instance is not known yet: capacity asked for, not yet a member. */
export function provisionsWithoutInstance(ops: readonly PoolOperationRecord[]): number {
  return ops.filter((op) => (op.kind === 'provision' || op.kind === 'replace') && op.instanceId === null && stageBeforeJoin(op)).length;
}

function stageBeforeJoin(op: PoolOperationRecord): boolean {
  return op.stage === 'requested' || op.stage === 'provisioning';
}

/** How the pool counts toward its desired size: live members not leaving, plus provisions without an instance yet. */
export function poolSize(members: readonly MemberFacts[], ops: readonly PoolOperationRecord[]): { size: number; coming: number } {
  const leaving = nodesLeaving(ops);
  const staying = members.filter((m) => m.record.state !== 'terminating' && !(m.record.nodeId !== null && leaving.has(m.record.nodeId)));
  const waiting = provisionsWithoutInstance(ops);
  const coming = staying.filter((m) => m.record.state === 'provisioning' || m.record.state === 'joining').length + waiting;
  return { size: staying.length + waiting, coming };
}

/** Members that could be removed: active, READY, not already leaving. */
export function removalCandidates(members: readonly MemberFacts[], ops: readonly PoolOperationRecord[]): RemovalCandidate[] {
  const leaving = nodesLeaving(ops);
  return members
    .filter((m) => m.record.state === 'active' && m.record.nodeId !== null && !leaving.has(m.record.nodeId))
    .map((m) => ({
      instanceId: m.record.instanceId,
      nodeId: m.record.nodeId!,
      provisionedAt: m.record.provisionedAt,
      pricePerHour: m.record.pricePerHour,
      idleSince: m.record.idleSince,
      ready: m.ready,
    }));
}

/** Each joined member's availability; old nodes whose replacement has not reached its drain wait aside. */
export function availabilityOf(members: readonly MemberFacts[], ops: readonly PoolOperationRecord[]): MemberAvailability[] {
  const waiting = new Set(
    ops
      .filter((op) => op.kind === 'replace' && op.oldNodeId !== null && ['requested', 'provisioning', 'joining'].includes(op.stage))
      .map((op) => op.oldNodeId!),
  );
  return members
    .filter((m) => m.record.nodeId !== null && m.record.state !== 'terminated')
    .map((m) => ({ nodeId: m.record.nodeId!, ready: m.ready, awaitingReplacement: waiting.has(m.record.nodeId!) }));
}

/** Nodes by the join token they enrolled with, built on first use within a pass. */
export function tokenIndex(all: () => NodeRecord[]): (tokenId: string) => NodeRecord | undefined {
  let index: Map<string, NodeRecord> | null = null;
  return (tokenId) => {
    if (index === null) {
      index = new Map();
      for (const n of all()) if (n.joinTokenId !== null && n.adminState !== 'decommissioned') index.set(n.joinTokenId, n);
    }
    return index.get(tokenId);
  };
}
