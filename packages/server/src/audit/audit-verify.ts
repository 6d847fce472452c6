import type { Store } from '../store/store.js';
import { AUDIT_CHAIN_START_SETTING } from '../store/migration-0004-trust.js';
import { AUDIT_GENESIS, auditRecordHash } from './audit-hash.js';
import { AUDIT_CHECKPOINT_SETTING, checkpointSignatureValid, parseCheckpoint } from './audit-checkpoint.js';

/** How the chain's head compares with the control plane's signed checkpoint. */
export type CheckpointStatus =
  /** The checkpointed record is there with the signed hash. */
  | 'ok'
  /** No checkpoint and no chained records: a database no server has started on yet. */
  | 'none'
  /** Chained records exist but no checkpoint does: it was removed. */
  | 'missing'
  | 'malformed'
  /** Not signed by this control plane's key. */
  | 'bad_signature'
  /** The checkpointed record no longer has the signed hash: the chain was rewritten up to it. */
  | 'mismatch'
  /** The checkpointed record is gone: the newest records were removed. */
  | 'truncated';

export interface CheckpointReport {
  status: CheckpointStatus;
  /** The record the checkpoint covers and when it was signed (epoch ms). */
  id?: number;
  at?: number;
  /** Records newer than the checkpoint (written since it was last signed). */
  unsigned?: number;
  reason?: string;
}

/** The result of walking the audit chain. */
export interface AuditVerifyResult {
  ok: boolean;
  /** Chained records checked. */
  checked: number;
  /** Records written before the chain existed (migration 0004_trust): not covered, not checked. */
  legacy: number;
  /** The first record that does not fit the chain, and why. */
  firstBroken?: { id: number; reason: string };
  /** Present when the check included the signed checkpoint. */
  checkpoint?: CheckpointReport;
}

/** Where a walk starts: after record `afterId`, whose hash is `prevHash` (null: the chain's start). */
export interface ChainStart {
  afterId: number;
  prevHash: string | null;
}

export interface ChainWalk extends AuditVerifyResult {
  /** The newest chained record walked. */
  head: { id: number; hash: string } | null;
}

const PAGE = 1000;

/**
 * Walks the audit log in id order from `start` and names the first record that breaks the chain:
 * its content no longer matches its hash (edited), its prev_hash is not the previous record's hash
 * (a record before it was removed or reordered, or the chain was rebuilt from there), or it has no
 * hash although it was written after the chain began. Records up to the id kept by the migration
 * are legacy: they predate the chain. `seen` is called with every chained record that fits.
 */
export async function walkAuditChain(store: Store, start: ChainStart = { afterId: 0, prevHash: null }, seen: (r: { id: number; hash: string }) => void = () => {}): Promise<ChainWalk> {
  const legacyUntil = Number((await store.getSetting(AUDIT_CHAIN_START_SETTING)) ?? '0');
  let prevHash = start.prevHash;
  let afterId = start.afterId;
  let checked = 0;
  let legacy = 0;
  let head: ChainWalk['head'] = null;
  for (;;) {
    const page = await store.listAuditChain({ afterId, limit: PAGE });
    for (const r of page) {
      afterId = r.id;
      if (r.id <= legacyUntil) {
        legacy++;
        continue;
      }
      checked++;
      const broken = (reason: string): ChainWalk => ({ ok: false, checked, legacy, firstBroken: { id: r.id, reason }, head });
      if (r.damaged !== undefined) return broken(`the record's details are not valid JSON: it was changed after it was written`);
      if (r.hash === null || r.prevHash === null) return broken('the record carries no hash, but it was written after the chain began');
      const expectedPrev = prevHash ?? AUDIT_GENESIS;
      if (r.prevHash !== expectedPrev) {
        return broken(prevHash === null ? 'the first chained record does not start from the genesis hash: records before it were removed' : "prev_hash does not match the previous record's hash: a record before it was removed, reordered or rewritten");
      }
      let actual: string;
      try {
        actual = auditRecordHash(r.prevHash, r);
      } catch (err) {
        return broken(`the record cannot be hashed: ${(err as Error).message}`);
      }
      if (actual !== r.hash) return broken('the record does not match its hash: its content was changed after it was written');
      prevHash = r.hash;
      head = { id: r.id, hash: r.hash };
      seen(head);
    }
    if (page.length < PAGE) return { ok: true, checked, legacy, head };
  }
}

/**
 * Checks the whole chain and, given the control plane's did, the signed checkpoint of its head
 * (see audit-checkpoint.ts): a chain that is consistent in itself but was rewritten, or whose
 * newest records were removed, fails here. Records newer than the checkpoint (at most about a
 * second old while the server runs) are counted as unsigned.
 */
export async function verifyAuditChain(store: Store, opts: { serverDid?: string } = {}): Promise<AuditVerifyResult> {
  // Read before walking: the head can only move forward while we walk, never behind it.
  const stored = opts.serverDid === undefined ? undefined : await store.getSetting(AUDIT_CHECKPOINT_SETTING);
  const parsed = stored === undefined ? undefined : parseCheckpoint(stored);
  const cp = parsed && 'checkpoint' in parsed ? parsed.checkpoint : null;
  let atCheckpoint: string | null = null;
  let after = 0;
  const walk = await walkAuditChain(store, undefined, (r) => {
    if (cp && r.id === cp.id) atCheckpoint = r.hash;
    if (cp && r.id > cp.id) after++;
  });
  const { head, ...result } = walk;
  if (opts.serverDid === undefined) return result;
  const report = ((): CheckpointReport => {
    if (parsed && 'error' in parsed) return { status: 'malformed', reason: parsed.error };
    if (!cp) return head || walk.checked > 0 ? { status: 'missing', reason: 'chained records exist but no signed checkpoint does: it was removed' } : { status: 'none' };
    const base = { id: cp.id, at: cp.at };
    if (!checkpointSignatureValid(cp, opts.serverDid!)) return { ...base, status: 'bad_signature', reason: `the checkpoint is not signed by this control plane's key (${opts.serverDid})` };
    if (!walk.ok) return { ...base, status: 'ok', unsigned: after, reason: 'not compared: the chain itself is broken' };
    if (cp.id === 0) return { ...base, status: 'ok', unsigned: after };
    if (atCheckpoint === null) {
      return { ...base, status: 'truncated', reason: head && head.id > cp.id ? `record ${cp.id}, named by the checkpoint, is gone` : `the newest records were removed: the signed checkpoint names record ${cp.id}, the log now ends at ${head?.id ?? 'nothing'}` };
    }
    if (atCheckpoint !== cp.hash) return { ...base, status: 'mismatch', reason: `record ${cp.id} no longer has the signed hash: the chain was rewritten up to it` };
    return { ...base, status: 'ok', unsigned: after };
  })();
  return { ...result, ok: result.ok && (report.status === 'ok' || report.status === 'none'), checkpoint: report };
}
