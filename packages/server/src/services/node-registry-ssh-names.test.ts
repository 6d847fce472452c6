import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventHub } from '../events/event-hub.js';
import { openSqliteStore } from '../store/sqlite-store.js';
import type { Store } from '../store/store.js';
import { bareNode } from '../store/__tests__/store-fixtures.js';
import { testHostFacts } from '../testing/fake-host.js';
import { NodeRegistry } from './node-registry.js';
import { NO_OTHER_REPLICAS } from '../replicas/session-owners.js';

/**
 * Nodes added over SSH once promoted (issue 12): the agent reports the OS hostname, but the node
 * keeps the name its operator gave it; and the last SSH contact no longer counts as the node
 * being online once its agent is what reaches the server.
 */
let dir: string;
let store: Store;
let registry: NodeRegistry;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gpufleet-registry-ssh-'));
  store = await openSqliteStore({ path: join(dir, 'db.sqlite') });
  await store.migrate();
  registry = new NodeRegistry({
    remoteSessions: NO_OTHER_REPLICAS,
    store,
    clock: { now: () => 1_000 },
    hub: new EventHub(),
    offlineAfterMs: 10_000,
    latestMetrics: () => null,
  });
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const inventory = (hostname: string) => ({ host: testHostFacts(hostname), gpus: [], toolFailures: [] });

describe('a node added over SSH', () => {
  it('keeps its name when its promoted agent reports another hostname; an agent node is renamed as before', async () => {
    await registry.add({ ...bareNode('did:key:z6MkSshNamed'), hostname: 'gpu-07', mode: 'ssh', adminState: 'active' });
    registry.setContact('did:key:z6MkSshNamed', true, 1_000);
    await registry.update('did:key:z6MkSshNamed', { mode: 'agent' }, 'status');
    await registry.applyInventory('did:key:z6MkSshNamed', inventory('localhost-os-name'));
    expect(registry.get('did:key:z6MkSshNamed')?.hostname).toBe('gpu-07');
    expect((await store.getNode('did:key:z6MkSshNamed'))?.hostname).toBe('gpu-07');

    await registry.add({ ...bareNode('did:key:z6MkAgentNode'), hostname: 'old-name', adminState: 'active' });
    await registry.applyInventory('did:key:z6MkAgentNode', inventory('new-name'));
    expect(registry.get('did:key:z6MkAgentNode')?.hostname).toBe('new-name');
  });

  it('counts its SSH contact as online only while it is managed over SSH', async () => {
    await registry.add({ ...bareNode('did:key:z6MkSshOnline'), hostname: 'gpu-08', mode: 'ssh', adminState: 'active' });
    registry.setContact('did:key:z6MkSshOnline', true, 1_000);
    expect(registry.isOnline('did:key:z6MkSshOnline')).toBe(true);
    await registry.update('did:key:z6MkSshOnline', { mode: 'agent' }, 'status');
    expect(registry.isOnline('did:key:z6MkSshOnline')).toBe(false);
    registry.seen('did:key:z6MkSshOnline');
    expect(registry.isOnline('did:key:z6MkSshOnline')).toBe(true);
    expect(registry.status(registry.get('did:key:z6MkSshOnline')!)).toBe('READY');
  });
});
