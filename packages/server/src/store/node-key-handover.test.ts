import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { sampleCredential, sampleSshHost } from './__tests__/contract-ssh-hosts.js';
import { sampleNode } from './__tests__/store-fixtures.js';
import { openPostgresStore } from './postgres-store.js';
import { openSqliteStore } from './sqlite-store.js';
import type { Store } from './store.js';

/** deleteSealedNodeKey on both stores (PostgreSQL of this machine and CI; GPUFLEET_TEST_PG overrides the URL). */
const TEST_PG_URL = process.env.GPUFLEET_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
const NODE = 'did:key:z6MkPromoteHandover';

const openers: Record<string, () => Promise<{ store: Store; cleanup: () => Promise<void> }>> = {
  sqlite: async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gpufleet-handover-'));
    const store = await openSqliteStore({ path: join(dir, 'db.sqlite') });
    return { store, cleanup: async () => void (await store.close(), await rm(dir, { recursive: true, force: true })) };
  },
  postgres: async () => {
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
  },
};

for (const [kind, open] of Object.entries(openers)) {
  describe(`deleteSealedNodeKey (${kind})`, () => {
    let cleanup: (() => Promise<void>) | null = null;
    afterEach(async () => {
      await cleanup?.();
      cleanup = null;
    });

    it("deletes only the node's sealed node key; its logins, its host record and other nodes' keys stay", async () => {
      const opened = await open();
      cleanup = opened.cleanup;
      const { store } = opened;
      await store.migrate();
      for (const id of [NODE, `${NODE}2`]) {
        await store.insertNode(sampleNode(id, { mode: 'ssh' }));
        await store.insertSshHost(sampleSshHost(id), [sampleCredential(id, 'login'), sampleCredential(id, 'bastion'), sampleCredential(id, 'node-key')]);
      }
      expect(await store.deleteSealedNodeKey(NODE)).toBe(true);
      expect((await store.listSshCredentials({ nodeId: NODE })).map((c) => c.purpose).sort()).toEqual(['bastion', 'login']);
      expect((await store.listSshCredentials({ nodeId: `${NODE}2` })).map((c) => c.purpose).sort()).toEqual(['bastion', 'login', 'node-key']);
      expect(await store.getSshHost(NODE)).toBeDefined();
      // Twice: nothing left to delete.
      expect(await store.deleteSealedNodeKey(NODE)).toBe(false);
      await expect(store.deleteSealedNodeKey('')).rejects.toMatchObject({ code: 'invalid_argument' });
    });
  });
}
