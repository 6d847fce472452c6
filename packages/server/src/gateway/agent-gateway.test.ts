import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOSE_CODES, generateEd25519, MAX_FRAME_BYTES, type Ed25519KeyPair } from '@gpufleet/protocol';
import { startTestServer, type TestServer } from '../testing/test-server.js';
import { enrollTestNode, ProtocolClient } from '../testing/protocol-client.js';
import { testGpu, testGpuSample, testHostFacts } from '../testing/fake-host.js';

let t: TestServer;
let key: Ed25519KeyPair;

beforeAll(async () => {
  t = await startTestServer();
  key = await enrollTestNode(t, 'gw-node');
});
afterAll(() => t.close());

function sample(ts = Date.now()) {
  const gpu = testGpuSample(0);
  return {
    t: 'metrics',
    body: { ts, host: { cpuPct: 12.5, load1: 1, load5: 1, load15: 1, memoryUsedBytes: 2 ** 34, memoryTotalBytes: 2 ** 36, disks: [], net: [] }, gpus: [gpu] },
  };
}

function event(seq: number, message = 'tool failed') {
  return { t: 'event', seq, body: { id: `e-${seq}-${Math.random()}`, ts: Date.now(), kind: 'tool-failure', gpuUuid: null, pciBusId: null, message, data: {} } };
}

describe('agent gateway', () => {
  it('authenticates with the node key and marks the node READY', async () => {
    const c = await ProtocolClient.connect(t.url);
    const welcome = await c.hello(key);
    expect(welcome.t).toBe('welcome');
    expect(welcome.body).toMatchObject({ nodeId: key.did, heartbeatMs: 5000, metricsIntervalMs: 10_000 });
    expect((await t.api('GET', '/api/v1/nodes/gw-node')).body.status).toBe('READY');
    c.close();
  });

  it('stores metrics and serves them from the API and /metrics', async () => {
    const c = await ProtocolClient.connect(t.url);
    await c.hello(key);
    c.send(sample());
    c.send({ t: 'heartbeat', body: { ts: Date.now() } });
    await new Promise((r) => setTimeout(r, 100));
    const node = (await t.api('GET', '/api/v1/nodes/gw-node')).body;
    expect(node.gpus[0].sample.utilizationPct).toBe(87);
    expect(node.host.cpuPct).toBe(12.5);
    const series = (await t.api('GET', '/api/v1/nodes/gw-node/metrics?since=15m')).body.series;
    expect(series.find((s: any) => s.name === 'gpu_util_pct' && s.gpu === testGpu(0).uuid).points.at(-1)[1]).toBe(87);
    const prom = (await t.api('GET', '/metrics')).text;
    expect(prom).toMatch(/DCGM_FI_DEV_GPU_UTIL\{[^}]*Hostname="gw-node"[^}]*\} 87/);
    c.close();
  });

  it('acks outbox items once stored and de-duplicates by (node, seq)', async () => {
    const c = await ProtocolClient.connect(t.url);
    const welcome = await c.hello(key);
    const base = welcome.body.ackedSeq;
    c.send(event(base + 1));
    c.send(event(base + 2));
    expect((await c.next((f) => f.t === 'ack' && f.body.seq === base + 2)).body.seq).toBe(base + 2);
    c.send(event(base + 2, 'replayed'));
    const refused = await c.next((f) => f.t === 'error');
    expect(refused.body).toMatchObject({ code: 'invalid_argument', fatal: false, seq: base + 2 });
    expect(refused.body.message).toMatch(/already received/);
    c.send(event(base + 5));
    expect((await c.next((f) => f.t === 'error')).body.message).toMatch(/skips ahead/);
    c.close();
    await c.closed;
    const again = await ProtocolClient.connect(t.url);
    expect((await again.hello(key)).body.ackedSeq).toBe(base + 2);
    const stored = await t.server.context.store.listAgentEvents({ nodeId: key.did });
    expect(
      stored
        .filter((e) => e.seq > base)
        .map((e) => e.seq)
        .sort(),
    ).toEqual([base + 1, base + 2]);
    again.close();
  });

  it.each([
    ['malformed JSON', '{"t":', /not valid JSON/],
    ['unknown type', { t: 'launch-missiles', body: {} }, /unknown frame type/],
    ['wrong schema', { t: 'metrics', body: { ts: 'now' } }, /does not match its schema/],
    ['missing seq', { t: 'event', body: {} }, /does not match its schema/],
    ['oversize frame', JSON.stringify({ t: 'heartbeat', body: { ts: 1 }, pad: 'x'.repeat(MAX_FRAME_BYTES) }), /over the .*limit/],
  ])('refuses a frame with %s and keeps the session', async (_name, frame, message) => {
    const c = await ProtocolClient.connect(t.url);
    await c.hello(key);
    c.send(frame);
    const err = await c.next((f) => f.t === 'error');
    expect(err.body.fatal).toBe(false);
    expect(err.body.message).toMatch(message);
    c.send({ t: 'heartbeat', body: { ts: Date.now() } });
    c.send(sample());
    await new Promise((r) => setTimeout(r, 50));
    expect(c.closeCode).toBeNull();
    c.close();
  });

  it('closes a session after repeated violations while other agents keep being served', async () => {
    const other = await ProtocolClient.connect(t.url);
    await other.hello(key);
    const key2 = await enrollTestNode(t, 'gw-bad');
    const bad = await ProtocolClient.connect(t.url);
    await bad.hello(key2);
    for (let i = 0; i < 5; i++) bad.send('garbage');
    expect(await bad.closed).toBe(CLOSE_CODES.protocolViolation);
    const refusedBefore = t.server.context.stats.refusedByReason.get('malformed_json') ?? 0;
    expect(refusedBefore).toBeGreaterThanOrEqual(5);
    other.send({ t: 'heartbeat', body: { ts: Date.now() } });
    await new Promise((r) => setTimeout(r, 50));
    expect(other.closeCode).toBeNull();
    other.close();
  });

  it('refuses a node id that does not match the signing key', async () => {
    const c = await ProtocolClient.connect(t.url);
    const res = await c.hello(generateEd25519(), { nodeId: key.did });
    expect(res.body).toMatchObject({ code: 'unauthenticated', fatal: true });
    expect(res.body.message).toMatch(/signature does not verify/);
    expect(await c.closed).toBe(CLOSE_CODES.unauthenticated);
  });

  it('refuses an unknown node and an unsupported protocol version', async () => {
    const stranger = await ProtocolClient.connect(t.url);
    expect((await stranger.hello(generateEd25519())).body.message).toMatch(/unknown node/);
    const old = await ProtocolClient.connect(t.url);
    const res = await old.hello(key, { protocolVersion: 99 });
    expect(res.body.code).toBe('unsupported_version');
    expect(res.body.message).toMatch(/version 99 is not supported/);
    expect(await old.closed).toBe(CLOSE_CODES.unsupportedVersion);
  });

  it('refuses frames before hello', async () => {
    const c = await ProtocolClient.connect(t.url);
    await c.next((f) => f.t === 'challenge');
    c.send(sample());
    expect((await c.next((f) => f.t === 'error')).body.message).toMatch(/before a successful hello/);
    expect(await c.closed).toBe(CLOSE_CODES.unauthenticated);
  });

  it('applies an inventory item and relabels the node', async () => {
    const c = await ProtocolClient.connect(t.url);
    const welcome = await c.hello(key);
    const seq = welcome.body.ackedSeq + 1;
    c.send({
      t: 'inventory',
      seq,
      body: { host: testHostFacts('gw-node'), gpus: [0, 1, 2, 3].map((i) => testGpu(i, 'NVIDIA A100-SXM4-80GB')), toolFailures: [] },
    });
    await c.next((f) => f.t === 'ack' && f.body.seq === seq);
    const node = (await t.api('GET', '/api/v1/nodes/gw-node')).body;
    expect(node.labels['gpu.model']).toBe('A100');
    expect(node.labels['gpu.count']).toBe('4');
    c.close();
  });

  it('closes the session of a removed node and refuses it afterwards', async () => {
    const k = await enrollTestNode(t, 'gw-doomed');
    const c = await ProtocolClient.connect(t.url);
    await c.hello(k);
    expect((await t.api('DELETE', '/api/v1/nodes/gw-doomed')).status).toBe(204);
    expect(await c.closed).toBe(CLOSE_CODES.forbidden);
    const again = await ProtocolClient.connect(t.url);
    const res = await again.hello(k);
    expect(res.body.code).toBe('permission_denied');
    expect(res.body.message).toMatch(/removed from the fleet/);
  });
});
