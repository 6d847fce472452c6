import type { Kysely, Migration } from 'kysely';
import type { StoreDialect } from './migrations.js';

/**
 * 0012_releases (issue 14): the TUF repository of signed releases. Every version of every role's
 * metadata as the exact text served (clients hash those bytes), the target files by their SHA-256
 * (content-addressed: the same bytes under two names are kept once), and when each target path
 * was first published. Only new tables; `if not exists` as in 0008.
 */
export function releasesMigration(dialect: StoreDialect): Migration {
  // The one dialect difference: raw bytes are `blob` in SQLite and `bytea` in PostgreSQL.
  const bytesType = dialect === 'sqlite' ? 'blob' : 'bytea';
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('release_metadata')
        .ifNotExists()
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('json', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('release_metadata_pk', ['role', 'version'])
        .execute();

      await db.schema
        .createTable('release_blobs')
        .ifNotExists()
        .addColumn('sha256', 'text', (c) => c.primaryKey())
        .addColumn('length', 'bigint', (c) => c.notNull())
        .addColumn('bytes', bytesType, (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('release_targets')
        .ifNotExists()
        .addColumn('path', 'text', (c) => c.primaryKey())
        .addColumn('sha256', 'text', (c) => c.notNull())
        .addColumn('length', 'bigint', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('version', 'text', (c) => c.notNull())
        .addColumn('targets_version', 'integer', (c) => c.notNull())
        .addColumn('published_at', 'bigint', (c) => c.notNull())
        .execute();
    },
    async down(db: Kysely<any>): Promise<void> {
      for (const table of ['release_targets', 'release_blobs', 'release_metadata']) await db.schema.dropTable(table).ifExists().execute();
    },
  };
}
