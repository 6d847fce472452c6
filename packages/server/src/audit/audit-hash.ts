import { createHash } from 'node:crypto';
import { canonicalJson } from '@gpufleet/protocol';

/** prev_hash of the first record of the chain (the first one written after migration 0004_trust). */
export const AUDIT_GENESIS = '0'.repeat(64);

/** The fields of an audit record that its hash covers. */
export interface HashedAuditFields {
  id: number;
  at: number;
  actor: string;
  action: string;
  target: string | null;
  result: 'ok' | 'error';
  details: unknown;
}

/**
 * hash = sha256(prevHash + canonicalJson({id, at, actor, action, target, result, details})), hex.
 * `details` must be the value as stored (parsed back from its JSON text), so that the writer and a
 * later verifier hash the very same thing.
 */
export function auditRecordHash(prevHash: string, r: HashedAuditFields): string {
  const body = canonicalJson({ id: r.id, at: r.at, actor: r.actor, action: r.action, target: r.target, result: r.result, details: r.details });
  return createHash('sha256').update(prevHash).update(body).digest('hex');
}
