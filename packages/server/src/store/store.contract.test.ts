import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { describeStoreContract } from './__tests__/store-contract.js';
import { openPostgresStore } from './postgres-store.js';
import { openSqliteStore } from './sqlite-store.js';

/**
 * PostgreSQL of this machine and of CI (trust auth). Not skipped when absent: the run fails, so a
 * broken PostgreSQL setup cannot pass unnoticed. GPUFLEET_TEST_PG overrides the URL.
 */
const TEST_PG_URL = process.env.GPUFLEET_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';

describeStoreContract('sqlite', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gpufleet-store-'));
  const store = await openSqliteStore({ path: join(dir, 'nested', 'gpufleet.db') });
  return {
    store,
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describeStoreContract('postgres', async () => {
  // A schema of its own per test: parallel runs and leftovers of crashed runs cannot interfere.
  const schema = `gf_test_${randomBytes(6).toString('hex')}`;
  const store = await openPostgresStore({ url: TEST_PG_URL, schema });
  return {
    store,
    cleanup: async () => {
      await store.close();
      const client = new pg.Client({ connectionString: TEST_PG_URL });
      await client.connect();
      try {
        await client.query(`drop schema if exists "${schema}" cascade`);
      } finally {
        await client.end();
      }
    },
  };
});
