import { FleetError } from '@gpufleet/protocol';
import { Migrator, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import type { Database } from './schema.js';
import { trustMigration } from './migration-0004-trust.js';
import { eventRetentionMigration } from './migration-0006-event-retention.js';
import { labelAttestationsMigration } from './migration-0005-label-attestations.js';
import { workloadsMigration } from './migration-0007-workloads.js';
import { poolsMigration } from './migration-0008-pools.js';
import { sshHostsMigration } from './migration-0009-ssh-hosts.js';
import { groupsMigration } from './migration-0010-groups.js';
import { playsMigration } from './migration-0011-plays.js';
import { releasesMigration } from './migration-0012-releases.js';
import { rolloutsMigration } from './migration-0013-rollouts.js';
import { playRunnersMigration } from './migration-0014-play-runners.js';

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
    // Health: who set each node/GPU state, the active findings, and the health timeline. The node's
    // admin_state column simply takes the new values (draining, drained, unhealthy): it is text.
    '0002_health': {
      async up(db: Kysely<any>): Promise<void> {
        await db.schema
          .createTable('state_marks')
          .addColumn('node_id', 'text', (c) => c.notNull())
          .addColumn('gpu_key', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('actor', 'text', (c) => c.notNull())
          .addColumn('reason', 'text')
          .addColumn('since', 'bigint', (c) => c.notNull())
          .addColumn('deadline', 'bigint')
          .addPrimaryKeyConstraint('state_marks_pk', ['node_id', 'gpu_key'])
          .execute();

        await db.schema
          .createTable('health_findings')
          .addColumn('node_id', 'text', (c) => c.notNull())
          .addColumn('gpu_key', 'text', (c) => c.notNull())
          .addColumn('rule', 'text', (c) => c.notNull())
          .addColumn('verdict', 'text', (c) => c.notNull())
          .addColumn('cause', 'text', (c) => c.notNull())
          .addColumn('evidence', 'text', (c) => c.notNull())
          .addColumn('since', 'bigint', (c) => c.notNull())
          .addColumn('last_match_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('health_findings_pk', ['node_id', 'gpu_key', 'rule'])
          .execute();

        await db.schema
          .createTable('health_events')
          .addColumn('id', dialect === 'sqlite' ? 'integer' : 'bigint', (c) =>
            dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey().generatedAlwaysAsIdentity(),
          )
          .addColumn('at', 'bigint', (c) => c.notNull())
          .addColumn('node_id', 'text', (c) => c.notNull())
          .addColumn('gpu_key', 'text')
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('rule', 'text')
          .addColumn('op', 'text')
          .addColumn('from_state', 'text')
          .addColumn('to_state', 'text')
          .addColumn('actor', 'text', (c) => c.notNull())
          .addColumn('reason', 'text', (c) => c.notNull())
          .addColumn('evidence', 'text', (c) => c.notNull())
          .execute();
        // The timeline is read newest first, fleet-wide or per node, sometimes per type.
        await db.schema.createIndex('health_events_at').on('health_events').columns(['at', 'id']).execute();
        await db.schema.createIndex('health_events_node_at').on('health_events').columns(['node_id', 'at']).execute();
        await db.schema.createIndex('health_events_type_at').on('health_events').columns(['type', 'at']).execute();
        // Agent events filtered per GPU (events timeline --gpu).
        await db.schema.createIndex('agent_events_gpu_ts').on('agent_events').columns(['gpu_uuid', 'ts']).execute();
      },
      async down(db: Kysely<any>): Promise<void> {
        await db.schema.dropIndex('agent_events_gpu_ts').ifExists().execute();
        for (const table of ['health_events', 'health_findings', 'state_marks']) await db.schema.dropTable(table).ifExists().execute();
      },
    },
    // Runs: the signed command fanned out, one row per target host, and the output kept per host.
    '0003_runs': {
      async up(db: Kysely<any>): Promise<void> {
        await db.schema
          .createTable('runs')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('created_by', 'text', (c) => c.notNull())
          .addColumn('invoker', 'text', (c) => c.notNull())
          .addColumn('capability_id', 'text')
          .addColumn('ability', 'text', (c) => c.notNull())
          .addColumn('selector', 'text', (c) => c.notNull())
          .addColumn('summary', 'text', (c) => c.notNull())
          .addColumn('command', 'text', (c) => c.notNull())
          .addColumn('batch', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('counts', 'text', (c) => c.notNull())
          .addColumn('reason', 'text')
          .addColumn('deadline', 'bigint', (c) => c.notNull())
          .addColumn('finished_at', 'bigint')
          .addColumn('canceled_by', 'text')
          .execute();
        // Runs are listed newest first, and the active ones are reloaded on start.
        await db.schema.createIndex('runs_created_at').on('runs').columns(['created_at', 'id']).execute();
        await db.schema.createIndex('runs_state').on('runs').columns(['state', 'created_at']).execute();

        await db.schema
          .createTable('run_targets')
          .addColumn('run_id', 'text', (c) => c.notNull())
          .addColumn('node_id', 'text', (c) => c.notNull())
          .addColumn('hostname', 'text', (c) => c.notNull())
          .addColumn('batch', 'integer', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('exit_code', 'integer')
          .addColumn('signal', 'text')
          .addColumn('reason', 'text')
          .addColumn('sent_at', 'bigint')
          .addColumn('started_at', 'bigint')
          .addColumn('finished_at', 'bigint')
          .addColumn('duration_ms', 'bigint')
          .addColumn('output_bytes', 'bigint', (c) => c.notNull())
          .addColumn('truncated', 'integer', (c) => c.notNull())
          .addPrimaryKeyConstraint('run_targets_pk', ['run_id', 'node_id'])
          .execute();

        await db.schema
          .createTable('run_output')
          .addColumn('id', dialect === 'sqlite' ? 'integer' : 'bigint', (c) =>
            dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey().generatedAlwaysAsIdentity(),
          )
          .addColumn('run_id', 'text', (c) => c.notNull())
          .addColumn('node_id', 'text', (c) => c.notNull())
          .addColumn('stream', 'text', (c) => c.notNull())
          .addColumn('chunk', 'bigint', (c) => c.notNull())
          .addColumn('data', 'text', (c) => c.notNull())
          .addColumn('at', 'bigint', (c) => c.notNull())
          .execute();
        // The de-duplication key of chunks a host sends again after a reconnect.
        await db.schema.createIndex('run_output_chunk').on('run_output').columns(['run_id', 'node_id', 'stream', 'chunk']).unique().execute();
        // Output is read per run (optionally per host) in arrival order.
        await db.schema.createIndex('run_output_run_id').on('run_output').columns(['run_id', 'id']).execute();
      },
      async down(db: Kysely<any>): Promise<void> {
        for (const table of ['run_output', 'run_targets', 'runs']) await db.schema.dropTable(table).ifExists().execute();
      },
    },
    // Trust: fleet roots, capabilities, revocations, the script library, sealed secrets, the audit hash chain.
    '0004_trust': trustMigration,
    // Each node's latest signed label attestation.
    '0005_label_attestations': labelAttestationsMigration,
    // An index for pruning agent events by when they were received.
    '0006_event_retention': eventRetentionMigration,
    // Workloads: jobs, versions, allocations, GPU claims, allocation output, deployments.
    '0007_workloads': workloadsMigration(dialect),
    // Pools: applied providers and pools, desired sizes, members, operations, events, size samples, provider state.
    '0008_pools': poolsMigration(dialect),
    // SSH hosts: nodes.mode, the hosts' addresses, pinned keys and contact state, their sealed credentials.
    '0009_ssh_hosts': sshHostsMigration(),
    // Node groups (priority, selector, static members) and layered variables (global, group, node).
    '0010_groups': groupsMigration(),
    // Playbook templates by version, plays, their hosts' counts and their event logs.
    '0011_plays': playsMigration(),
    // Signed releases: TUF metadata by role and version, target bytes by SHA-256, published target paths.
    '0012_releases': releasesMigration(dialect),
    // Rollouts of signed releases (issue 14): steps, hosts and history.
    '0013_rollouts': rolloutsMigration(dialect),
    // Which replica instance runs each play (issue 13): survivors end only the plays of one that is gone.
    '0014_play_runners': playRunnersMigration(),
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
export async function migrateToLatest(db: Kysely<Database>, dialect: StoreDialect, migrationTableSchema?: string): Promise<void> {
  const migrator = new Migrator({
    db,
    provider: new InCodeMigrationProvider(dialect),
    ...(migrationTableSchema === undefined ? {} : { migrationTableSchema }),
  });
  // Processes starting together on a fresh SQLite file can still meet SQLITE_BUSY outside the
  // busy handler's reach (Kysely's bookkeeping statements, WAL snapshot upgrades). Migrations run
  // in one transaction and are skipped once applied, so trying again is safe.
  for (let attempt = 1; ; attempt++) {
    const { error, results } = await migrator.migrateToLatest();
    if (error === undefined) return;
    if (dialect === 'sqlite' && attempt < 20 && /database is locked|SQLITE_BUSY/.test(messageOf(error))) {
      await new Promise((r) => setTimeout(r, 50 + Math.random() * 200));
      continue;
    }
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    throw new FleetError('internal', `store migration ${failed ?? '(setup)'} failed: ${messageOf(error)}`, { cause: error });
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
