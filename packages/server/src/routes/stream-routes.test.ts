import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FleetStreamBatch, type GpuSample, type NodeView } from '@gpufleet/protocol';
import { ManualClock, startTestServer, type TestServer } from '../testing/test-server.js';
import { enrollTestNode, ProtocolClient } from '../testing/protocol-client.js';
import { testGpuSample } from '../testing/fake-host.js';
import { SseReader, type SseEvent } from '../testing/sse-reader.js';
import { makeNode } from '../alerts/__tests__/alert-fixtures.js';

let t: TestServer;
let agent: ProtocolClient;
let nodeId = '';
const readers: SseReader[] = [];

function gpuSample(index: number, util: number): GpuSample {
  return testGpuSample(index, { temperatureC: 60 + index, utilizationPct: util, powerDrawW: 400 + index });
}
const metrics = (util: number) => ({
  t: 'metrics',
  body: {
    ts: Date.now(),
    host: { cpuPct: 12, load1: 1.5, load5: 1, load15: 0.5, memoryUsedBytes: 2 ** 30, memoryTotalBytes: 2 ** 36, disks: [], net: [] },
    gpus: [gpuSample(0, util), gpuSample(1, util / 2)],
  },
});

async function open(path = '/api/v1/stream', token: string | null = t.adminToken): Promise<SseReader> {
  const r = await SseReader.open(t.url, path, token);
  readers.push(r);
  await r.next((e) => e.event === 'hello');
  return r;
}
const mentions = (e: SseEvent, id: string) =>
  e.event === 'nodes' && (e.data.items.some((v: NodeView) => v.id === id) || e.data.deltas.some((d: { id: string }) => d.id === id));

beforeAll(async () => {
  t = await startTestServer();
  const key = await enrollTestNode(t, 'stream-1');
  nodeId = key.did;
  agent = await ProtocolClient.connect(t.url);
  expect((await agent.hello(key)).t).toBe('welcome');
});
afterAll(async () => {
  for (const r of readers) r.close();
  agent?.close();
  await t?.close();
});

describe('GET /api/v1/stream', () => {
  it('sends a metrics-only change as a small delta with the readings, and no full view', async () => {
    const r = await open();
    agent.send(metrics(87));
    const e = await r.next(
      (x) =>
        x.event === 'nodes' && x.data.deltas.some((d: { id: string; gpus: Array<{ readings: unknown }> }) => d.id === nodeId && d.gpus[0]?.readings !== null),
    );
    const batch = FleetStreamBatch.parse(e.data);
    expect(batch.items.map((v) => v.id)).not.toContain(nodeId);
    const d = batch.deltas.find((x) => x.id === nodeId)!;
    const view = (await t.api('GET', `/api/v1/nodes/${encodeURIComponent(nodeId)}`)).body as NodeView;
    expect(d).toMatchObject({ status: view.status, connected: true, host: { cpuPct: 12, load1: 1.5, memoryUsedBytes: 2 ** 30 } });
    expect(typeof d.sampledAt).toBe('number');
    expect(d.gpus).toEqual([
      { index: 0, readings: [87, 2 ** 33, 60, 400] },
      { index: 1, readings: [43.5, 2 ** 33, 61, 401] },
    ]);
    // A fraction of the full view, even for a small node with two GPUs and no disks.
    expect(JSON.stringify(d).length * 4).toBeLessThan(JSON.stringify(view).length);
  });

  it('sends the full view when labels change', async () => {
    const r = await open();
    expect((await t.api('PATCH', `/api/v1/nodes/${encodeURIComponent(nodeId)}/labels`, { set: { rack: 'r7' } })).status).toBe(200);
    const e = await r.next((x) => mentions(x, nodeId));
    const batch = FleetStreamBatch.parse(e.data);
    expect(batch.deltas.map((d) => d.id)).not.toContain(nodeId);
    expect(batch.items.find((v) => v.id === nodeId)?.userLabels).toEqual({ rack: 'r7' });
  });

  it('coalesces what happened within a second into one entry per node, a full view winning over a delta', async () => {
    const other = makeNode('did:key:z6MkStreamOther', { hostname: 'stream-2' });
    await t.server.context.registry.add(other);
    const r = await open();
    const hub = t.server.context.hub;
    // All at once, between two ticks of the stream.
    for (let i = 0; i < 25; i++) hub.publish({ type: 'metrics', nodeId, ts: i });
    hub.publish({ type: 'metrics', nodeId: other.id, ts: 1 });
    hub.publish({ type: 'node', nodeId: other.id, change: 'labels' });
    hub.publish({ type: 'metrics', nodeId: other.id, ts: 2 });
    const first = FleetStreamBatch.parse((await r.next((x) => mentions(x, nodeId) || mentions(x, other.id))).data);
    expect(first.deltas.filter((d) => d.id === nodeId)).toHaveLength(1);
    expect(first.items.filter((v) => v.id === other.id)).toHaveLength(1);
    expect(first.deltas.filter((d) => d.id === other.id)).toHaveLength(0);
    // Nothing more about them after that (the next two ticks come and go).
    const seen = r.events.length;
    await new Promise((res) => setTimeout(res, 2200));
    expect(r.events.slice(seen).filter((x) => mentions(x, other.id))).toEqual([]);
    // A removal names the id only.
    hub.publish({ type: 'metrics', nodeId: other.id, ts: 3 });
    hub.publish({ type: 'node', nodeId: other.id, change: 'removed' });
    const gone = FleetStreamBatch.parse((await r.next((x) => x.event === 'nodes' && x.data.removed.includes(other.id))).data);
    expect([...gone.items.map((v) => v.id), ...gone.deltas.map((d) => d.id)]).not.toContain(other.id);
  });

  it('lets go of the hub when the reader leaves', async () => {
    const before = t.server.context.hub.size;
    const r = await open();
    expect(t.server.context.hub.size).toBe(before + 1);
    r.close();
    await r.ended;
    while (t.server.context.hub.size > before) await new Promise((res) => setTimeout(res, 20));
  });

  it('is open to viewers and closed without a token', async () => {
    const viewer = await t.api('POST', '/api/v1/api-tokens', { name: 'stream-viewer', role: 'viewer' });
    expect((await open('/api/v1/stream', viewer.body.token)).events[0]?.event).toBe('hello');
    await expect(SseReader.open(t.url, '/api/v1/stream', null)).rejects.toMatchObject({ status: 401 });
  });

  it.each([
    ['an unknown parameter', '?since=5', /since/],
    ['a repeated token', '?access_token=a&access_token=b', /access_token/],
  ])('refuses %s with a 400 naming it', async (_what, query, message) => {
    const res = await t.api('GET', `/api/v1/stream${query}`);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_argument');
    expect(res.body.error.message + JSON.stringify(res.body.error.details ?? '')).toMatch(message);
  });
});

describe('GET /api/v1/stream with a reader that stops reading', () => {
  it('stops writing to it, and closes it once it has been behind for a minute', async () => {
    const clock = new ManualClock();
    const s = await startTestServer({}, { clock });
    try {
      // Big views, so a few batches fill the socket's buffers and then the stream's own limit.
      const disks = Array.from({ length: 150 }, (_, d) => ({
        device: `/dev/nvme${d}n1`,
        mount: `/mnt/scratch/volume-${d}/with/a/long/path`,
        fsType: 'xfs',
        totalBytes: 4e12,
        usedBytes: 1e12,
      }));
      const ids: string[] = [];
      for (let i = 0; i < 120; i++) {
        const n = makeNode(`did:key:z6MkStall${String(i).padStart(4, '0')}`, { hostname: `stall-${i}`, gpus: 8 });
        await s.server.context.registry.add({ ...n, facts: { ...n.facts, disks } });
        ids.push(n.id);
      }
      const listeners = s.server.context.hub.size;
      const r = await SseReader.open(s.url, '/api/v1/stream', s.adminToken);
      readers.push(r);
      await r.next((e) => e.event === 'hello');
      r.pause();
      // Every node keeps changing and the minutes go by; the reader takes nothing.
      while (s.server.context.hub.size > listeners) {
        for (const id of ids) s.server.context.hub.publish({ type: 'node', nodeId: id, change: 'labels' });
        clock.advance(10_000);
        await new Promise((res) => setTimeout(res, 250));
      }
      // What it gets when it reads again ends with the reason (or the connection was cut first).
      r.resume();
      await r.ended;
      const last = r.events.at(-1)!;
      if (last.event === 'closing') expect(last.data.reason).toMatch(/stayed behind for \d+ s; reconnect/);
    } finally {
      await s.close();
    }
  });
});
