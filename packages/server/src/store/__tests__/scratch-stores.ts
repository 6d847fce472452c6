import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openPostgresStore } from '../postgres-store.js';
import { openSqliteStore } from '../sqlite-store.js';
import type { Store } from '../store.js';

/**
 * PostgreSQL of this machine and of CI (trust auth). Not skipped when absent: the run fails, so a
 * broken PostgreSQL setup cannot pass unnoticed. GPUFLEET_TEST_PG overrides the URL.
 */
export const TEST_PG_URL = process.env.GPUFLEET_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface ScratchStore {
  store: Store;
  /** Closes the store and removes what it was kept in. */
  cleanup: () => Promise<void>;
}

/** A migrated-on-demand store in a fresh folder (`file` names the database inside it). */
export async function scratchSqliteStore(file = 'gpufleet.db'): Promise<ScratchStore> {
  const dir = await mkdtemp(join(tmpdir(), 'gpufleet-store-'));
  const store = await openSqliteStore({ path: join(dir, file) });
  return {
    store,
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A store in a schema of its own: parallel runs and leftovers of crashed runs cannot interfere. */
export async function scratchPostgresStore(): Promise<ScratchStore> {
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
}

/** Both kinds, for tests that run on each. */
export const SCRATCH_STORES: Record<'sqlite' | 'postgres', () => Promise<ScratchStore>> = {
  sqlite: () => scratchSqliteStore(),
  postgres: scratchPostgresStore,
};
