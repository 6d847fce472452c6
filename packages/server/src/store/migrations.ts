import { FleetError } from '@gpufleet/protocol';
import { Migrator, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import type { Database } from './schema.js';

/** Which SQL engine is underneath; the only place migrations differ by dialect is auto-increment. */
export type StoreDialect = 'sqlite' | 'postgres';

/**
 * The store's migrations, in code (no files on disk, so the bundle and tests need nothing beside
 * the JavaScript). Names sort in application order; never edit one that has shipped, add a new one.
 */
export function storeMigrations(dialect: StoreDialect): Record<string, Migration> {
  return {
    '0001_initial': {
      async up(db: Kysely<any>): Promise<void> {
        await db.schema
          .createTable('nodes')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('hostname', 'text', (c) => c.notNull())
          .addColumn('admin_state', 'text', (c) => c.notNull())
          .addColumn('token_labels', 'text', (c) => c.notNull())
          .addColumn('user_labels', 'text', (c) => c.notNull())
          .addColumn('facts', 'text', (c) => c.notNull())
          .addColumn('gpus', 'text', (c) => c.notNull())
          .addColumn('tool_failures', 'text', (c) => c.notNull())
          .addColumn('agent_version', 'text', (c) => c.notNull())
          .addColumn('simulated', 'integer', (c) => c.notNull())
          .addColumn('join_token_id', 'text')
          .addColumn('enrolled_at', 'bigint', (c) => c.notNull())
          .addColumn('last_seen_at', 'bigint')
          .addColumn('acked_seq', 'bigint', (c) => c.notNull())
          .addColumn('cordon_reason', 'text')
          .execute();
        await db.schema.createIndex('nodes_enrolled_at').on('nodes').columns(['enrolled_at', 'id']).execute();

        await db.schema
          .createTable('join_tokens')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('secret_hash', 'text', (c) => c.notNull())
          .addColumn('description', 'text', (c) => c.notNull())
          .addColumn('labels', 'text', (c) => c.notNull())
          .addColumn('reusable', 'integer', (c) => c.notNull())
          .addColumn('needs_approval', 'integer', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('expires_at', 'bigint')
          .addColumn('revoked_at', 'bigint')
          .addColumn('uses', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('created_by', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('join_tokens_created_at').on('join_tokens').columns(['created_at', 'id']).execute();

        await db.schema
          .createTable('api_tokens')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('secret_hash', 'text', (c) => c.notNull())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('role', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('last_used_at', 'bigint')
          .addColumn('revoked_at', 'bigint')
          .execute();
        await db.schema.createIndex('api_tokens_created_at').on('api_tokens').columns(['created_at', 'id']).execute();

        // The primary key is the de-duplication key: replayed outbox items hit it and are skipped.
        await db.schema
          .createTable('agent_events')
          .addColumn('node_id', 'text', (c) => c.notNull())
          .addColumn('seq', 'bigint', (c) => c.notNull())
          .addColumn('id', 'text', (c) => c.notNull())
          .addColumn('ts', 'bigint', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('gpu_uuid', 'text')
          .addColumn('pci_bus_id', 'text')
          .addColumn('message', 'text', (c) => c.notNull())
          .addColumn('data', 'text', (c) => c.notNull())
          .addColumn('received_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('agent_events_pk', ['node_id', 'seq'])
          .execute();
        // listAgentEvents filters by node, kind and time and returns the newest first.
        await db.schema.createIndex('agent_events_node_ts').on('agent_events').columns(['node_id', 'ts']).execute();
        await db.schema.createIndex('agent_events_kind_ts').on('agent_events').columns(['kind', 'ts']).execute();
        await db.schema.createIndex('agent_events_ts').on('agent_events').column('ts').execute();

        // SQLite spells auto-increment on an integer primary key; PostgreSQL uses an identity column.
        await db.schema
          .createTable('audit_log')
          .addColumn('id', dialect === 'sqlite' ? 'integer' : 'bigint', (c) =>
            dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey().generatedAlwaysAsIdentity(),
          )
          .addColumn('at', 'bigint', (c) => c.notNull())
          .addColumn('actor', 'text', (c) => c.notNull())
          .addColumn('action', 'text', (c) => c.notNull())
          .addColumn('target', 'text')
          .addColumn('result', 'text', (c) => c.notNull())
          .addColumn('details', 'text', (c) => c.notNull())
          .execute();
        // listAudit orders by id (append order) and filters by time, actor or action.
        await db.schema.createIndex('audit_log_at').on('audit_log').column('at').execute();
        await db.schema.createIndex('audit_log_actor').on('audit_log').columns(['actor', 'id']).execute();
        await db.schema.createIndex('audit_log_action').on('audit_log').columns(['action', 'id']).execute();

        await db.schema
          .createTable('settings')
          .addColumn('key', 'text', (c) => c.primaryKey())
          .addColumn('value', 'text', (c) => c.notNull())
          .execute();
      },
      async down(db: Kysely<any>): Promise<void> {
        for (const table of ['settings', 'audit_log', 'agent_events', 'api_tokens', 'join_tokens', 'nodes']) {
          await db.schema.dropTable(table).ifExists().execute();
        }
      },
    },
  };
}

/** A MigrationProvider over the in-code migrations above. */
export class InCodeMigrationProvider implements MigrationProvider {
  constructor(private readonly dialect: StoreDialect) {}

  async getMigrations(): Promise<Record<string, Migration>> {
    return storeMigrations(this.dialect);
  }
}

/**
 * Brings the schema up to the latest migration. `migrationTableSchema` pins Kysely's bookkeeping
 * tables to one PostgreSQL schema: without it Kysely would find them in any schema of the database
 * and mistake another tenant's history for ours.
 */
export async function migrateToLatest(
  db: Kysely<Database>,
  dialect: StoreDialect,
  migrationTableSchema?: string,
): Promise<void> {
  const migrator = new Migrator({
    db,
    provider: new InCodeMigrationProvider(dialect),
    ...(migrationTableSchema === undefined ? {} : { migrationTableSchema }),
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    throw new FleetError('internal', `store migration ${failed ?? '(setup)'} failed: ${messageOf(error)}`, { cause: error });
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
