import { afterEach, describe, expect, it } from 'vitest';
import { decodeJoinToken, encodeJoinToken } from '@gpufleet/protocol';
import { LinkProxy } from '@gpufleet/sim';
import { startTestServer, type TestServer } from '../../packages/server/src/testing/test-server.js';
import { Cleanups } from './support/cleanups.js';
import { duplicates, E2eHost } from './support/e2e-host.js';
import { sleep, waitFor } from './support/wait-for.js';

/*
 * The issue asks for "an agent cut off for 2 minutes". Time is scaled down instead of waited:
 * at the default-ish 1 s sampling, 2 minutes is 120 sampling intervals; here the server sets a
 * 250 ms interval and the cut lasts 120 x 250 ms = 30 s of real time, the same 120 intervals
 * (and 30 one-per-second events). What matters to the agent is how many samples and items pile
 * up while it is cut off, not the wall-clock length of the outage.
 */
const METRICS_MS = 250;
const CUT_INTERVALS = 120;
const CUT_MS = CUT_INTERVALS * METRICS_MS;
const HEARTBEAT_MS = 200;
/** The second host's ring holds far fewer samples than the cut produces: its oldest must go. */
const SMALL_RING = 40;

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

async function serverBehindProxy(): Promise<{ t: TestServer; proxy: LinkProxy; token: string }> {
  const t = await startTestServer({ heartbeatInterval: `${HEARTBEAT_MS}ms`, offlineAfter: 3, metricsInterval: `${METRICS_MS}ms` });
  cleanups.add('server', () => t.close());
  const proxy = LinkProxy.forUrl(t.url);
  await proxy.start();
  const proxyUrl = proxy.urlFor(t.url);
  cleanups.add('proxy', () => proxy.close());
  const created = await t.api('POST', '/api/v1/join-tokens', { reusable: true });
  expect(created.status, created.text).toBe(201);
  // Same token, pointed at the proxy: enrollment and every session go through the cuttable path.
  const token = encodeJoinToken({ ...decodeJoinToken(created.body.token), url: proxyUrl });
  return { t, proxy, token };
}

async function storedIds(t: TestServer, nodeId: string): Promise<string[]> {
  return (await t.server.context.store.listAgentEvents({ nodeId, limit: 1000 })).map((e) => e.id);
}

function status(t: TestServer, nodeId: string): string {
  const node = t.server.context.registry.get(nodeId);
  return node ? t.server.context.registry.status(node) : 'MISSING';
}

describe('e2e: an agent cut off from the server (120 sampling intervals)', () => {
  it(
    'keeps collecting while cut off; afterwards the server has every event, the GPU change and the newest metrics',
    async () => {
      const { t, proxy, token } = await serverBehindProxy();
      const a = await E2eHost.joinAndStart({ token, hostname: 'e2e-cut-a', model: 'H100' });
      cleanups.add('host a', () => a.dispose());
      const b = await E2eHost.joinAndStart({ token, hostname: 'e2e-cut-b', model: 'L40S', agentOptions: { metricsRingCapacity: SMALL_RING } });
      cleanups.add('host b', () => b.dispose());
      const hosts = [a, b];
      await waitFor('both agents settled and reporting', () =>
        hosts.every((h) => h.settled && t.server.context.metrics.latest(h.nodeId) !== null && status(t, h.nodeId) === 'READY'),
      );
      expect(proxy.stats.forwarded).toBeGreaterThanOrEqual(2);
      const producedBefore = hosts.map((h) => h.running.stats.metricsProduced);

      // --- the cut ---
      const cutAt = Date.now();
      proxy.cut();
      await waitFor('both nodes OFFLINE', () => hosts.every((h) => status(t, h.nodeId) === 'OFFLINE'), { timeoutMs: 5000 });
      let tick = 0;
      while (Date.now() - cutAt < CUT_MS) {
        for (const h of hosts) h.enqueue(`cut-${tick}`);
        // Midway a GPU falls off the bus: a health-relevant change made while nobody listens.
        if (tick === 10) a.backend.dropGpu(3);
        tick++;
        await sleep(Math.min(1000, CUT_MS - (Date.now() - cutAt)));
      }
      const restoreAt = Date.now();
      for (const h of hosts) {
        expect(h.running.linkState, 'never reconnected during the cut').not.toBe('live');
        expect(h.running.outbox.size).toBeGreaterThanOrEqual(tick);
      }
      // Collection went on: about one sample per interval, into the rings.
      const cutSamples = hosts.map((h) => h.sampleTimes.filter((s) => s > cutAt && s < restoreAt));
      for (const [i, h] of hosts.entries()) {
        expect(h.running.stats.metricsProduced - producedBefore[i]!).toBeGreaterThanOrEqual(CUT_INTERVALS * 0.8);
        expect(cutSamples[i]!.length).toBeGreaterThanOrEqual(CUT_INTERVALS * 0.8);
      }
      expect(a.running.metrics.size).toBeGreaterThanOrEqual(cutSamples[0]!.length - 1);
      expect(a.running.metrics.dropped).toBe(0);
      expect(b.running.metrics.size).toBe(SMALL_RING);
      expect(b.running.metrics.dropped).toBeGreaterThanOrEqual(cutSamples[1]!.length - SMALL_RING - 2);
      expect(proxy.stats.dropped, 'the agents kept redialing').toBeGreaterThan(5);

      // --- back online ---
      proxy.restore();
      // Host a lost a GPU during the cut: once the gpu-missing event lands, the health policy
      // marks the node UNHEALTHY (cordon-node). Host b only lost its link and is READY again.
      const expected = (h: E2eHost) => (h === a ? 'UNHEALTHY' : 'READY');
      await waitFor('both back with their outboxes acknowledged', () => hosts.every((h) => h.settled && status(t, h.nodeId) === expected(h)), {
        timeoutMs: 10_000,
      });
      expect(t.server.context.health.nodeHealth(a.nodeId).verdict).toBe('unhealthy');

      for (const h of hosts) {
        // Every item enqueued during the cut is stored exactly once.
        const ids = await storedIds(t, h.nodeId);
        expect(h.enqueued).toHaveLength(tick);
        expect(h.enqueued.filter((id) => ids.filter((x) => x === id).length !== 1)).toEqual([]);
        expect(duplicates(ids)).toEqual([]);
        // The newest sample the server holds is from after the reconnect (minus one interval).
        expect(t.server.context.metrics.latest(h.nodeId)!.ts).toBeGreaterThan(restoreAt - METRICS_MS);
      }
      // The GPU that fell off during the cut: its event and the 7-GPU inventory arrived.
      const missing = await t.server.context.store.listAgentEvents({ nodeId: a.nodeId, kind: 'gpu-missing' });
      expect(missing).toHaveLength(1);
      expect(missing[0]!.ts).toBeGreaterThan(cutAt);
      expect(missing[0]!.ts).toBeLessThan(restoreAt);
      expect(t.server.context.registry.get(a.nodeId)!.gpus).toHaveLength(7);

      // Metrics taken during the cut, as the server holds them.
      const cutPoints = (h: E2eHost) =>
        t.server.context.metrics
          .query(h.nodeId, { since: cutAt, names: ['cpu_pct'] })
          .series[0]!.points.map((p) => p[0])
          .filter((ts) => ts > cutAt && ts < restoreAt);
      // A (ring big enough): every sample of the cut arrived (one at each edge may be lost in flight).
      const aPoints = cutPoints(a);
      expect(aPoints.length).toBeGreaterThanOrEqual(cutSamples[0]!.length - 2);
      expect(Math.max(...aPoints)).toBeGreaterThanOrEqual(cutSamples[0]!.at(-1)! - 50);
      // B (small ring): the newest samples arrived, the oldest were dropped by the agent.
      const bPoints = cutPoints(b);
      expect(bPoints.length).toBeLessThanOrEqual(SMALL_RING);
      expect(bPoints.length).toBeGreaterThanOrEqual(SMALL_RING - 5);
      expect(Math.max(...bPoints)).toBeGreaterThanOrEqual(cutSamples[1]!.at(-1)! - 50);
      // Nothing from the first part of the cut survived the small ring (a few samples of slack for
      // those taken between restore and welcome, which also sat in the ring).
      expect(Math.min(...bPoints)).toBeGreaterThanOrEqual(cutSamples[1]![cutSamples[1]!.length - SMALL_RING - 5]!);
    },
    CUT_MS + 30_000,
  );

  it('an event enqueued while cut off survives an agent restart (on-disk outbox) and arrives once', async () => {
    const { t, proxy, token } = await serverBehindProxy();
    const c = await E2eHost.joinAndStart({ token, hostname: 'e2e-cut-c', model: 'A100' });
    cleanups.add('host c', () => c.dispose());
    await waitFor('agent settled', () => c.settled && status(t, c.nodeId) === 'READY');

    proxy.cut();
    const ids = [c.enqueue('offline-1'), c.enqueue('offline-2'), c.enqueue('offline-3')];
    expect(c.running.outbox.size).toBe(3);
    // The process "restarts" while still cut off: the new agent finds the items on disk.
    await c.stop();
    const again = await c.start();
    expect(again.outbox.size).toBeGreaterThanOrEqual(3);
    expect(
      again.outbox
        .pending()
        .filter((i) => i.t === 'event')
        .map((i) => i.body.id),
    ).toEqual(expect.arrayContaining(ids));
    await sleep(500);
    expect(again.linkState).not.toBe('live');

    proxy.restore();
    await waitFor('restarted agent settled', () => c.settled && status(t, c.nodeId) === 'READY', { timeoutMs: 10_000 });
    const stored = await storedIds(t, c.nodeId);
    for (const id of ids) expect(stored.filter((x) => x === id)).toHaveLength(1);
    expect(duplicates(stored)).toEqual([]);
    expect(await t.server.context.store.listAgentEvents({ nodeId: c.nodeId, kind: 'agent-started' })).toHaveLength(2);
  });
});
