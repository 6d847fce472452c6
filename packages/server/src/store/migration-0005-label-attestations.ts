import type { Kysely, Migration } from 'kysely';

/**
 * 0005_label_attestations: each node's latest signed label attestation (one row per node; a
 * newer version replaces the row). Hosts verify their copy themselves; the server keeps the
 * latest to push it in trust frames on every session.
 */
export const labelAttestationsMigration: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .createTable('label_attestations')
      .addColumn('node_id', 'text', (c) => c.primaryKey())
      .addColumn('version', 'bigint', (c) => c.notNull())
      .addColumn('doc', 'text', (c) => c.notNull())
      .addColumn('actor', 'text', (c) => c.notNull())
      .addColumn('at', 'bigint', (c) => c.notNull())
      .execute();
  },
  async down(db: Kysely<any>): Promise<void> {
    await db.schema.dropTable('label_attestations').ifExists().execute();
  },
};
