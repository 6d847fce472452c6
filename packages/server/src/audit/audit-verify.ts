import type { Store } from '../store/store.js';
import { AUDIT_CHAIN_START_SETTING } from '../store/migration-0004-trust.js';
import { AUDIT_GENESIS, auditRecordHash } from './audit-hash.js';
import { AUDIT_CHECKPOINT_SETTING, checkpointSignatureValid, parseCheckpoint, type AuditCheckpoint } from './audit-checkpoint.js';

/** How the chain compares with the control plane's signed checkpoint. */
export type CheckpointStatus =
  /** The checkpointed record is there with the signed hash, and the legacy records match theirs. */
  | 'ok'
  /** No checkpoint and no audit records at all: a database no server has started on yet. */
  | 'none'
  /** Audit records exist but no checkpoint does: it was removed. */
  | 'missing'
  | 'malformed'
  /** Not signed by this control plane's key. */
  | 'bad_signature'
  /** The checkpointed record, or the records before the chain, no longer have the signed hash. */
  | 'mismatch'
  /** The checkpointed record is gone: the newest records were removed. */
  | 'truncated'
  /** A version 1 checkpoint, which does not sign the legacy boundary: the server re-signs it as version 2 when it starts. */
  | 'outdated';

export interface CheckpointReport {
  status: CheckpointStatus;
  /** The record the checkpoint covers and when it was signed (epoch ms). */
  id?: number;
  at?: number;
  /** Records newer than the checkpoint (written since it was last signed). */
  unsigned?: number;
  /** When, and at which record, the chain was first signed: what came before was trusted on first use. */
  first?: { at: number; id: number };
  /** The signed legacy boundary: records up to this id predate the chain. */
  legacyUntil?: number;
  reason?: string;
}

/** The result of walking the audit chain. */
export interface AuditVerifyResult {
  ok: boolean;
  /** Chained records checked. */
  checked: number;
  /** Records written before the chain existed (migration 0004_trust): covered by the checkpoint's legacy hash only. */
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

export interface ChainWalkOptions {
  start?: ChainStart;
  /** Records with ids up to this one predate the chain. Take it from a signed checkpoint, never from a row alone. */
  legacyUntil: number;
  /** Called with every chained record that fits. */
  seen?: (r: { id: number; hash: string }) => void;
}

export interface ChainWalk extends AuditVerifyResult {
  /** The newest chained record walked. */
  head: { id: number; hash: string } | null;
  /** The legacy records walked, chained from the genesis hash in id order (the genesis hash when none). */
  legacyHash: string;
}

const PAGE = 1000;

/**
 * The legacy boundary the migration wrote into settings. It is only a claim: anyone who can write
 * the database can change it. It is read once, when a chain is first signed (and then bound by the
 * signature), or to describe a chain whose checkpoint is missing or broken (then nothing passes).
 */
export async function readLegacyClaim(store: Store): Promise<number> {
  const text = await store.getSetting(AUDIT_CHAIN_START_SETTING);
  return text !== undefined && /^\d{1,15}$/.test(text) ? Number(text) : 0;
}

/**
 * Walks the audit log in id order from `start` and names the first record that breaks the chain:
 * its content no longer matches its hash (edited), its prev_hash is not the previous record's hash
 * (a record before it was removed or reordered, or the chain was rebuilt from there), or it has no
 * hash although it was written after the chain began. Records up to `legacyUntil` are legacy: they
 * must carry no hash (a chained record inside the range means the boundary was moved), and they
 * are hashed into `legacyHash` for the checkpoint to cover.
 */
export async function walkAuditChain(store: Store, o: ChainWalkOptions): Promise<ChainWalk> {
  const seen = o.seen ?? (() => {});
  let prevHash = o.start?.prevHash ?? null;
  let afterId = o.start?.afterId ?? 0;
  let legacyHash = AUDIT_GENESIS;
  let checked = 0;
  let legacy = 0;
  let head: ChainWalk['head'] = null;
  for (;;) {
    const page = await store.listAuditChain({ afterId, limit: PAGE });
    for (const r of page) {
      afterId = r.id;
      const broken = (reason: string): ChainWalk => ({ ok: false, checked, legacy, firstBroken: { id: r.id, reason }, head, legacyHash });
      if (r.id <= o.legacyUntil) {
        legacy++;
        if (r.hash !== null || r.prevHash !== null)
          return broken(`the record carries a chain hash but lies in the legacy range (up to record ${o.legacyUntil}): the legacy boundary was moved`);
        if (r.damaged !== undefined) return broken(`the legacy record's details are not valid JSON: it was changed after it was written`);
        legacyHash = auditRecordHash(legacyHash, r);
        continue;
      }
      checked++;
      if (r.damaged !== undefined) return broken(`the record's details are not valid JSON: it was changed after it was written`);
      if (r.hash === null || r.prevHash === null) return broken('the record carries no hash, but it was written after the chain began');
      const expectedPrev = prevHash ?? AUDIT_GENESIS;
      if (r.prevHash !== expectedPrev) {
        return broken(
          prevHash === null
            ? 'the first chained record does not start from the genesis hash: records before it were removed'
            : "prev_hash does not match the previous record's hash: a record before it was removed, reordered or rewritten",
        );
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
    if (page.length < PAGE) return { ok: true, checked, legacy, head, legacyHash };
  }
}

/**
 * Checks the whole chain and, given the control plane's did, the signed checkpoint of its head
 * (see audit-checkpoint.ts): a chain that is consistent in itself but was rewritten, or whose
 * newest records were removed, fails here, and so does a missing checkpoint once any record
 * exists. The legacy boundary comes from the signed checkpoint; settings rows exempt nothing.
 * Records newer than the checkpoint (at most about a second old while the server runs) are
 * counted as unsigned.
 */
export async function verifyAuditChain(store: Store, opts: { serverDid?: string } = {}): Promise<AuditVerifyResult> {
  // Read before walking: the head can only move forward while we walk, never behind it.
  const stored = opts.serverDid === undefined ? undefined : await store.getSetting(AUDIT_CHECKPOINT_SETTING);
  const parsed = stored === undefined ? undefined : parseCheckpoint(stored);
  const found = parsed && 'checkpoint' in parsed ? parsed.checkpoint : null;
  const cp: AuditCheckpoint | null = found && opts.serverDid !== undefined && checkpointSignatureValid(found, opts.serverDid) ? found : null;
  // Only a signed v2 checkpoint fixes the boundary; otherwise the row is a claim, and the result cannot pass anyway.
  const legacyUntil = cp?.v === 2 ? cp.legacy.until : await readLegacyClaim(store);
  let atCheckpoint: string | null = null;
  let after = 0;
  const walk = await walkAuditChain(store, {
    legacyUntil,
    seen: (r) => {
      if (cp && r.id === cp.id) atCheckpoint = r.hash;
      if (cp && r.id > cp.id) after++;
    },
  });
  const { head, legacyHash, ...result } = walk;
  if (opts.serverDid === undefined) return result;
  const report = ((): CheckpointReport => {
    if (parsed && 'error' in parsed) return { status: 'malformed', reason: parsed.error };
    if (!found)
      return walk.checked + walk.legacy > 0 || !walk.ok
        ? { status: 'missing', reason: 'audit records exist but no signed checkpoint does: it was removed' }
        : { status: 'none' };
    const base = { id: found.id, at: found.at };
    if (!cp) return { ...base, status: 'bad_signature', reason: `the checkpoint is not signed by this control plane's key (${opts.serverDid})` };
    if (cp.v === 1)
      return {
        ...base,
        status: 'outdated',
        reason: 'a version 1 checkpoint does not sign the legacy boundary; the control plane re-signs it as version 2 when it starts',
      };
    const signed = { ...base, first: cp.first, legacyUntil: cp.legacy.until };
    if (!walk.ok) return { ...signed, status: 'ok', unsigned: after, reason: 'not compared: the chain itself is broken' };
    if (legacyHash !== cp.legacy.hash)
      return {
        ...signed,
        status: 'mismatch',
        reason: `the ${walk.legacy} records before the chain (up to record ${cp.legacy.until}) no longer have the signed hash: one was edited, removed or added`,
      };
    if (cp.id === 0) return { ...signed, status: 'ok', unsigned: after };
    if (atCheckpoint === null) {
      return {
        ...signed,
        status: 'truncated',
        reason:
          head && head.id > cp.id
            ? `record ${cp.id}, named by the checkpoint, is gone`
            : `the newest records were removed: the signed checkpoint names record ${cp.id}, the log now ends at ${head?.id ?? 'nothing'}`,
      };
    }
    if (atCheckpoint !== cp.hash)
      return { ...signed, status: 'mismatch', reason: `record ${cp.id} no longer has the signed hash: the chain was rewritten up to it` };
    return { ...signed, status: 'ok', unsigned: after };
  })();
  return { ...result, ok: result.ok && (report.status === 'ok' || report.status === 'none'), checkpoint: report };
}
