import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FleetHeatmap } from '@gpufleet/protocol';
import { startTestServer, type TestServer } from '../testing/test-server.js';
import { enrollTestNode, ProtocolClient } from '../testing/protocol-client.js';
import { testGpuSample } from '../testing/fake-host.js';

let t: TestServer;
let agent: ProtocolClient;

function gpuSample(index: number, util: number, temp: number, power: number) {
  return testGpuSample(index, { temperatureC: temp, utilizationPct: util, powerDrawW: power });
}

beforeAll(async () => {
  t = await startTestServer();
  // heat-1 is connected and reports readings; heat-2 enrolled but never connected.
  const key = await enrollTestNode(t, 'heat-1');
  await enrollTestNode(t, 'heat-2');
  agent = await ProtocolClient.connect(t.url);
  expect((await agent.hello(key)).t).toBe('welcome');
  agent.send({
    t: 'metrics',
    body: {
      ts: Date.now(),
      host: { cpuPct: 1, load1: 1, load5: 1, load15: 1, memoryUsedBytes: 1, memoryTotalBytes: 2, disks: [], net: [] },
      gpus: [gpuSample(0, 87.4, 61.2, 512.6), gpuSample(1, 2, 40, 90)],
    },
  });
  for (let i = 0; i < 100; i++) {
    if ((await t.api('GET', '/api/v1/nodes/heat-1')).body.gpus[0].sample !== null) break;
    await new Promise((r) => setTimeout(r, 20));
  }
});
afterAll(async () => {
  agent?.close();
  await t?.close();
});

describe('GET /api/v1/fleet/heatmap', () => {
  it('carries every GPU of every node with what the node views say, in parallel arrays', async () => {
    const res = await t.api('GET', '/api/v1/fleet/heatmap');
    expect(res.status).toBe(200);
    const heat = FleetHeatmap.parse(res.body);
    const views = (await t.api('GET', '/api/v1/nodes')).body.items as any[];
    expect([...heat.nodes.hostname].sort()).toEqual(views.map((v) => v.hostname).sort());
    let at = 0;
    for (const [i, id] of heat.nodes.id.entries()) {
      const view = views.find((v) => v.id === id)!;
      expect(heat.nodes.status[i]).toBe(view.status);
      expect(heat.nodes.connected[i]).toBe(view.connected);
      expect(heat.nodes.gpuCount[i]).toBe(view.gpus.length);
      // When it was last heard from, so the dashboard can say how old an offline node's readings are.
      // (A heartbeat between the two requests may move it a little.)
      const seen = heat.lastSeen?.[i];
      if (view.lastSeenAt === null) expect(seen).toBeNull();
      else expect(Math.abs(seen! - Date.parse(view.lastSeenAt))).toBeLessThan(10_000);
      for (const g of view.gpus) {
        expect(heat.gpus.index[at]).toBe(g.index);
        expect(heat.models[heat.gpus.model[at]!]).toBe(g.name);
        expect(heat.gpus.util[at]).toBe(g.sample ? Math.round(g.sample.utilizationPct) : null);
        expect(heat.verdicts[heat.gpus.health[at]!]).toBe(g.health.verdict);
        expect(heat.states[heat.gpus.state[at]!]).toBe(g.state);
        at++;
      }
    }
    expect(at).toBe(heat.gpus.index.length);
    const first = heat.nodes.hostname.indexOf('heat-1');
    const start = heat.nodes.gpuCount.slice(0, first).reduce((a, b) => a + b, 0);
    expect(heat.gpus.util.slice(start, start + 2)).toEqual([87, 2]);
    expect(heat.gpus.temp.slice(start, start + 2)).toEqual([61, 40]);
    expect(heat.gpus.power.slice(start, start + 2)).toEqual([513, 90]);
  });

  it('shows a cordoned GPU as CORDONED', async () => {
    expect((await t.api('POST', '/api/v1/nodes/heat-1/gpus/1/cordon', { reason: 'heatmap test' })).status).toBe(200);
    const heat = FleetHeatmap.parse((await t.api('GET', `/api/v1/fleet/heatmap?selector=${encodeURIComponent('hostname=heat-1')}`)).body);
    expect(heat.nodes.hostname).toEqual(['heat-1']);
    expect(heat.gpus.state.map((s) => heat.states[s])).toEqual(['READY', 'CORDONED']);
  });

  it('is open to viewers and closed without a token', async () => {
    const viewer = await t.api('POST', '/api/v1/api-tokens', { name: 'heat-viewer', role: 'viewer' });
    expect(viewer.status).toBe(201);
    expect((await t.api('GET', '/api/v1/fleet/heatmap', undefined, viewer.body.token)).status).toBe(200);
    expect((await t.api('GET', '/api/v1/fleet/heatmap', undefined, null)).status).toBe(401);
  });

  it.each([
    ['an unknown parameter', '?limit=5', /limit/],
    ['a bad selector', `?selector=${encodeURIComponent('a in (')}`, /selector|\(/],
    ['an overlong selector', `?selector=${'a'.repeat(5000)}`, /selector/],
    ['a repeated selector', '?selector=a%3Db&selector=c%3Dd', /selector/],
  ])('refuses %s with a 400 naming it', async (_what, query, message) => {
    const res = await t.api('GET', `/api/v1/fleet/heatmap${query}`);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_argument');
    expect(res.body.error.message + JSON.stringify(res.body.error.details ?? '')).toMatch(message);
  });
});
