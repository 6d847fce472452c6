import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { CLOSE_CODES, replicaOrderFor, type MetricsBody } from '@gpufleet/protocol';
import { FakeControlPlane, type FakeControlPlaneOptions } from '../testing/fake-control-plane.js';
import { StubBackend } from '../testing/stub-backend.js';
import { Agent } from './agent.js';
import { FileStateStore } from './file-state.js';
import { identityFromSeed, type AgentIdentity } from './identity.js';
import { AgentLink, type LinkOptions } from './link.js';
import { createJsonLogger } from './logger.js';
import { MetricsRing } from './metrics-ring.js';
import { Outbox } from './outbox.js';
import { MemoryStateStore } from './state.js';

// Several control-plane replicas, each a real WebSocket server (the fake control plane).
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function replica(options: FakeControlPlaneOptions = {}): Promise<FakeControlPlane> {
  const cp = new FakeControlPlane(options);
  await cp.start();
  cleanups.push(() => cp.stop());
  return cp;
}

/**
 * URLs where nothing listens: ports that were free a moment ago, all held at once so no two are
 * the same. Taken after the live replicas start, so none is theirs either.
 */
async function deadUrls(n: number): Promise<string[]> {
  const probes = Array.from({ length: n }, () => createServer());
  await Promise.all(probes.map((p) => new Promise<void>((r) => p.listen(0, '127.0.0.1', r))));
  const urls = probes.map((p) => `http://127.0.0.1:${(p.address() as AddressInfo).port}`);
  await Promise.all(probes.map((p) => new Promise<void>((r) => p.close(() => r()))));
  return urls;
}

async function deadUrl(): Promise<string> {
  return (await deadUrls(1))[0]!;
}

/** A replica that takes the WebSocket but never says a word (hung, or not a gpufleet server). */
async function silentReplica(): Promise<string> {
  const server = createServer();
  const wss = new WebSocketServer({ server });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close();
        server.close(() => resolve());
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function seeded(n: number): AgentIdentity {
  return identityFromSeed(new Uint8Array(32).fill(100 + n));
}

function makeLink(serverUrls: string[], identity: AgentIdentity, extra: Partial<LinkOptions> = {}) {
  const logs: Record<string, unknown>[] = [];
  const fatal: string[] = [];
  const lists: string[][] = [];
  const link = new AgentLink({
    serverUrls,
    caPem: null,
    identity,
    agentVersion: 'test-1',
    outbox: new Outbox(new MemoryStateStore()),
    metrics: new MetricsRing<MetricsBody>(10),
    // 0.5 of the backoff ceiling: 10, 20, 40... ms with these options.
    random: () => 0.5,
    backoff: { baseMs: 20, capMs: 200 },
    logger: createJsonLogger({ level: 'debug', write: (l) => logs.push(JSON.parse(l) as Record<string, unknown>) }),
    onFatal: (r) => fatal.push(r),
    onServerUrls: (urls) => lists.push(urls),
    ...extra,
  });
  cleanups.push(() => link.stop());
  const retries = () => logs.filter((l) => l.msg === 'disconnected; reconnecting').map((l) => ({ url: l.url, next: l.nextUrl, waitMs: l.retryInMs }));
  const connects = () => logs.filter((l) => l.msg === 'connected to the server').map((l) => l.url);
  return { link, logs, fatal, lists, retries, connects };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitUntil(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

describe('AgentLink with several server URLs', () => {
  it('moves past a replica that does not answer to one that does', async () => {
    const live = await replica();
    const dead = await deadUrl();
    const id = seeded(1);
    live.addNode(id.did);
    const h = makeLink([dead, live.url], id);
    expect(h.link.currentUrl).toBe(dead);
    h.link.start();
    await waitUntil('the welcome', () => h.link.state === 'live');
    expect(h.link.currentUrl).toBe(live.url);
    expect(h.retries()).toEqual([{ url: dead, next: live.url, waitMs: 10 }]);
    expect(h.connects()).toEqual([live.url]);
    expect(h.link.stats.dials).toBe(2);
    expect(h.fatal).toEqual([]);
  });

  it('moves past a replica that takes the socket but never welcomes', async () => {
    const silent = await silentReplica();
    const live = await replica();
    const id = seeded(2);
    live.addNode(id.did);
    const h = makeLink([silent, live.url], id, { handshakeTimeoutMs: 100 });
    h.link.start();
    await waitUntil('the welcome', () => h.link.state === 'live');
    expect(h.connects()).toEqual([live.url]);
    expect(h.logs.find((l) => l.msg === 'no welcome from the server in time; reconnecting')?.url).toBe(silent);
  });

  it('when its replica dies, tries it once more, then moves to the next live one and sticks there', async () => {
    const a = await replica();
    const b = await replica();
    const id = seeded(3);
    a.addNode(id.did);
    const onB = b.addNode(id.did);
    const h = makeLink([a.url, b.url], id);
    h.link.start();
    await waitUntil('the welcome from a', () => h.link.state === 'live');
    expect(h.link.currentUrl).toBe(a.url);

    await a.stop();
    await waitUntil('the welcome from b', () => onB.welcomes === 1 && h.link.state === 'live');
    expect(h.link.currentUrl).toBe(b.url);
    // The live session's drop retries a first, soon (backoff reset by the welcome); a refuses, so on to b.
    expect(h.retries()).toEqual([
      { url: a.url, next: a.url, waitMs: 10 },
      { url: a.url, next: b.url, waitMs: 20 },
    ]);
    expect(h.connects()).toEqual([a.url, b.url]);

    // Sticky: a drop from b retries b, and the welcome reset the backoff again.
    b.kick(id.did, CLOSE_CODES.goingAway, 'restart');
    await waitUntil('the second welcome from b', () => onB.welcomes === 2 && h.link.state === 'live');
    expect(h.retries().at(-1)).toEqual({ url: b.url, next: b.url, waitMs: 10 });
    expect(h.connects()).toEqual([a.url, b.url, b.url]);
  });

  it('wraps around the list while no replica answers, backing off every attempt', async () => {
    const [x, y] = (await deadUrls(2)) as [string, string];
    const h = makeLink([x, y], seeded(4), { random: () => 0.999, backoff: { baseMs: 10, capMs: 40 } });
    h.link.start();
    await waitUntil('five retries', () => h.retries().length >= 5);
    expect(h.retries().slice(0, 5)).toEqual([
      { url: x, next: y, waitMs: 9 },
      { url: y, next: x, waitMs: 19 },
      { url: x, next: y, waitMs: 39 },
      { url: y, next: x, waitMs: 39 },
      { url: x, next: y, waitMs: 39 },
    ]);
    expect(h.link.state).not.toBe('failed');
  });

  it('stops for good when a replica refuses the node, without asking the others', async () => {
    const a = await replica();
    const b = await replica();
    const id = seeded(5);
    b.addNode(id.did);
    // a does not know the node: "unknown node", a refusal for good, as with one server.
    const h = makeLink([a.url, b.url], id);
    h.link.start();
    await waitUntil('the failure', () => h.link.state === 'failed');
    expect(h.fatal).toEqual(['unauthenticated: unknown node: join the fleet first']);
    await sleep(100);
    expect(b.connections).toBe(0);
  });

  it('takes the replica list a welcome carries, keeping the replica in use first', async () => {
    const a = await replica();
    const b = await replica();
    const c = await replica();
    const id = seeded(6);
    for (const cp of [a, b, c]) cp.addNode(id.did);
    a.serverUrls = [c.url, a.url, b.url];
    const h = makeLink([a.url], id);
    h.link.start();
    await waitUntil('the list', () => h.lists.length === 1);
    expect(h.lists[0]).toEqual([a.url, c.url, b.url]);
    expect(h.link.serverUrls).toEqual([a.url, c.url, b.url]);

    // The same list again changes nothing and is not reported again.
    a.kick(id.did, CLOSE_CODES.goingAway);
    await waitUntil('the second welcome', () => a.nodes.get(id.did)!.welcomes === 2 && h.link.state === 'live');
    expect(h.lists).toHaveLength(1);

    // a now lists only the others: the session stays, and the next dial goes to the list's first.
    a.serverUrls = [b.url, c.url];
    a.kick(id.did, CLOSE_CODES.goingAway);
    await waitUntil('the third welcome', () => a.nodes.get(id.did)!.welcomes === 3 && h.link.state === 'live');
    expect(h.lists.at(-1)).toEqual([b.url, c.url]);
    expect(h.link.currentUrl).toBe(a.url);
    a.kick(id.did, CLOSE_CODES.goingAway);
    await waitUntil('the welcome from b', () => b.nodes.get(id.did)!.welcomes === 1 && h.link.state === 'live');
    expect(h.link.currentUrl).toBe(b.url);
    expect(h.retries().at(-1)).toMatchObject({ url: a.url, next: b.url });
  });

  it('leaves the list alone when the server sends none (an older server)', async () => {
    const a = await replica();
    const id = seeded(7);
    a.addNode(id.did);
    const h = makeLink([a.url, await deadUrl()], id);
    h.link.start();
    await waitUntil('the welcome', () => h.link.state === 'live');
    expect(h.lists).toEqual([]);
    expect(h.link.serverUrls).toHaveLength(2);
  });
});

describe('Agent with several server URLs', () => {
  it('dials the replicas its node config lists and keeps the list a welcome sends for the next start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gf-failover-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const live = await replica();
    const dead = await deadUrl();
    const identity = seeded(8);
    live.addNode(identity.did);
    live.serverUrls = [dead, live.url, 'http://127.0.0.1:9'];
    const state = new FileStateStore(dir);
    state.saveConfig({ nodeId: identity.did, serverUrl: dead, serverUrls: [dead, live.url], caPem: null, roots: [], heartbeatMs: 1000, labels: {} });
    const agent = new Agent({ state, identity, backend: new StubBackend(1), agentVersion: '1', random: () => 0.5, backoff: { baseMs: 20, capMs: 100 } });
    cleanups.push(async () => void (await agent.stop()));
    await agent.start();
    await waitUntil('the welcome', () => agent.linkState === 'live');
    await waitUntil('the saved list', () => new FileStateStore(dir).loadConfig()?.serverUrls?.length === 3);
    const saved = new FileStateStore(dir).loadConfig()!;
    expect(saved.serverUrls).toEqual([live.url, dead, 'http://127.0.0.1:9']);
    // The join URL stays what it was: older agents reading this file still find a server.
    expect(saved.serverUrl).toBe(dead);
  });
});

describe('Agents joined with one token listing several replicas', () => {
  it('each dial its own first choice (rendezvous order of node id and URL), so they spread over the replicas', async () => {
    const a = await replica();
    const b = await replica();
    const urls = [a.url, b.url];
    const agents: Agent[] = [];
    for (let n = 0; n < 8; n++) {
      const dir = mkdtempSync(join(tmpdir(), 'gf-spread-'));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      const identity = seeded(20 + n);
      a.addNode(identity.did);
      b.addNode(identity.did);
      const state = new FileStateStore(dir);
      // As the token gave them: a's URL first for every agent.
      state.saveConfig({ nodeId: identity.did, serverUrl: a.url, serverUrls: urls, caPem: null, roots: [], heartbeatMs: 1000, labels: {} });
      const agent = new Agent({ state, identity, backend: new StubBackend(1), agentVersion: '1', random: () => 0.5, backoff: { baseMs: 20, capMs: 100 } });
      cleanups.push(async () => void (await agent.stop()));
      await agent.start();
      agents.push(agent);
    }
    await waitUntil('every agent welcomed', () => agents.every((x) => x.linkState === 'live'));
    for (const agent of agents) {
      const first = replicaOrderFor(agent.nodeId, urls)[0];
      expect((first === a.url ? a : b).sessions.has(agent.nodeId), agent.nodeId).toBe(true);
    }
    // Seeds 20..27 prefer both replicas (checked by the order itself, not assumed).
    expect(a.sessions.size).toBeGreaterThan(0);
    expect(b.sessions.size).toBeGreaterThan(0);
  });
});
