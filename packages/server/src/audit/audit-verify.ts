import type { Store } from '../store/store.js';
import { AUDIT_CHAIN_START_SETTING } from '../store/migration-0004-trust.js';
import { AUDIT_GENESIS, auditRecordHash } from './audit-hash.js';

/** The result of walking the audit chain. */
export interface AuditVerifyResult {
  ok: boolean;
  /** Chained records checked. */
  checked: number;
  /** Records written before the chain existed (migration 0004_trust): not covered, not checked. */
  legacy: number;
  /** The first record that does not fit the chain, and why. */
  firstBroken?: { id: number; reason: string };
}

const PAGE = 1000;

/**
 * Walks the audit log in id order and names the first record that breaks the chain: its content
 * no longer matches its hash (edited), its prev_hash is not the previous record's hash (a record
 * before it was removed or reordered, or the chain was rebuilt from there), or it has no hash
 * although it was written after the chain began. Records up to the id kept by the migration are
 * legacy: they predate the chain. Truncating the newest records cannot be seen by a hash chain alone.
 */
export async function verifyAuditChain(store: Store): Promise<AuditVerifyResult> {
  const legacyUntil = Number((await store.getSetting(AUDIT_CHAIN_START_SETTING)) ?? '0');
  let prevHash: string | null = null;
  let checked = 0;
  let legacy = 0;
  let afterId = 0;
  for (;;) {
    const page = await store.listAuditChain({ afterId, limit: PAGE });
    for (const r of page) {
      afterId = r.id;
      if (r.id <= legacyUntil) {
        legacy++;
        continue;
      }
      checked++;
      const broken = (reason: string): AuditVerifyResult => ({ ok: false, checked, legacy, firstBroken: { id: r.id, reason } });
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
    }
    if (page.length < PAGE) return { ok: true, checked, legacy };
  }
}
