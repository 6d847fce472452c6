import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bareOperation, sampleEvent, sampleMember, samplePool, sampleProvider } from './__tests__/pool-fixtures.js';
import { nodeRowBefore0009, sampleNode } from './__tests__/store-fixtures.js';
import { sampleVersionInput } from './__tests__/workload-fixtures.js';
import { InCodeMigrationProvider, type StoreDialect } from './migrations.js';
import { openPostgresStore } from './postgres-store.js';
import { openSqliteStore } from './sqlite-store.js';
import type { Store } from './store.js';

/**
 * 0008_pools on a database a previous release filled (migrated up to 0007, with a node, a job and
 * settings): the migration adds its tables, keeps every row, and a restart (migrate again, reopen)
 * neither fails nor repeats it. Both engines.
 */

const PG_URL = process.env.GPUFLEET_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
const NODE = 'did:key:z6MkBeforePools';
const POOL_TABLES = ['pool_configs', 'pool_events', 'pool_members', 'pool_operations', 'pool_providers', 'pool_size_samples', 'pool_states', 'provider_state'];

interface Engine {
  dialect: StoreDialect;
  /** Kysely over the same database, outside the store, as the previous release would have had it. */
  raw(): Kysely<any>;
  migrationTableSchema?: string;
  open(): Promise<Store>;
  tables(db: Kysely<any>): Promise<string[]>;
}

let dir: string;
const schema = `gf_test_${randomBytes(6).toString('hex')}`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gpufleet-m0008-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(`drop schema if exists "${schema}" cascade`);
  } finally {
    await client.end();
  }
});

const engines: Engine[] = [
  {
    dialect: 'sqlite',
    raw: () => new Kysely<any>({ dialect: new SqliteDialect({ database: new BetterSqlite3(join(dir, 'old.db')) }) }),
    open: () => openSqliteStore({ path: join(dir, 'old.db') }),
    tables: async (db) => (await db.selectFrom('sqlite_master').select('name').where('type', '=', 'table').execute()).map((r: { name: string }) => r.name),
  },
  {
    dialect: 'postgres',
    raw: () => new Kysely<any>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: PG_URL, options: `-c search_path=${schema}` }) }) }),
    migrationTableSchema: schema,
    open: () => openPostgresStore({ url: PG_URL, schema }),
    tables: async (db) =>
      (await db.selectFrom('information_schema.tables').select('table_name').where('table_schema', '=', schema).execute()).map(
        (r: { table_name: string }) => r.table_name,
      ),
  },
];

describe.each(engines)('migration 0008_pools on $dialect', (engine) => {
  it('applies to a database holding data from before it, keeps that data, and is not repeated on restart', async () => {
    if (engine.dialect === 'postgres') {
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      await client.query(`create schema "${schema}"`);
      await client.end();
    }
    // The previous release: migrations up to 0007 and some rows.
    const old = engine.raw();
    const migrator = new Migrator({
      db: old,
      provider: new InCodeMigrationProvider(engine.dialect),
      ...(engine.migrationTableSchema === undefined ? {} : { migrationTableSchema: engine.migrationTableSchema }),
    });
    expect((await migrator.migrateTo('0007_workloads')).error).toBeUndefined();
    await old
      .insertInto('nodes')
      .values(nodeRowBefore0009(sampleNode(NODE)))
      .execute();
    await old
      .insertInto('jobs')
      .values({
        name: 'llama',
        kind: 'service',
        state: 'active',
        current_version: 1,
        last_version: 1,
        submitted_by: 'old',
        created_at: 1,
        updated_at: 1,
        stopped_at: null,
      })
      .execute();
    await old.insertInto('settings').values({ key: 'server.first-start', value: 'done' }).execute();
    const before = await engine.tables(old);
    for (const t of POOL_TABLES) expect(before).not.toContain(t);

    // This release starts on it.
    const store = await engine.open();
    try {
      await store.migrate();
      expect(await store.getNode(NODE)).toEqual(sampleNode(NODE));
      expect((await store.getJob('llama'))?.submittedBy).toBe('old');
      expect(await store.getSetting('server.first-start')).toBe('done');
      expect(await store.addJobVersion(sampleVersionInput('llama', 2))).toBe(2);
      await store.replacePoolsConfig([sampleProvider('sim')], [samplePool('train')]);
      await store.putPoolMember(sampleMember('i-1'));
      await store.insertPoolOperation(bareOperation('op-1'));
      await store.appendPoolEvents([sampleEvent('train', 1)]);
      await store.putProviderState('sim', 'seq', 7);
      await store.migrate();
    } finally {
      await store.close();
    }

    // A restart: migrate again on a fresh store, everything still there, 0008 recorded once.
    const again = await engine.open();
    try {
      await again.migrate();
      expect(await again.listPoolConfigs()).toEqual([samplePool('train')]);
      expect(await again.listPoolMembers({})).toEqual([sampleMember('i-1')]);
      expect(await again.getPoolOperation('op-1')).toEqual(bareOperation('op-1'));
      expect((await again.listPoolEvents({})).map((e) => e.message)).toEqual([sampleEvent('train', 1).message]);
      expect(await again.getProviderState('sim', 'seq')).toBe(7);
      expect(await again.getNode(NODE)).toEqual(sampleNode(NODE));
      expect((await again.getJob('llama'))?.currentVersion).toBe(2);
    } finally {
      await again.close();
    }
    const applied = await old.selectFrom('kysely_migration').select('name').execute();
    expect(applied.map((r: { name: string }) => r.name).filter((n: string) => n === '0008_pools')).toEqual(['0008_pools']);
    expect(await engine.tables(old)).toEqual(expect.arrayContaining(POOL_TABLES));
    await old.destroy();
  });
});
