import { FleetError, LabelAttestation } from '@gpufleet/protocol';
import { sql, type Kysely } from 'kysely';
import { AUDIT_GENESIS, auditRecordHash } from '../audit/audit-hash.js';
import type { StoreDialect } from './migrations.js';
import { auditToRow, rowToAudit } from './row-mappers.js';
import type { Database } from './schema.js';
import { checkId, checkInt, checkLimit, checkText } from './store-checks.js';
import type { AuditInput } from './store.js';
import type {
  AuditChainRecord,
  CapabilityRecord,
  LabelAttestationRecord,
  ListAuditChainQuery,
  RevocationRecord,
  RootsVersionRecord,
  ScriptRecord,
  SecretRecord,
  TrustStore,
} from './trust-records.js';
import {
  capabilityToRow,
  revocationToRow,
  rootsToRow,
  rowToAuditChain,
  rowToCapability,
  rowToRevocation,
  rowToRoots,
  rowToScript,
  rowToSecret,
  scriptToRow,
  secretToRow,
} from './trust-rows.js';

/**
 * The trust tables (0004_trust) and the chained audit append, over the same Kysely instance as
 * KyselyStore, which delegates to this. Portable SQL only, like the rest of the store.
 */
export class KyselyTrustStore implements TrustStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly kind: StoreDialect,
  ) {}

  /**
   * Appends one audit record and links it to the newest one before it, in one transaction. The
   * insert comes first on SQLite: it takes the database's write lock, so no other process can
   * slip a record in between reading the previous hash and writing this one. PostgreSQL rows are
   * locked per row, not per table, so replicas take a transaction-level advisory lock (scoped to
   * the current schema, so tenants sharing a database do not wait on each other).
   */
  async appendAudit(entry: AuditInput): Promise<number> {
    const row = auditToRow(entry);
    return this.db.transaction().execute(async (trx) => {
      if (this.kind === 'postgres') await sql`select pg_advisory_xact_lock(hashtext(current_schema() || '.gpufleet.audit_log'))`.execute(trx);
      const inserted = await trx.insertInto('audit_log').values(row).returning('id').executeTakeFirstOrThrow();
      const id = Number(inserted.id);
      const prev = await trx.selectFrom('audit_log').select(['id', 'hash']).where('id', '<', id).orderBy('id', 'desc').limit(1).executeTakeFirst();
      // A record after legacy (pre-chain) rows starts the chain.
      const prevHash = prev?.hash ?? AUDIT_GENESIS;
      // Hash what a verifier will read back: details parsed from the stored JSON text.
      const stored = rowToAudit({ ...row, id, prev_hash: null, hash: null });
      await trx
        .updateTable('audit_log')
        .set({ prev_hash: prevHash, hash: auditRecordHash(prevHash, stored) })
        .where('id', '=', id)
        .execute();
      return id;
    });
  }

  async listAuditChain(query: ListAuditChainQuery = {}): Promise<AuditChainRecord[]> {
    const q = query ?? {};
    let select = this.db.selectFrom('audit_log').selectAll();
    if (q.afterId !== undefined) select = select.where('id', '>', checkInt('afterId', q.afterId));
    const rows = await select.orderBy('id').limit(checkLimit(q.limit)).execute();
    return rows.map(rowToAuditChain);
  }

  // ---- roots ----

  async insertRootsVersion(record: RootsVersionRecord): Promise<void> {
    const row = rootsToRow(record);
    const r = await this.db
      .insertInto('fleet_roots')
      .values(row)
      .onConflict((oc) => oc.column('version').doNothing())
      .executeTakeFirst();
    if (Number(r.numInsertedOrUpdatedRows ?? 0n) === 0) throw new FleetError('already_exists', `roots version ${row.version} already exists`);
  }

  async listRootsVersions(): Promise<RootsVersionRecord[]> {
    return (await this.db.selectFrom('fleet_roots').selectAll().orderBy('version').execute()).map(rowToRoots);
  }

  // ---- capabilities and revocations ----

  async insertCapability(record: CapabilityRecord): Promise<boolean> {
    const row = capabilityToRow(record);
    const r = await this.db
      .insertInto('capabilities')
      .values(row)
      .onConflict((oc) => oc.column('id').doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0n) > 0;
  }

  async getCapability(id: string): Promise<CapabilityRecord | undefined> {
    const row = await this.db.selectFrom('capabilities').selectAll().where('id', '=', checkId('id', id)).executeTakeFirst();
    return row === undefined ? undefined : rowToCapability(row);
  }

  async listCapabilities(query: { aud?: string } = {}): Promise<CapabilityRecord[]> {
    let select = this.db.selectFrom('capabilities').selectAll();
    if (query?.aud !== undefined) select = select.where('aud', '=', checkId('aud', query.aud));
    return (await select.orderBy('added_at').orderBy('id').execute()).map(rowToCapability);
  }

  async insertRevocation(record: RevocationRecord): Promise<boolean> {
    const row = revocationToRow(record);
    const r = await this.db
      .insertInto('revocations')
      .values(row)
      .onConflict((oc) => oc.column('id').doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0n) > 0;
  }

  async listRevocations(): Promise<RevocationRecord[]> {
    return (await this.db.selectFrom('revocations').selectAll().orderBy('added_at').orderBy('id').execute()).map(rowToRevocation);
  }

  // ---- scripts ----

  async insertScriptVersion(record: ScriptRecord): Promise<void> {
    const row = scriptToRow(record);
    const r = await this.db
      .insertInto('scripts')
      .values(row)
      .onConflict((oc) => oc.columns(['name', 'version']).doNothing())
      .executeTakeFirst();
    if (Number(r.numInsertedOrUpdatedRows ?? 0n) === 0) throw new FleetError('already_exists', `script ${row.name} version ${row.version} already exists`);
  }

  async getScript(name: string, version?: number): Promise<ScriptRecord | undefined> {
    let select = this.db.selectFrom('scripts').selectAll().where('name', '=', checkId('name', name));
    if (version !== undefined) select = select.where('version', '=', checkInt('version', version));
    const row = await select.orderBy('version', 'desc').limit(1).executeTakeFirst();
    return row === undefined ? undefined : rowToScript(row);
  }

  async listScripts(): Promise<ScriptRecord[]> {
    const rows = await this.db
      .selectFrom('scripts as s')
      .selectAll('s')
      .where(({ eb, selectFrom }) =>
        eb(
          's.version',
          '=',
          selectFrom('scripts as t')
            .select((e) => e.fn.max('t.version').as('v'))
            .whereRef('t.name', '=', 's.name'),
        ),
      )
      .orderBy('s.name')
      .execute();
    return rows.map(rowToScript);
  }

  async listScriptVersions(name: string): Promise<ScriptRecord[]> {
    const rows = await this.db.selectFrom('scripts').selectAll().where('name', '=', checkId('name', name)).orderBy('version').execute();
    return rows.map(rowToScript);
  }

  async markScriptRemoved(name: string, at: number): Promise<number> {
    const r = await this.db
      .updateTable('scripts')
      .set({ removed_at: checkInt('at', at) })
      .where('name', '=', checkId('name', name))
      .where('removed_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  // ---- secrets ----

  async insertSecret(record: SecretRecord): Promise<boolean> {
    const row = secretToRow(record);
    const r = await this.db
      .insertInto('secrets')
      .values(row)
      .onConflict((oc) => oc.column('id').doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0n) > 0;
  }

  async getSecret(id: string): Promise<SecretRecord | undefined> {
    const row = await this.db.selectFrom('secrets').selectAll().where('id', '=', checkId('id', id)).executeTakeFirst();
    return row === undefined ? undefined : rowToSecret(row);
  }

  async replaceSecret(id: string, expectedSealed: string, sealed: string): Promise<boolean> {
    const r = await this.db
      .updateTable('secrets')
      .set({ sealed: checkText('sealed', sealed) })
      .where('id', '=', checkId('id', id))
      .where('sealed', '=', checkText('expectedSealed', expectedSealed))
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async listSecretIds(): Promise<string[]> {
    const rows = await this.db.selectFrom('secrets').select('id').orderBy('id').execute();
    return rows.map((r) => r.id);
  }

  // ---- label attestations (0005) ----

  async putLabelAttestation(record: LabelAttestationRecord): Promise<boolean> {
    const parsed = LabelAttestation.safeParse(record?.attestation);
    if (!parsed.success || parsed.data.node !== record.nodeId || parsed.data.version !== record.version) {
      throw new FleetError('invalid_argument', 'a stored label attestation must be well-formed and match its node id and version');
    }
    const row = {
      node_id: checkId('nodeId', record.nodeId),
      version: checkInt('version', record.version),
      doc: JSON.stringify(parsed.data),
      actor: record.actor,
      at: checkInt('at', record.at),
    };
    // One statement: of two racing writers, only a strictly newer version replaces the row.
    const r = await this.db
      .insertInto('label_attestations')
      .values(row)
      .onConflict((oc) =>
        oc
          .column('node_id')
          .doUpdateSet((eb) => ({
            version: eb.ref('excluded.version'),
            doc: eb.ref('excluded.doc'),
            actor: eb.ref('excluded.actor'),
            at: eb.ref('excluded.at'),
          }))
          .where('label_attestations.version', '<', row.version),
      )
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0n) > 0;
  }

  async getLabelAttestation(nodeId: string): Promise<LabelAttestationRecord | undefined> {
    const row = await this.db.selectFrom('label_attestations').selectAll().where('node_id', '=', checkId('nodeId', nodeId)).executeTakeFirst();
    return row === undefined ? undefined : rowToLabelAttestation(row);
  }

  async listLabelAttestations(): Promise<LabelAttestationRecord[]> {
    return (await this.db.selectFrom('label_attestations').selectAll().orderBy('node_id').execute()).map(rowToLabelAttestation);
  }
}

function rowToLabelAttestation(row: {
  node_id: string;
  version: number | string | bigint;
  doc: string;
  actor: string;
  at: number | string | bigint;
}): LabelAttestationRecord {
  return { nodeId: row.node_id, version: Number(row.version), attestation: LabelAttestation.parse(JSON.parse(row.doc)), actor: row.actor, at: Number(row.at) };
}
