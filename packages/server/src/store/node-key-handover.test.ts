import { afterEach, describe, expect, it } from 'vitest';
import { sampleCredential, sampleSshHost } from './__tests__/contract-ssh-hosts.js';
import { sampleNode } from './__tests__/store-fixtures.js';
import { SCRATCH_STORES } from './__tests__/scratch-stores.js';

/** deleteSealedNodeKey on both stores (PostgreSQL of this machine and CI; GPUFLEET_TEST_PG overrides the URL). */
const NODE = 'did:key:z6MkPromoteHandover';

const openers = SCRATCH_STORES;

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
