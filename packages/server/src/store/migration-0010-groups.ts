import type { Kysely, Migration } from 'kysely';

/**
 * 0010_groups (issue 12): node groups (a priority, an optional label selector, static members) and
 * layered variables (global, group and node scopes, one JSON value per name). The same SQL on
 * SQLite and PostgreSQL; `if not exists` on new tables, as in 0008_pools.
 */
export function groupsMigration(): Migration {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('node_groups')
        .ifNotExists()
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('priority', 'integer', (c) => c.notNull())
        .addColumn('selector', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('node_group_members')
        .ifNotExists()
        .addColumn('group_name', 'text', (c) => c.notNull())
        .addColumn('node_id', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('node_group_members_pk', ['group_name', 'node_id'])
        .execute();
      // A removed node leaves every group: found by node.
      await db.schema.createIndex('node_group_members_node').ifNotExists().on('node_group_members').column('node_id').execute();

      await db.schema
        .createTable('variables')
        .ifNotExists()
        .addColumn('scope', 'text', (c) => c.notNull())
        .addColumn('target', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('value', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_by', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('variables_pk', ['scope', 'target', 'name'])
        .execute();
    },
    async down(db: Kysely<any>): Promise<void> {
      for (const table of ['variables', 'node_group_members', 'node_groups']) await db.schema.dropTable(table).ifExists().execute();
    },
  };
}
