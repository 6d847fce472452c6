import type { Kysely, Migration } from 'kysely';

/**
 * 0011_plays (issue 12): playbook templates by (name, version) with the playbook text and its
 * SHA-256, plays (runs of a template), each play's hosts with their Ansible counts, and each
 * play's event log (bounded by the play service). Only new tables; `if not exists` as in 0008.
 */
export function playsMigration(): Migration {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('play_templates')
        .ifNotExists()
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('category', 'text', (c) => c.notNull())
        .addColumn('builtin', 'integer', (c) => c.notNull())
        .addColumn('become', 'integer', (c) => c.notNull())
        .addColumn('timeout_ms', 'bigint', (c) => c.notNull())
        .addColumn('vars', 'text', (c) => c.notNull())
        .addColumn('playbook', 'text', (c) => c.notNull())
        .addColumn('sha256', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('play_templates_pk', ['name', 'version'])
        .execute();

      await db.schema
        .createTable('plays')
        .ifNotExists()
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('template', 'text', (c) => c.notNull())
        .addColumn('template_version', 'integer', (c) => c.notNull())
        .addColumn('selector', 'text', (c) => c.notNull())
        .addColumn('serial', 'text')
        .addColumn('max_fail_percentage', 'integer')
        .addColumn('check_mode', 'integer', (c) => c.notNull())
        .addColumn('extra_vars', 'text', (c) => c.notNull())
        .addColumn('timeout_ms', 'bigint', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('started_at', 'bigint')
        .addColumn('ended_at', 'bigint')
        .addColumn('exit_code', 'integer')
        .addColumn('error', 'text')
        .addColumn('reason', 'text')
        .execute();
      // Plays are listed newest first, and the unfinished ones are found at start.
      await db.schema.createIndex('plays_created_at').ifNotExists().on('plays').columns(['created_at', 'id']).execute();
      await db.schema.createIndex('plays_state').ifNotExists().on('plays').columns(['state', 'created_at']).execute();

      await db.schema
        .createTable('play_hosts')
        .ifNotExists()
        .addColumn('play_id', 'text', (c) => c.notNull())
        .addColumn('node_id', 'text', (c) => c.notNull())
        .addColumn('hostname', 'text', (c) => c.notNull())
        .addColumn('ok', 'integer', (c) => c.notNull())
        .addColumn('changed', 'integer', (c) => c.notNull())
        .addColumn('failed', 'integer', (c) => c.notNull())
        .addColumn('unreachable', 'integer', (c) => c.notNull())
        .addColumn('skipped', 'integer', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('play_hosts_pk', ['play_id', 'node_id'])
        .execute();

      await db.schema
        .createTable('play_events')
        .ifNotExists()
        .addColumn('play_id', 'text', (c) => c.notNull())
        .addColumn('seq', 'bigint', (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('host', 'text')
        .addColumn('task', 'text')
        .addColumn('status', 'text')
        .addColumn('message', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('play_events_pk', ['play_id', 'seq'])
        .execute();
    },
    async down(db: Kysely<any>): Promise<void> {
      for (const table of ['play_events', 'play_hosts', 'plays', 'play_templates']) await db.schema.dropTable(table).ifExists().execute();
    },
  };
}
