import type { Kysely, Migration } from 'kysely';
import type { StoreDialect } from './migrations.js';

/**
 * 0008_pools (issue 11): the applied providers and pools, each pool's desired size, its members
 * (instance <-> node), its operations with the stage they reached, its events, its size over
 * time, and each provider's key-value state. Only new tables: rows already stored are untouched.
 * `if not exists` everywhere, as in 0007_workloads.
 */
export function poolsMigration(dialect: StoreDialect): Migration {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('pool_providers')
        .ifNotExists()
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('spec', 'text', (c) => c.notNull())
        .addColumn('base_dir', 'text', (c) => c.notNull())
        .addColumn('applied_at', 'bigint', (c) => c.notNull())
        .addColumn('applied_by', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('pool_configs')
        .ifNotExists()
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('spec', 'text', (c) => c.notNull())
        .addColumn('applied_at', 'bigint', (c) => c.notNull())
        .addColumn('applied_by', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('pool_states')
        .ifNotExists()
        .addColumn('pool', 'text', (c) => c.primaryKey())
        .addColumn('desired', 'integer', (c) => c.notNull())
        .addColumn('desired_source', 'text', (c) => c.notNull())
        .addColumn('manual_reason', 'text')
        .addColumn('last_scale_up_at', 'bigint')
        .addColumn('last_scale_down_at', 'bigint')
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('pool_members')
        .ifNotExists()
        .addColumn('instance_id', 'text', (c) => c.primaryKey())
        .addColumn('pool', 'text', (c) => c.notNull())
        .addColumn('provider', 'text', (c) => c.notNull())
        .addColumn('operation_id', 'text', (c) => c.notNull())
        .addColumn('join_token_id', 'text', (c) => c.notNull())
        .addColumn('node_id', 'text')
        .addColumn('instance_type', 'text', (c) => c.notNull())
        .addColumn('zone', 'text')
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('price_per_hour', 'double precision')
        .addColumn('provisioned_at', 'bigint', (c) => c.notNull())
        .addColumn('joined_at', 'bigint')
        .addColumn('terminated_at', 'bigint')
        .addColumn('idle_since', 'bigint')
        .execute();
      // Members are listed per pool, oldest first.
      await db.schema.createIndex('pool_members_pool').ifNotExists().on('pool_members').columns(['pool', 'provisioned_at']).execute();

      await db.schema
        .createTable('pool_operations')
        .ifNotExists()
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('pool', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('stage', 'text', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('old_node_id', 'text')
        .addColumn('instance_id', 'text')
        .addColumn('join_token_id', 'text')
        .addColumn('new_node_id', 'text')
        .addColumn('zone', 'text')
        .addColumn('zones_tried', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('error', 'text')
        .addColumn('started_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('deadline_at', 'bigint')
        .addColumn('not_before', 'bigint')
        .execute();
      // Operations are listed per pool, and the active ones (any pool) are reloaded on start.
      await db.schema.createIndex('pool_operations_pool').ifNotExists().on('pool_operations').columns(['pool', 'started_at']).execute();
      await db.schema.createIndex('pool_operations_stage').ifNotExists().on('pool_operations').columns(['stage', 'started_at']).execute();

      // SQLite spells auto-increment on an integer primary key; PostgreSQL uses an identity column.
      await db.schema
        .createTable('pool_events')
        .ifNotExists()
        .addColumn('id', dialect === 'sqlite' ? 'integer' : 'bigint', (c) =>
          dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey().generatedAlwaysAsIdentity(),
        )
        .addColumn('pool', 'text', (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('message', 'text', (c) => c.notNull())
        .addColumn('operation_id', 'text')
        .addColumn('node_id', 'text')
        .addColumn('instance_id', 'text')
        .execute();
      // Events are read per pool after a cursor id.
      await db.schema.createIndex('pool_events_pool').ifNotExists().on('pool_events').columns(['pool', 'id']).execute();

      await db.schema
        .createTable('pool_size_samples')
        .ifNotExists()
        .addColumn('pool', 'text', (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('ready', 'integer', (c) => c.notNull())
        .addColumn('desired', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('pool_size_samples_pk', ['pool', 'at'])
        .execute();
      // Pruning goes by time across pools.
      await db.schema.createIndex('pool_size_samples_at').ifNotExists().on('pool_size_samples').column('at').execute();

      await db.schema
        .createTable('provider_state')
        .ifNotExists()
        .addColumn('provider', 'text', (c) => c.notNull())
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('value', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('provider_state_pk', ['provider', 'key'])
        .execute();
    },
    async down(db: Kysely<any>): Promise<void> {
      for (const table of [
        'provider_state',
        'pool_size_samples',
        'pool_events',
        'pool_operations',
        'pool_members',
        'pool_states',
        'pool_configs',
        'pool_providers',
      ]) {
        await db.schema.dropTable(table).ifExists().execute();
      }
    },
  };
}
