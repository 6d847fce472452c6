import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emptyGpuSnapshot, FleetGpuRow, gpuSampleOf, type GpuSample, type MetricsBody } from '@gpufleet/protocol';
import { ManualClock, startTestServer, type TestServer } from '../testing/test-server.js';
import { GPU_ORDER_TTL_MS } from './fleet-routes.js';
import { enrollTestNode } from '../testing/protocol-client.js';

/**
 * GET /api/v1/gpus with filters, sort and paging on a real server (HTTP, auth, validation,
 * SQLite). Nodes enroll for real with two H100s each; readings go straight into the metric store.
 */

let t: TestServer;
let viewer: string;
const ids = new Map<string, string>();
const clock = new ManualClock();

type Reading = { util: number | null; temp: number | null; power: number | null; mem: number | null };
function sample(gpus: Reading[]): MetricsBody {
  const g: GpuSample[] = gpus.map((v, i) => ({
    ...gpuSampleOf(emptyGpuSnapshot('nvidia', i)),
    uuid: `GPU-00000000-0000-0000-0000-00000000000${i}`,
    utilizationPct: v.util,
    temperatureC: v.temp,
    powerDrawW: v.power,
    memoryUsedBytes: v.mem,
  }));
  return { ts: clock.now(), host: { cpuPct: 1, load1: 0, load5: 0, load15: 0, memoryUsedBytes: 1, memoryTotalBytes: 2, disks: [], net: [] }, gpus: g };
}
const GiB = 1024 ** 3;

beforeAll(async () => {
  t = await startTestServer({}, { clock });
  viewer = (await t.api('POST', '/api/v1/api-tokens', { name: 'v', role: 'viewer' })).body.token;
  for (const h of ['node-b', 'node-a', 'node-c', 'silent']) ids.set(h, (await enrollTestNode(t, h, { labels: { rack: h === 'node-c' ? 'r2' : 'r1' } })).did);
  const { metrics, registry } = t.server.context;
  const latest: Record<string, Reading[]> = {
    'node-a': [
      { util: 10, temp: 40, power: 100, mem: 1 * GiB },
      { util: 90, temp: 80, power: 600, mem: 70 * GiB },
    ],
    'node-b': [
      { util: 50, temp: 60, power: 300, mem: 40 * GiB },
      { util: null, temp: null, power: null, mem: null },
    ],
    'node-c': [
      { util: 70, temp: 30, power: 200, mem: 20 * GiB },
      { util: 0, temp: 35, power: 90, mem: 0 },
    ],
  };
  for (const [h, gpus] of Object.entries(latest)) metrics.ingest(ids.get(h)!, sample(gpus));
  for (const h of ['node-a', 'node-b', 'node-c']) registry.seen(ids.get(h)!);
  expect((await t.api('POST', '/api/v1/nodes/node-b/gpus/1/cordon', { reason: 'fan noise' })).status).toBe(200);
});
afterAll(() => t.close());

const get = (query: string) => t.api('GET', `/api/v1/gpus${query}`, undefined, viewer);
const keys = async (query: string) => {
  const res = await get(query);
  expect(res.status, res.text).toBe(200);
  return (res.body.items as FleetGpuRow[]).map((r) => `${r.hostname}/${r.gpu.index}`);
};

describe('GET /api/v1/gpus', () => {
  it('lists every GPU in node order, with the total, in the protocol shape', async () => {
    const res = await get('');
    expect(res.body.total).toBe(8);
    expect((res.body.items as unknown[]).map((r) => FleetGpuRow.parse(r))).toHaveLength(8);
    expect(await keys('')).toEqual(['node-a/0', 'node-a/1', 'node-b/0', 'node-b/1', 'node-c/0', 'node-c/1', 'silent/0', 'silent/1']);
  });

  it('sorts by readings with GPUs that have none last, both ways', async () => {
    expect(await keys('?sort=-util')).toEqual(['node-a/1', 'node-c/0', 'node-b/0', 'node-a/0', 'node-c/1', 'node-b/1', 'silent/0', 'silent/1']);
    expect(await keys('?sort=util')).toEqual(['node-c/1', 'node-a/0', 'node-b/0', 'node-c/0', 'node-a/1', 'node-b/1', 'silent/0', 'silent/1']);
    expect(await keys('?sort=temp&limit=3')).toEqual(['node-c/0', 'node-c/1', 'node-a/0']);
    expect(await keys('?sort=-power&limit=2')).toEqual(['node-a/1', 'node-b/0']);
    expect(await keys('?sort=-memory&limit=3')).toEqual(['node-a/1', 'node-b/0', 'node-c/0']);
    expect(await keys('?sort=-node&limit=2')).toEqual(['silent/0', 'silent/1']);
    expect(await keys('?sort=model')).toEqual(await keys('?sort=node'));
  });

  it('filters by label selector, model, state, health and node', async () => {
    expect(await keys('?selector=rack%3Dr2')).toEqual(['node-c/0', 'node-c/1']);
    expect(await keys('?model=h100&node=node-a')).toEqual(['node-a/0', 'node-a/1']);
    expect(await keys('?model=MI300X')).toEqual([]);
    expect(await keys('?state=CORDONED')).toEqual(['node-b/1']);
    expect(await keys(`?node=${encodeURIComponent(ids.get('node-c')!)}`)).toEqual(['node-c/0', 'node-c/1']);
    expect(await keys('?health=unknown&node=silent')).toEqual(['silent/0', 'silent/1']);
    const cordoned = (await get('?state=CORDONED')).body.items[0] as FleetGpuRow;
    expect(cordoned.gpu.stateChange?.reason).toBe('fan noise');
  });

  it('pages through a sorted list without repeats or gaps, and says how many there are', async () => {
    const all = await keys('?sort=-temp');
    const paged: string[] = [];
    for (let offset = 0; offset < 8; offset += 3) {
      const res = await get(`?sort=-temp&limit=3&offset=${offset}`);
      expect(res.body.total).toBe(8);
      paged.push(...(res.body.items as FleetGpuRow[]).map((r) => `${r.hostname}/${r.gpu.index}`));
    }
    expect(paged).toEqual(all);
    expect((await get('?offset=100')).body).toEqual({ items: [], total: 8 });
  });

  it.each([
    ['?sort=hottest', /sort must be one of node, model, util, temp, power, memory/],
    ['?state=BROKEN', /state must be one of READY, CORDONED, UNHEALTHY/],
    ['?health=sick', /health must be one of/],
    ['?limit=0', /limit must be at least 1/],
    ['?limit=abc', /limit must be a whole number/],
    ['?offset=-1', /offset/],
    ['?selector=%21', /bad label selector/],
    ['?colour=red', /colour|unrecognized|unknown/i],
  ])('refuses %s with a 400 that names the problem', async (query, message) => {
    const res = await get(query);
    expect(res.status, res.text).toBe(400);
    expect(res.body.error.code).toBe('invalid_argument');
    expect(res.body.error.message).toMatch(message);
  });

  it('needs a token', async () => {
    expect((await t.api('GET', '/api/v1/gpus', undefined, null)).status).toBe(401);
  });

  it("keeps a query's order for the next pages a moment, with each page's readings and states read fresh", async () => {
    expect(await keys('?state=CORDONED')).toEqual(['node-b/1']);
    expect((await t.api('POST', '/api/v1/nodes/node-c/gpus/0/cordon', { reason: 'order test' })).status).toBe(200);
    // Within GPU_ORDER_TTL_MS the same query pages through the same order...
    expect(await keys('?state=CORDONED')).toEqual(['node-b/1']);
    // ...and past it the order is made again.
    clock.advance(GPU_ORDER_TTL_MS);
    expect(await keys('?state=CORDONED')).toEqual(['node-b/1', 'node-c/0']);
    expect((await t.api('POST', '/api/v1/nodes/node-c/gpus/0/uncordon', {})).status).toBe(200);
    // Another query is its own order, made at once.
    const fresh = (await get('?state=READY&node=node-c')).body.items as FleetGpuRow[];
    expect(fresh.map((r) => `${r.hostname}/${r.gpu.index}/${r.gpu.state}`)).toEqual(['node-c/0/READY', 'node-c/1/READY']);
  });

  // Last: it takes node-a offline.
  it('sorts an OFFLINE node as having no readings, and still returns its last ones to show as stale', async () => {
    const { registry } = t.server.context;
    clock.advance(120_000);
    registry.sweep(() => false);
    registry.seen(ids.get('node-b')!);
    registry.seen(ids.get('node-c')!);
    expect(await keys('?sort=-temp')).toEqual(['node-b/0', 'node-c/1', 'node-c/0', 'node-a/0', 'node-a/1', 'node-b/1', 'silent/0', 'silent/1']);
    const a = (await get('?node=node-a')).body.items as FleetGpuRow[];
    expect(a.map((r) => r.nodeStatus)).toEqual(['OFFLINE', 'OFFLINE']);
    expect(a[1]!.gpu.sample?.temperatureC).toBe(80);
  });
});
