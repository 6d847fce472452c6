import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectFleetError } from './__tests__/contract-helpers.js';
import { bareNode, sampleNode } from './__tests__/store-fixtures.js';
import { openStore, SQLITE_FILE_NAME } from './open-store.js';
import { openPostgresStore } from './postgres-store.js';
import { openSqliteStore } from './sqlite-store.js';
import type { Store } from './store.js';

const execFileAsync = promisify(execFile);
const PG_URL = process.env.GPUFLEET_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
const NODE = 'did:key:z6MkOpenStoreTest';

let dir: string;
const opened: Store[] = [];
/** Stores opened by a test; closed afterwards even when the test fails. */
const track = (s: Store) => (opened.push(s), s);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gpufleet-open-'));
});
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('openStore', () => {
  it('opens SQLite at <dataDir>/gpufleet.db when no database is configured, creating the folder', async () => {
    const dataDir = join(dir, 'data-a', 'deeper');
    const store = track(await openStore({ database: null, dataDir }));
    expect(store.kind).toBe('sqlite');
    await store.migrate();
    await store.insertNode(sampleNode(NODE));
    expect(existsSync(join(dataDir, SQLITE_FILE_NAME))).toBe(true);
  });

  it('opens PostgreSQL for postgres:// and postgresql:// URLs', async () => {
    for (const url of [PG_URL, PG_URL.replace(/^postgres:/, 'postgresql:')]) {
      const store = track(await openStore({ database: url, dataDir: join(dir, 'unused') }));
      expect(store.kind).toBe('postgres');
    }
    expect(existsSync(join(dir, 'unused'))).toBe(false);
  });

  it('refuses other databases and a missing data dir instead of guessing', async () => {
    for (const database of ['mysql://root@db/x', 'sqlite:///tmp/x.db', '', 'postgres:/missing-slash']) {
      await expectFleetError(openStore({ database, dataDir: dir }), 'invalid_argument');
    }
    await expectFleetError(openStore({ database: null, dataDir: '' }), 'invalid_argument');
  });
});

describe('openSqliteStore', () => {
  it('keeps data across close and reopen, in WAL mode', async () => {
    const path = join(dir, 'reopen', 'x.db');
    const first = await openSqliteStore({ path });
    await first.migrate();
    await first.insertNode(sampleNode(NODE));
    await first.close();
    const second = track(await openSqliteStore({ path }));
    await second.migrate();
    expect(await second.getNode(NODE)).toEqual(sampleNode(NODE));
    const raw = new BetterSqlite3(path, { readonly: true });
    try {
      expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    } finally {
      raw.close();
    }
  });

  it('processes starting on one fresh file at once all migrate, and share the data', async () => {
    const path = join(dir, 'shared.db');
    // tsx runs the child from source; a tsconfig maps the workspace package to its source too.
    const repo = fileURLToPath(new URL('../../../../', import.meta.url));
    const tsconfig = join(dir, 'child-tsconfig.json');
    const protocolSrc = join(repo, 'packages/protocol/src/index.ts');
    await writeFile(tsconfig, JSON.stringify({ compilerOptions: { paths: { '@gpufleet/protocol': [protocolSrc] } } }));
    const child = fileURLToPath(new URL('./__tests__/migrate-child.ts', import.meta.url));
    const goAt = Date.now() + 2500; // after all children have started
    const runs = Array.from({ length: 3 }, () =>
      execFileAsync(process.execPath, ['--import', 'tsx', child, path, String(goAt)], {
        env: { ...process.env, TSX_TSCONFIG_PATH: tsconfig },
        timeout: 20_000,
      }),
    );
    const outputs = await Promise.all(runs);
    expect(outputs.map((o) => o.stdout.trim())).toEqual(['migrated', 'migrated', 'migrated']);
    const store = track(await openSqliteStore({ path }));
    await store.migrate();
    await store.insertNode(bareNode(NODE));
    expect(await store.getNode(NODE)).toEqual(bareNode(NODE));
  });

  it("supports ':memory:'", async () => {
    const store = track(await openSqliteStore({ path: ':memory:' }));
    await store.migrate();
    await store.setSetting('k', 'v');
    expect(await store.getSetting('k')).toBe('v');
  });

  it('refuses a bad path with invalid_argument, and a file that is not a database with unavailable', async () => {
    await expectFleetError(openSqliteStore({ path: '' }), 'invalid_argument');
    await expectFleetError(openSqliteStore({} as never), 'invalid_argument');
    await expectFleetError(openSqliteStore({ path: join(dir, 'b.db'), busyTimeoutMs: -1 }), 'invalid_argument');
    const junk = join(dir, 'junk.db');
    await writeFile(junk, Buffer.alloc(8192, 7));
    const err = await expectFleetError(openSqliteStore({ path: junk }), 'unavailable');
    expect(err.message).toContain('junk.db');
    // A path below a regular file cannot be created.
    await expectFleetError(openSqliteStore({ path: join(junk, 'sub', 'x.db') }), 'unavailable');
  });
});

describe('openPostgresStore', () => {
  const schemas: string[] = [];
  const newSchema = () => {
    const s = `gf_test_${randomBytes(6).toString('hex')}`;
    schemas.push(s);
    return s;
  };
  afterAll(async () => {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      for (const s of schemas) await client.query(`drop schema if exists "${s}" cascade`);
    } finally {
      await client.end();
    }
  });

  it('isolates stores in different schemas, each with its own migration bookkeeping', async () => {
    const [s1, s2] = [newSchema(), newSchema()];
    const a = track(await openPostgresStore({ url: PG_URL, schema: s1 }));
    const b = track(await openPostgresStore({ url: PG_URL, schema: s2 }));
    await a.migrate();
    await b.migrate();
    await a.insertNode(sampleNode(NODE));
    expect(await b.getNode(NODE)).toBeUndefined();
    await b.insertNode(bareNode(NODE)); // no clash: another schema
    expect(await a.getNode(NODE)).toEqual(sampleNode(NODE));

    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      const r = await client.query<{ table_schema: string }>(
        `select table_schema from information_schema.tables where table_name = 'kysely_migration' and table_schema = any($1)`,
        [[s1, s2]],
      );
      expect(r.rows.map((x) => x.table_schema).sort()).toEqual([s1, s2].sort());
    } finally {
      await client.end();
    }
  });

  it('two stores on one schema (server replicas) can migrate at the same time', async () => {
    const schema = newSchema();
    const a = track(await openPostgresStore({ url: PG_URL, schema }));
    const b = track(await openPostgresStore({ url: PG_URL, schema }));
    await Promise.all([a.migrate(), b.migrate()]);
    await a.insertNode(bareNode(NODE));
    expect(await b.getNode(NODE)).toEqual(bareNode(NODE));
  });

  it('closes cleanly when it was never queried after opening', async () => {
    const store = await openPostgresStore({ url: PG_URL, schema: newSchema() });
    await store.close();
    await expect(store.getNode(NODE)).rejects.toThrow();
  });

  it('refuses a bad url or schema name with invalid_argument', async () => {
    for (const url of ['', 'mysql://x', 'http://127.0.0.1:5432/test']) {
      await expectFleetError(openPostgresStore({ url }), 'invalid_argument');
    }
    for (const schema of ['', 'Upper', '1abc', 'a-b', 'x; drop schema public', 'a'.repeat(64), 7 as never]) {
      await expectFleetError(openPostgresStore({ url: PG_URL, schema }), 'invalid_argument');
    }
  });

  it('reports an unreachable server as unavailable without echoing the password', async () => {
    const err = await expectFleetError(openPostgresStore({ url: 'postgres://fleet:hunter2@127.0.0.1:1/test', connectTimeoutMs: 2000 }), 'unavailable');
    expect(err.message).not.toContain('hunter2');
  });
});
