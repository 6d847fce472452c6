import { sql, type Kysely, type Migration } from 'kysely';

/** Settings key holding the id of the last audit record written before the hash chain existed. */
export const AUDIT_CHAIN_START_SETTING = 'audit.chain.legacy-until';

/**
 * 0004_trust: fleet roots (one row per version), the capability and revocation registries, the
 * signed script library, sealed secrets, and the audit log's hash chain.
 *
 * The chain starts at the first audit record written after this migration: older rows keep
 * `hash` null and are reported as legacy by verification, never as broken. The id of the last
 * legacy row is kept in settings so that a later row with its hash wiped cannot pass as legacy.
 */
export const trustMigration: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .createTable('fleet_roots')
      .addColumn('version', 'integer', (c) => c.primaryKey())
      .addColumn('roots', 'text', (c) => c.notNull())
      .addColumn('update_doc', 'text')
      .addColumn('actor', 'text', (c) => c.notNull())
      .addColumn('at', 'bigint', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('capabilities')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('iss', 'text', (c) => c.notNull())
      .addColumn('aud', 'text', (c) => c.notNull())
      .addColumn('can', 'text', (c) => c.notNull())
      .addColumn('on_selector', 'text', (c) => c.notNull())
      .addColumn('nbf', 'bigint', (c) => c.notNull())
      .addColumn('exp', 'bigint', (c) => c.notNull())
      .addColumn('token', 'text', (c) => c.notNull())
      .addColumn('added_at', 'bigint', (c) => c.notNull())
      .addColumn('added_by', 'text', (c) => c.notNull())
      .execute();
    // The server looks up the capabilities delegated to one key (its own, a script signer's).
    await db.schema.createIndex('capabilities_aud').on('capabilities').columns(['aud', 'exp']).execute();

    await db.schema
      .createTable('revocations')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('target_kind', 'text', (c) => c.notNull())
      .addColumn('target', 'text', (c) => c.notNull())
      .addColumn('iss', 'text', (c) => c.notNull())
      .addColumn('at', 'bigint', (c) => c.notNull())
      .addColumn('doc', 'text', (c) => c.notNull())
      .addColumn('added_at', 'bigint', (c) => c.notNull())
      .addColumn('added_by', 'text', (c) => c.notNull())
      .execute();

    // Versions are never rewritten: a new version is a new row; removal only stamps removed_at.
    await db.schema
      .createTable('scripts')
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('content', 'text', (c) => c.notNull())
      .addColumn('sha256', 'text', (c) => c.notNull())
      .addColumn('signer', 'text', (c) => c.notNull())
      .addColumn('signature', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('removed_at', 'bigint')
      .addPrimaryKeyConstraint('scripts_pk', ['name', 'version'])
      .execute();

    await db.schema
      .createTable('secrets')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('sealed', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();

    // One column per statement: SQLite's ALTER TABLE adds one column at a time.
    await db.schema.alterTable('audit_log').addColumn('prev_hash', 'text').execute();
    await db.schema.alterTable('audit_log').addColumn('hash', 'text').execute();
    const last = await db.selectFrom('audit_log').select(sql<number | string | null>`max(id)`.as('last')).executeTakeFirst();
    await db
      .insertInto('settings')
      .values({ key: AUDIT_CHAIN_START_SETTING, value: String(Number(last?.last ?? 0)) })
      .onConflict((oc: any) => oc.column('key').doNothing())
      .execute();
  },
  async down(db: Kysely<any>): Promise<void> {
    await db.deleteFrom('settings').where('key', '=', AUDIT_CHAIN_START_SETTING).execute();
    await db.schema.alterTable('audit_log').dropColumn('hash').execute();
    await db.schema.alterTable('audit_log').dropColumn('prev_hash').execute();
    for (const table of ['secrets', 'scripts', 'revocations', 'capabilities', 'fleet_roots']) await db.schema.dropTable(table).ifExists().execute();
  },
};
