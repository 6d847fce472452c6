import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FleetStreamBatch, NodeDelta, type NodeView } from '@gpufleet/protocol';
import type { HubEvent } from '../events/event-hub.js';
import { makeNode } from '../alerts/__tests__/alert-fixtures.js';
import { ManualClock, startTestServer, type TestServer } from '../testing/test-server.js';
import { SseReader } from '../testing/sse-reader.js';
import { feedChangeOf, FleetFeed } from './fleet-feed.js';
import { nodeDeltaOf } from './node-delta.js';
import { resolveSseLimits, SseStream, type SseLimits } from './sse-stream.js';

describe('feedChangeOf', () => {
  const node = (change: Extract<HubEvent, { type: 'node' }>['change']): HubEvent => ({ type: 'node', nodeId: 'n', change });
  it.each<[string, HubEvent, string]>([
    ['metrics', { type: 'metrics', nodeId: 'n', ts: 1 }, 'delta'],
    ['an agent event', { type: 'agent-event', nodeId: 'n', event: {} as never }, 'delta'],
    ['a status change (who and why come with it)', node('status'), 'full'],
    ['a label change', node('labels'), 'full'],
    ['an inventory', node('inventory'), 'full'],
    ['an enrolment', node('enrolled'), 'full'],
    ['a removal', node('removed'), 'removed'],
    ['a health finding', { type: 'health', nodeId: 'n', gpuKey: null, verdict: 'degraded', previous: 'healthy', rule: 'r', cause: 'c' }, 'full'],
    ['run progress', { type: 'run', runId: 'r', change: 'created', state: 'running' }, 'none'],
  ])('%s -> %s', (_what, e, kind) => {
    expect(feedChangeOf(e)).toBe(kind);
  });
});

let t: TestServer;
const NODES = 60;
const ids = Array.from({ length: NODES }, (_, i) => `did:key:z6MkFeed${String(i).padStart(4, '0')}`);

beforeAll(async () => {
  t = await startTestServer();
  // Big views (long disk lists), so a batch of every node is about a megabyte.
  const disks = Array.from({ length: 120 }, (_, d) => ({
    device: `/dev/nvme${d}n1`,
    mount: `/mnt/scratch/volume-${d}/with/a/long/path`,
    fsType: 'xfs',
    totalBytes: 4e12,
    usedBytes: 1e12,
  }));
  for (const [i, id] of ids.entries()) {
    const n = makeNode(id, { hostname: `feed-${i}`, gpus: 8 });
    await t.server.context.registry.add({ ...n, facts: { ...n.facts, disks } });
  }
});
afterAll(async () => {
  await t?.close();
});

describe('nodeDeltaOf', () => {
  it('says what the view says about readings, liveness, states and verdicts, and nothing else', async () => {
    const ctx = t.server.context;
    await ctx.registry.states.gpu(ids[0]!, ctx.registry.get(ids[0]!)!.gpus[1]!.uuid!, 'cordon', 'tester', 'fan noise');
    const v = ctx.views.view(ctx.registry.get(ids[0]!)!);
    const d = NodeDelta.parse(nodeDeltaOf(v, 1234));
    expect(d).toMatchObject({ id: v.id, status: v.status, connected: v.connected, lastSeenAt: v.lastSeenAt, sampledAt: 1234, host: null });
    expect(d.gpus.map((g) => g.index)).toEqual(v.gpus.map((g) => g.index));
    expect(d.gpus[1]!.state).toBe('CORDONED');
    expect(d.gpus[0]!.state).toBeUndefined();
    // Never connected: no readings, and verdicts that say why (plainly healthy ones are left out).
    expect(d.gpus.every((g) => g.readings === null)).toBe(true);
    expect(d.gpus[0]!.health).toEqual(v.gpus[0]!.health);
    expect(JSON.stringify(d)).not.toContain('nvme');
  });
});

/** A FleetFeed over the test server's registry and hub, writing to a stream of our own HTTP server. */
async function feedOn(limits: Partial<SseLimits>, clock: ManualClock): Promise<{ feed: FleetFeed; stream: SseStream; reader: SseReader; server: Server }> {
  let made: ((v: { feed: FleetFeed; stream: SseStream }) => void) | null = null;
  const ready = new Promise<{ feed: FleetFeed; stream: SseStream }>((r) => (made = r));
  const ctx = t.server.context;
  const server = createServer((_req, res) => {
    const stream = new SseStream(res, resolveSseLimits(limits), 'latest-state');
    const feed = new FleetFeed({ hub: ctx.hub, registry: ctx.registry, views: ctx.views, metrics: ctx.metrics, clock }, stream, 50);
    feed.start();
    made!({ feed, stream });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const reader = await SseReader.open(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, '/', null, 30_000);
  return { ...(await ready), reader, server };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const labelled = (value: string) => {
  for (const id of ids) t.server.context.hub.publish({ type: 'node', nodeId: id, change: 'labels' });
  return value;
};

describe('FleetFeed with a stalled reader', () => {
  it('stops writing past the soft limit, keeps only the latest state, writes it once drained, and closes a reader that stays behind', async () => {
    const softLimitBytes = 256 * 1024;
    const clock = new ManualClock();
    const { feed, stream, reader, server } = await feedOn({ softLimitBytes, stallTimeoutMs: 60_000, closeGraceMs: 100 }, clock);
    const registry = t.server.context.registry;
    const batchBytes = JSON.stringify({ items: ids.map((id) => t.server.context.views.view(registry.get(id)!)), deltas: [], removed: [] }).length + 64;
    await reader.next((e) => e.event === 'hello');
    reader.pause();

    // Every node changes again and again while the reader takes nothing.
    let maxBuffered = 0;
    let maxPending = 0;
    const written = feed.counts.batches;
    while (feed.counts.skipped < 10) {
      labelled('churn');
      maxPending = Math.max(maxPending, feed.pending);
      maxBuffered = Math.max(maxBuffered, stream.buffered);
      await sleep(10);
    }
    // Written up to the soft limit and one batch past it, then nothing more; what waits is one per node.
    expect(maxBuffered).toBeGreaterThan(softLimitBytes);
    expect(maxBuffered).toBeLessThanOrEqual(softLimitBytes + batchBytes);
    expect(maxPending).toBeLessThanOrEqual(NODES);
    const writtenWhileBehind = feed.counts.batches - written;

    // The last change made while behind is what the reader gets once it reads again.
    await registry.setUserLabels(ids[7]!, { marker: 'latest' }, []);
    reader.resume();
    const withMarker = await reader.next((e) => e.event === 'nodes' && e.data.items.some((v: NodeView) => v.id === ids[7] && v.userLabels.marker === 'latest'));
    expect(FleetStreamBatch.parse(withMarker.data).items).toHaveLength(NODES);
    // No backlog: the reader got a batch per tick it could take, not one per tick it missed.
    expect(reader.events.filter((e) => e.event === 'nodes').length).toBeLessThan(writtenWhileBehind + 10);

    // Behind again, and for longer than the stall timeout: closed, and the connection let go.
    reader.pause();
    while (stream.buffered <= softLimitBytes) {
      labelled('churn');
      await sleep(20);
    }
    const listeners = t.server.context.hub.size;
    const behindFrom = clock.now();
    while (stream.isOpen) {
      labelled('churn');
      clock.advance(5_000);
      await sleep(20);
    }
    expect(clock.now() - behindFrom).toBeGreaterThanOrEqual(60_000);
    expect(t.server.context.hub.size).toBe(listeners - 1);
    while (await new Promise<number>((r) => server.getConnections((_e, n) => r(n)))) await sleep(20);
    reader.close();
    server.close();
  });
});
