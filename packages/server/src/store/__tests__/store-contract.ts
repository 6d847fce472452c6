import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../store.js';
import type { StoreRef } from './contract-helpers.js';
import { nodeContract } from './contract-nodes.js';
import { tokenContract } from './contract-tokens.js';
import { historyContract } from './contract-history.js';
import { healthContract } from './contract-health.js';
import { trustContract } from './contract-trust.js';
import { runContract } from './contract-runs.js';
import { retentionContract } from './contract-retention.js';
import { workloadContract } from './contract-workloads.js';
import { poolContract } from './contract-pools.js';
import { sshHostContract } from './contract-ssh-hosts.js';
import { groupContract } from './contract-groups.js';
import { playContract } from './contract-plays.js';
import { releaseContract } from './contract-releases.js';
import { rolloutContract } from './contract-rollouts.js';
import { bareNode, sampleNode } from './store-fixtures.js';

/** A freshly opened, empty, not yet migrated store and how to dispose of it (close + drop). */
export interface OpenedStore {
  store: Store;
  cleanup: () => Promise<void>;
}

/**
 * The one contract every Store implementation passes. Each test gets its own fresh, migrated
 * store from `open` and disposes of it afterwards.
 */
export function describeStoreContract(name: 'sqlite' | 'postgres', open: () => Promise<OpenedStore>): void {
  describe(`Store contract: ${name}`, () => {
    let opened: OpenedStore | undefined;
    const store: StoreRef = () => {
      if (opened === undefined) throw new Error('store not opened');
      return opened.store;
    };

    beforeEach(async () => {
      opened = await open();
      await opened.store.migrate();
    });

    afterEach(async () => {
      await opened?.cleanup();
      opened = undefined;
    });

    it(`reports kind '${name}'`, () => {
      expect(store().kind).toBe(name);
    });

    nodeContract(store);
    tokenContract(store);
    historyContract(store);
    healthContract(store);
    trustContract(store);
    runContract(store);
    retentionContract(store);
    workloadContract(store);
    poolContract(store);
    sshHostContract(store);
    groupContract(store);
    playContract(store);
    releaseContract(store);
    rolloutContract(store);

    describe('lifecycle', () => {
      it('migrate() again is harmless and keeps the data', async () => {
        await store().insertNode(sampleNode('did:key:z6MkMigrate'));
        await store().setSetting('k', 'v');
        await store().migrate();
        await store().migrate();
        expect(await store().getNode('did:key:z6MkMigrate')).toEqual(sampleNode('did:key:z6MkMigrate'));
        expect(await store().getSetting('k')).toBe('v');
      });

      it('close() ends the store: later calls reject, a second close() is harmless', async () => {
        await store().insertNode(bareNode('did:key:z6MkClose'));
        await store().close();
        await expect(store().getNode('did:key:z6MkClose')).rejects.toThrow();
        await expect(store().close()).resolves.toBeUndefined();
      });
    });
  });
}
