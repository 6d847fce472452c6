import type { Kysely, Migration } from 'kysely';
import type { StoreDialect } from './migrations.js';

/**
 * 0007_workloads (issue 10): jobs and their signed versions, allocations, the GPU claims that make
 * double-booking impossible (primary key (node_id, gpu_index): a second claim of a GPU fails in
 * the database itself, whatever process or replica makes it), allocation output, and rolling
 * update deployments. Only new tables: rows already stored are untouched.
 *
 * `if not exists` everywhere: the migration runs in one transaction and Kysely records it, so a
 * restart skips it; the guards keep a half-made schema from a hand-run script from blocking it.
 */
export function workloadsMigration(dialect: StoreDialect): Migration {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('jobs')
        .ifNotExists()
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('current_version', 'integer', (c) => c.notNull())
        .addColumn('last_version', 'integer', (c) => c.notNull())
        .addColumn('submitted_by', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('stopped_at', 'bigint')
        .execute();

      await db.schema
        .createTable('job_versions')
        .ifNotExists()
        .addColumn('job', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('spec_hash', 'text', (c) => c.notNull())
        .addColumn('signed', 'text', (c) => c.notNull())
        .addColumn('source', 'text')
        .addColumn('invoker', 'text', (c) => c.notNull())
        .addColumn('submitted_by', 'text', (c) => c.notNull())
        .addColumn('submitted_at', 'bigint', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('job_versions_pk', ['job', 'version'])
        .execute();

      // `group` and `index` are SQL keywords: the columns say what they belong to instead.
      await db.schema
        .createTable('allocations')
        .ifNotExists()
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('job', 'text', (c) => c.notNull())
        .addColumn('job_version', 'integer', (c) => c.notNull())
        .addColumn('alloc_group', 'text', (c) => c.notNull())
        .addColumn('alloc_index', 'integer', (c) => c.notNull())
        .addColumn('node_id', 'text', (c) => c.notNull())
        .addColumn('hostname', 'text', (c) => c.notNull())
        .addColumn('desired', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('healthy', 'integer')
        .addColumn('healthy_since', 'bigint')
        .addColumn('restarts', 'integer', (c) => c.notNull())
        .addColumn('exit_code', 'integer')
        .addColumn('message', 'text', (c) => c.notNull())
        .addColumn('gpus', 'text', (c) => c.notNull())
        .addColumn('cpu', 'double precision')
        .addColumn('memory', 'bigint')
        .addColumn('replaces', 'text')
        .addColumn('replaced_by', 'text')
        .addColumn('stop_cause', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      // Allocations are listed per job (job detail, plans) and per node (node page, a node lost or drained).
      await db.schema.createIndex('allocations_job').ifNotExists().on('allocations').columns(['job', 'created_at']).execute();
      await db.schema.createIndex('allocations_node_id').ifNotExists().on('allocations').columns(['node_id', 'created_at']).execute();

      await db.schema
        .createTable('gpu_claims')
        .ifNotExists()
        .addColumn('node_id', 'text', (c) => c.notNull())
        .addColumn('gpu_index', 'integer', (c) => c.notNull())
        .addColumn('gpu_uuid', 'text')
        .addColumn('alloc_id', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('gpu_claims_pk', ['node_id', 'gpu_index'])
        .execute();
      // Claims are released per allocation.
      await db.schema.createIndex('gpu_claims_alloc_id').ifNotExists().on('gpu_claims').column('alloc_id').execute();

      // SQLite spells auto-increment on an integer primary key; PostgreSQL uses an identity column.
      await db.schema
        .createTable('alloc_output')
        .ifNotExists()
        .addColumn('id', dialect === 'sqlite' ? 'integer' : 'bigint', (c) =>
          dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey().generatedAlwaysAsIdentity(),
        )
        .addColumn('alloc_id', 'text', (c) => c.notNull())
        .addColumn('stream', 'text', (c) => c.notNull())
        .addColumn('chunk', 'bigint', (c) => c.notNull())
        .addColumn('data', 'text', (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .execute();
      // Output is read per allocation in arrival order, after a cursor.
      await db.schema.createIndex('alloc_output_alloc_id').ifNotExists().on('alloc_output').columns(['alloc_id', 'id']).execute();
      // The de-duplication key of chunks a host sends again after a reconnect (as run_output_chunk).
      await db.schema.createIndex('alloc_output_chunk').ifNotExists().on('alloc_output').columns(['alloc_id', 'stream', 'chunk']).unique().execute();

      await db.schema
        .createTable('deployments')
        .ifNotExists()
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('job', 'text', (c) => c.notNull())
        .addColumn('from_version', 'integer')
        .addColumn('to_version', 'integer', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('message', 'text', (c) => c.notNull())
        .addColumn('started_at', 'bigint', (c) => c.notNull())
        .addColumn('finished_at', 'bigint')
        .execute();
      await db.schema.createIndex('deployments_job').ifNotExists().on('deployments').columns(['job', 'started_at']).execute();
    },
    async down(db: Kysely<any>): Promise<void> {
      for (const table of ['deployments', 'alloc_output', 'gpu_claims', 'allocations', 'job_versions', 'jobs']) {
        await db.schema.dropTable(table).ifExists().execute();
      }
    },
  };
}
