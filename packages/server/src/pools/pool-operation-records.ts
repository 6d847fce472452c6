import { randomBytes } from 'node:crypto';
import type { PoolOperationRecord } from '../store/pool-records.js';

export function newOperationId(): string {
  return `op-${randomBytes(8).toString('hex')}`;
}

/** A new operation as stored before its first step. */
export function newOp(
  pool: string,
  kind: PoolOperationRecord['kind'],
  stage: PoolOperationRecord['stage'],
  reason: string,
  now: number,
  fields: Partial<Pick<PoolOperationRecord, 'oldNodeId' | 'instanceId'>>,
): PoolOperationRecord {
  return {
    id: newOperationId(),
    pool,
    kind,
    stage,
    reason,
    oldNodeId: fields.oldNodeId ?? null,
    instanceId: fields.instanceId ?? null,
    joinTokenId: null,
    newNodeId: null,
    zone: null,
    zonesTried: [],
    attempts: 0,
    error: null,
    startedAt: now,
    updatedAt: now,
    deadlineAt: null,
    notBefore: null,
  };
}
