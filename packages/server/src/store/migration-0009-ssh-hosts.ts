import type { Kysely, Migration } from 'kysely';

/**
 * 0009_ssh_hosts (issue 12): nodes get a mode ('agent', the default for every node stored so far,
 * or 'ssh'); SSH hosts keep their address, login name, jump host, pinned host keys and contact
 * state; their credentials are stored sealed with the master key version. `if not exists` on new
 * tables, as in 0008_pools.
 */
export function sshHostsMigration(): Migration {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .alterTable('nodes')
        .addColumn('mode', 'text', (c) => c.notNull().defaultTo('agent'))
        .execute();

      await db.schema
        .createTable('ssh_hosts')
        .ifNotExists()
        .addColumn('node_id', 'text', (c) => c.primaryKey())
        .addColumn('address', 'text', (c) => c.notNull())
        .addColumn('port', 'integer', (c) => c.notNull())
        .addColumn('user_name', 'text', (c) => c.notNull())
        .addColumn('login_kind', 'text', (c) => c.notNull())
        .addColumn('bastion_address', 'text')
        .addColumn('bastion_port', 'integer')
        .addColumn('bastion_user', 'text')
        .addColumn('host_key_algorithm', 'text')
        .addColumn('host_key_fingerprint', 'text')
        .addColumn('host_key_blob', 'text')
        .addColumn('host_key_pinned_at', 'bigint')
        .addColumn('host_key_source', 'text')
        .addColumn('bastion_key_algorithm', 'text')
        .addColumn('bastion_key_fingerprint', 'text')
        .addColumn('bastion_key_blob', 'text')
        .addColumn('bastion_key_pinned_at', 'bigint')
        .addColumn('bastion_key_source', 'text')
        .addColumn('refused_key_algorithm', 'text')
        .addColumn('refused_key_fingerprint', 'text')
        .addColumn('refused_key_blob', 'text')
        .addColumn('refused_key_seen_at', 'bigint')
        .addColumn('last_contact_at', 'bigint')
        .addColumn('last_error', 'text')
        .addColumn('facts_at', 'bigint')
        .addColumn('unreachable_since', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('ssh_credentials')
        .ifNotExists()
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('node_id', 'text', (c) => c.notNull())
        .addColumn('purpose', 'text', (c) => c.notNull())
        .addColumn('key_version', 'integer', (c) => c.notNull())
        .addColumn('sealed', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('rotated_at', 'bigint')
        .execute();
      // A node's credentials are read and deleted together.
      await db.schema.createIndex('ssh_credentials_node').ifNotExists().on('ssh_credentials').columns(['node_id', 'purpose']).execute();
    },
    async down(db: Kysely<any>): Promise<void> {
      for (const table of ['ssh_credentials', 'ssh_hosts']) await db.schema.dropTable(table).ifExists().execute();
      await db.schema.alterTable('nodes').dropColumn('mode').execute();
    },
  };
}
