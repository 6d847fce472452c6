import type { Store } from '../store/store.js';
import type { Clock } from '../clock.js';
import { AUDIT_GENESIS, auditRecordHash } from './audit-hash.js';
import { AUDIT_CHECKPOINT_SETTING, checkpointSignatureValid, parseCheckpoint, signCheckpoint, type AuditCheckpoint } from './audit-checkpoint.js';
import { readLegacyClaim, walkAuditChain } from './audit-verify.js';

export interface AuditCheckpointerOptions {
  store: Store;
  clock: Clock;
  signer: { did: string; sign(message: string): string };
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
  /** How long after an append the new head is signed; appends in between share one signature. */
  delayMs?: number;
}

/**
 * Signs the audit chain's head a moment after records are appended. It never signs what it has
 * not checked: before a new signature it walks the records since the last checkpoint and checks
 * they continue the signed hash. Reading the head back from the database and signing it blindly
 * would launder a rewrite into a valid signature at the next append.
 */
export class AuditCheckpointer {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> = Promise.resolve();
  /** The newest checkpoint this process signed: a checkpoint that vanishes from the store is tampering. */
  private lastSigned: AuditCheckpoint | null = null;
  /** Set once the chain failed a check: from then on nothing is signed, so the break stays visible. */
  private refused: string | null = null;
  private closed = false;

  constructor(private readonly o: AuditCheckpointerOptions) {}

  /** Checks the chain as it is and signs its head; called once at start-up. */
  start(): Promise<void> {
    return this.flush();
  }

  /** An append happened: sign the new head soon. */
  notify(): void {
    if (this.closed || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, this.o.delayMs ?? 1000);
    this.timer.unref();
  }

  /** Signs the current head now (after pending work); failures are logged, never thrown. */
  flush(): Promise<void> {
    const next = this.running
      .then(() => this.checkpoint())
      .catch((err: unknown) => this.o.log.warn({ err }, 'audit checkpoint failed; it is retried at the next append'));
    this.running = next;
    return next;
  }

  /** Signs what is pending and stops. */
  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.flush();
    this.closed = true;
  }

  /** Why signing stopped, or null while the chain checks out. */
  get refusal(): string | null {
    return this.refused;
  }

  private refuse(reason: string): void {
    if (this.refused === null)
      this.o.log.error({ reason }, 'the audit chain does not match its signed checkpoint: checkpoints stop until an operator looks (gpufleet audit verify)');
    this.refused = reason;
  }

  private async checkpoint(): Promise<void> {
    if (this.refused !== null || this.closed) return;
    const { store } = this.o;
    const stored = await store.getSetting(AUDIT_CHECKPOINT_SETTING);
    let from: AuditCheckpoint | null = null;
    if (stored !== undefined) {
      const parsed = parseCheckpoint(stored);
      if ('error' in parsed) return this.refuse(parsed.error);
      if (!checkpointSignatureValid(parsed.checkpoint, this.o.signer.did))
        return this.refuse("the stored checkpoint is not signed by this control plane's key");
      from = parsed.checkpoint;
    } else if (this.lastSigned) {
      return this.refuse(`the checkpoint this server signed for record ${this.lastSigned.id} was removed from the store`);
    }
    if (from && this.lastSigned && from.id < this.lastSigned.id && from.at < this.lastSigned.at) {
      // Another replica may sign an older head a moment later; an older checkpoint that is also older in time is a rollback.
      return this.refuse(`the stored checkpoint was rolled back from record ${this.lastSigned.id} to ${from.id}`);
    }
    if (from && from.id > 0) {
      const [at] = await store.listAuditChain({ afterId: from.id - 1, limit: 1 });
      if (!at || at.id !== from.id) return this.refuse(`record ${from.id}, named by the signed checkpoint, is gone`);
      if (at.hash !== from.hash || at.prevHash === null || at.damaged !== undefined || auditRecordHash(at.prevHash, at) !== at.hash) {
        return this.refuse(`record ${from.id} no longer has the signed hash`);
      }
    }

    if (from?.v === 2) {
      // The signed checkpoint fixes the legacy boundary; only the records since its head are new.
      const start = from.id > 0 ? { afterId: from.id, prevHash: from.hash } : { afterId: from.legacy.until, prevHash: null };
      const walk = await walkAuditChain(store, { start, legacyUntil: from.legacy.until });
      if (!walk.ok) return this.refuse(`record ${walk.firstBroken!.id}: ${walk.firstBroken!.reason}`);
      if (walk.head) await this.store(signCheckpoint(walk.head, this.o.clock.now(), { legacy: from.legacy, first: from.first }, this.o.signer));
      return;
    }

    // No checkpoint (a new database, or one whose checkpoint was removed while no server ran) or a
    // version 1 one: the whole log must verify before it is signed, with the legacy boundary the
    // migration wrote. That row is trusted here once, checked for consistency (no chained record
    // may lie inside it), and bound by the signature from then on.
    const legacyUntil = await readLegacyClaim(store);
    const walk = await walkAuditChain(store, { legacyUntil });
    if (!walk.ok) return this.refuse(`record ${walk.firstBroken!.id}: ${walk.firstBroken!.reason}`);
    const head = walk.head ?? { id: 0, hash: AUDIT_GENESIS };
    const now = this.o.clock.now();
    const first = from ? { at: from.at, id: from.id } : { at: now, id: head.id };
    if (!from && walk.checked + walk.legacy > 0) {
      this.o.log.warn(
        { records: walk.checked, legacy: walk.legacy, head: head.id },
        'no signed audit checkpoint found although audit records exist: the chain verifies and is trusted as it is now (audit verify reports it as first signed now). Expected once after an upgrade; otherwise the checkpoint was removed',
      );
    }
    await this.store(signCheckpoint(head, now, { legacy: { until: legacyUntil, hash: walk.legacyHash }, first }, this.o.signer));
  }

  private async store(cp: AuditCheckpoint): Promise<void> {
    await this.o.store.setSetting(AUDIT_CHECKPOINT_SETTING, JSON.stringify(cp));
    this.lastSigned = cp;
  }
}
