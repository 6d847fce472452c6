import type { Kysely, Migration } from 'kysely';
import type { StoreDialect } from './migrations.js';

/**
 * 0013_rollouts (issue 14): rollouts of signed releases, one row per chosen host with its step
 * and state, and each rollout's history (step changes, host failures, operators' actions). Only
 * new tables; `if not exists` as in 0008.
 */
export function rolloutsMigration(dialect: StoreDialect): Migration {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('rollouts')
        .ifNotExists()
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('version', 'text', (c) => c.notNull())
        .addColumn('target_path', 'text', (c) => c.notNull())
        .addColumn('target_sha256', 'text', (c) => c.notNull())
        .addColumn('selector', 'text', (c) => c.notNull())
        .addColumn('plan', 'text', (c) => c.notNull())
        .addColumn('signed', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('step', 'integer', (c) => c.notNull())
        .addColumn('steps', 'text', (c) => c.notNull())
        .addColumn('forgiven_failures', 'integer', (c) => c.notNull())
        .addColumn('message', 'text')
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('rollouts_state').ifNotExists().on('rollouts').columns(['state', 'created_at']).execute();

      await db.schema
        .createTable('rollout_hosts')
        .ifNotExists()
        .addColumn('rollout_id', 'text', (c) => c.notNull())
        .addColumn('node_id', 'text', (c) => c.notNull())
        .addColumn('hostname', 'text', (c) => c.notNull())
        .addColumn('step', 'integer', (c) => c.notNull())
        .addColumn('position', 'integer', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('from_version', 'text')
        .addColumn('running_version', 'text')
        .addColumn('healthy_since', 'bigint')
        .addColumn('failed_at', 'bigint')
        .addColumn('rollback', 'text', (c) => c.notNull())
        .addColumn('message', 'text')
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('rollout_hosts_pk', ['rollout_id', 'node_id'])
        .execute();
      // A node coming back looks up its places in rollouts.
      await db.schema.createIndex('rollout_hosts_node').ifNotExists().on('rollout_hosts').columns(['node_id', 'state']).execute();

      await db.schema
        .createTable('rollout_events')
        .ifNotExists()
        .addColumn('id', dialect === 'sqlite' ? 'integer' : 'bigint', (c) =>
          dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey().generatedAlwaysAsIdentity(),
        )
        .addColumn('rollout_id', 'text', (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('node_id', 'text')
        .addColumn('message', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('rollout_events_rollout').ifNotExists().on('rollout_events').columns(['rollout_id', 'id']).execute();
    },
    async down(db: Kysely<any>): Promise<void> {
      for (const table of ['rollout_events', 'rollout_hosts', 'rollouts']) await db.schema.dropTable(table).ifExists().execute();
    },
  };
}
