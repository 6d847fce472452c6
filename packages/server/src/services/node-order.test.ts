import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NODE_SORT_KEYS, type GpuSample, type NodeSort } from '@gpufleet/protocol';
import { openStore } from '../store/open-store.js';
import type { Store } from '../store/store.js';
import { EventHub } from '../events/event-hub.js';
import { MetricStore } from '../metrics/metric-store.js';
import { gpuSample, makeNode, metricsOf, TestClock } from '../alerts/__tests__/alert-fixtures.js';
import { NodeRegistry } from './node-registry.js';
import { NO_OTHER_REPLICAS } from '../replicas/session-owners.js';

/**
 * registry.list({ sort }) over a real SQLite store and the real metric store. The fleet:
 * readings chosen so util, temp and power each order the nodes differently, two nodes tied on
 * every reading (ordered by hostname), two with the same hostname (ordered by id), and nodes
 * without readings, which must come last whichever the direction.
 */

interface Spec {
  id: string;
  hostname: string;
  gpus?: number;
  /** [util, temp, power] per GPU; absent: the node never sent metrics. */
  readings?: Array<[number | null, number | null, number | null]>;
  seenAgo?: number;
  cordoned?: boolean;
}

const FLEET: Spec[] = [
  {
    id: 'did:key:z6MkA1',
    hostname: 'node-c',
    readings: [
      [10, 50, 100],
      [30, 80, 200],
    ],
    seenAgo: 5000,
  }, // util 20, temp 80, power 300
  { id: 'did:key:z6MkB2', hostname: 'node-a', readings: [[90, 60, 50]], seenAgo: 1000 }, // util 90, temp 60, power 50
  {
    id: 'did:key:z6MkC3',
    hostname: 'node-e',
    gpus: 4,
    readings: [
      [40, 70, 400],
      [null, 71, null],
    ],
    seenAgo: 3000,
  }, // util 40 (null skipped), temp 71, power 400
  {
    id: 'did:key:z6MkD4',
    hostname: 'node-b',
    readings: [
      [40, 70, 400],
      [null, 71, null],
    ],
    seenAgo: 3000,
    cordoned: true,
  }, // ties node-e on every reading
  { id: 'did:key:z6MkE5', hostname: 'node-d', gpus: 1 }, // no metrics at all: no reading, never seen
  { id: 'did:key:z6MkF6', hostname: 'node-f', readings: [[null, null, null]], seenAgo: 2000 }, // a sample, but every GPU value missing
  { id: 'did:key:z6MkH8', hostname: 'node-g', readings: [[5, 40, 10]], seenAgo: 4000 },
  { id: 'did:key:z6MkG7', hostname: 'node-g', readings: [[5, 40, 10]], seenAgo: 4000 }, // same hostname as H8: id decides
];

let dir: string;
let store: Store;
let registry: NodeRegistry;
const clock = new TestClock();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'node-order-'));
  store = await openStore({ database: null, dataDir: dir });
  await store.migrate();
  const metrics = new MetricStore();
  registry = new NodeRegistry({
    remoteSessions: NO_OTHER_REPLICAS,
    store,
    clock,
    hub: new EventHub(),
    offlineAfterMs: 60_000,
    latestMetrics: (id) => metrics.latest(id),
  });
  for (const s of FLEET) {
    await registry.add({ ...makeNode(s.id, { hostname: s.hostname, gpus: s.gpus ?? 2 }), lastSeenAt: null });
    if (s.readings) {
      const gpus: GpuSample[] = s.readings.map(([u, t, p], i) => gpuSample(s.id, i, { utilizationPct: u, temperatureC: t, powerDrawW: p }));
      metrics.ingest(s.id, metricsOf(clock.now(), gpus));
    }
  }
  // Liveness in the order of seenAgo, oldest first, so each node's last frame time differs.
  for (const s of [...FLEET].filter((f) => f.seenAgo !== undefined).sort((a, b) => b.seenAgo! - a.seenAgo!)) {
    clock.t = 1_800_000_000_000 - s.seenAgo!;
    registry.seen(s.id);
  }
  for (const s of FLEET) if (s.cordoned) await registry.states.node(s.id, 'cordon', 'test', 'sort test');
});
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const order = async (sort?: NodeSort) => (await registry.list(sort === undefined ? {} : { sort })).items.map((n) => `${n.hostname}/${n.id.slice(-2)}`);

describe('NodeRegistry.list sort', () => {
  it('defaults to hostname, then id for equal hostnames', async () => {
    expect(await order()).toEqual(['node-a/B2', 'node-b/D4', 'node-c/A1', 'node-d/E5', 'node-e/C3', 'node-f/F6', 'node-g/G7', 'node-g/H8']);
    expect(await order('hostname')).toEqual(await order());
    expect(await order('-hostname')).toEqual(['node-g/G7', 'node-g/H8', 'node-f/F6', 'node-e/C3', 'node-d/E5', 'node-c/A1', 'node-b/D4', 'node-a/B2']);
  });

  it('sorts by mean GPU utilization with the nodes that have no reading last, both ways', async () => {
    expect(await order('util')).toEqual(['node-g/G7', 'node-g/H8', 'node-c/A1', 'node-b/D4', 'node-e/C3', 'node-a/B2', 'node-d/E5', 'node-f/F6']);
    expect(await order('-util')).toEqual(['node-a/B2', 'node-b/D4', 'node-e/C3', 'node-c/A1', 'node-g/G7', 'node-g/H8', 'node-d/E5', 'node-f/F6']);
  });

  it('sorts by the hottest GPU and by summed power', async () => {
    expect(await order('-temp')).toEqual(['node-c/A1', 'node-b/D4', 'node-e/C3', 'node-a/B2', 'node-g/G7', 'node-g/H8', 'node-d/E5', 'node-f/F6']);
    expect(await order('temp')).toEqual(['node-g/G7', 'node-g/H8', 'node-a/B2', 'node-b/D4', 'node-e/C3', 'node-c/A1', 'node-d/E5', 'node-f/F6']);
    expect(await order('-power')).toEqual(['node-b/D4', 'node-e/C3', 'node-c/A1', 'node-a/B2', 'node-g/G7', 'node-g/H8', 'node-d/E5', 'node-f/F6']);
  });

  it('sorts by GPU count, status and last seen (never seen is last)', async () => {
    expect(await order('-gpus')).toEqual(['node-e/C3', 'node-a/B2', 'node-b/D4', 'node-c/A1', 'node-f/F6', 'node-g/G7', 'node-g/H8', 'node-d/E5']);
    // CORDONED < OFFLINE < READY; node-d never connected, so it is OFFLINE too.
    expect(await order('status')).toEqual(['node-b/D4', 'node-d/E5', 'node-a/B2', 'node-c/A1', 'node-e/C3', 'node-f/F6', 'node-g/G7', 'node-g/H8']);
    expect(await order('-lastSeen')).toEqual(['node-a/B2', 'node-f/F6', 'node-b/D4', 'node-e/C3', 'node-g/G7', 'node-g/H8', 'node-c/A1', 'node-d/E5']);
    expect(await order('lastSeen')).toEqual(['node-c/A1', 'node-g/G7', 'node-g/H8', 'node-b/D4', 'node-e/C3', 'node-f/F6', 'node-a/B2', 'node-d/E5']);
  });

  it('pages through every order without repeating or skipping a node', async () => {
    for (const key of NODE_SORT_KEYS) {
      for (const sort of [key, `-${key}`] as NodeSort[]) {
        const whole = await order(sort);
        const paged: string[] = [];
        for (let offset = 0; offset < FLEET.length; offset += 3) {
          const page = await registry.list({ sort, offset, limit: 3 });
          expect(page.total).toBe(FLEET.length);
          paged.push(...page.items.map((n) => `${n.hostname}/${n.id.slice(-2)}`));
        }
        expect(paged, sort).toEqual(whole);
      }
    }
  });

  it('sorts only what the filters let through', async () => {
    expect((await registry.list({ sort: '-temp', q: 'node-g' })).items.map((n) => n.id)).toEqual(['did:key:z6MkG7', 'did:key:z6MkH8']);
    expect((await registry.list({ sort: '-util', status: 'READY', limit: 2 })).items.map((n) => n.hostname)).toEqual(['node-a', 'node-e']);
  });

  it('keeps the default order across lists, yet follows joins, hostname changes and new states', async () => {
    const before = await order();
    expect(await order()).toEqual(before);
    // A cordon replaces the node's record: the kept order must hand out the current one.
    await registry.states.node('did:key:z6MkA1', 'cordon', 'test', 'kept order');
    expect((await registry.list({})).items.find((n) => n.id === 'did:key:z6MkA1')!.adminState).toBe('cordoned');
    expect((await registry.list({ status: 'CORDONED' })).items.map((n) => n.hostname)).toEqual(['node-b', 'node-c']);
    await registry.states.node('did:key:z6MkA1', 'uncordon', 'test', 'kept order');
    // A node that joins, and one renamed, take their places at once.
    await registry.add({ ...makeNode('did:key:z6MkJ9', { hostname: 'node-0', gpus: 1 }), lastSeenAt: null });
    await registry.update('did:key:z6MkB2', { hostname: 'node-z' }, 'inventory');
    try {
      expect(await order()).toEqual(['node-0/J9', 'node-b/D4', 'node-c/A1', 'node-d/E5', 'node-e/C3', 'node-f/F6', 'node-g/G7', 'node-g/H8', 'node-z/B2']);
    } finally {
      await registry.update('did:key:z6MkB2', { hostname: 'node-a' }, 'inventory');
      await registry.remove('did:key:z6MkJ9');
    }
    expect(await order()).toEqual(before);
  });

  it('refuses an unknown sort naming the keys it takes', async () => {
    await expect(registry.list({ sort: 'name' as NodeSort })).rejects.toThrow(/hostname, status, gpus, util, temp, power, lastSeen/);
  });
});
