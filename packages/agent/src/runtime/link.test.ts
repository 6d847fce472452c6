import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { CLOSE_CODES, PROTOCOL_VERSION, type AgentEvent, type MetricsBody } from '@gpufleet/protocol';
import { FakeControlPlane, type FakeControlPlaneOptions } from '../testing/fake-control-plane.js';
import { makeSelfSignedCert } from '../testing/self-signed.js';
import { identityFromSeed, type AgentIdentity } from './identity.js';
import { AgentLink, agentSocketUrl, backoffDelay, type LinkOptions, type RemoteOpFrame } from './link.js';
import { createJsonLogger } from './logger.js';
import { MetricsRing } from './metrics-ring.js';
import { Outbox } from './outbox.js';
import { MemoryStateStore } from './state.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function plane(options: FakeControlPlaneOptions = {}): Promise<FakeControlPlane> {
  const cp = new FakeControlPlane(options);
  await cp.start();
  cleanups.push(() => cp.stop());
  return cp;
}

function seeded(n: number): AgentIdentity {
  return identityFromSeed(new Uint8Array(32).fill(n));
}

function event(n: number): { t: 'event'; body: AgentEvent } {
  return { t: 'event', body: { id: `e${n}`, ts: 1_700_000_000_000 + n, kind: 'kernel-log', gpuUuid: null, pciBusId: null, message: `event ${n}`, data: {} } };
}

function metrics(ts: number): MetricsBody {
  return { ts, host: { cpuPct: 1, load1: 0, load5: 0, load15: 0, memoryUsedBytes: 1, memoryTotalBytes: 2, disks: [], net: [] }, gpus: [] };
}

interface Harness {
  link: AgentLink;
  outbox: Outbox;
  ring: MetricsRing<MetricsBody>;
  fatal: string[];
  logs: Record<string, unknown>[];
}

function makeLink(serverUrl: string, identity: AgentIdentity, extra: Partial<LinkOptions> = {}): Harness {
  const outbox = new Outbox(new MemoryStateStore());
  const ring = new MetricsRing<MetricsBody>(10);
  const fatal: string[] = [];
  const logs: Record<string, unknown>[] = [];
  const link = new AgentLink({
    serverUrls: [serverUrl],
    caPem: null,
    identity,
    agentVersion: 'test-1',
    outbox,
    metrics: ring,
    random: () => 0.5,
    backoff: { baseMs: 20, capMs: 200 },
    logger: createJsonLogger({ level: 'debug', write: (l) => logs.push(JSON.parse(l) as Record<string, unknown>) }),
    onFatal: (r) => fatal.push(r),
    ...extra,
  });
  cleanups.push(() => link.stop());
  return { link, outbox, ring, fatal, logs };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('backoffDelay', () => {
  it('is full jitter under an exponential ceiling capped at 30 s', () => {
    expect(backoffDelay(0, () => 0.999)).toBe(499);
    expect(backoffDelay(3, () => 0.999)).toBe(3996);
    expect(backoffDelay(10, () => 0.999)).toBe(29_970);
    expect(backoffDelay(500, () => 0.999)).toBe(29_970);
    expect(backoffDelay(5, () => 0)).toBe(0);
    expect(backoffDelay(2, () => 0.5, 100, 1000)).toBe(200);
  });
});

describe('agentSocketUrl', () => {
  it('maps http to ws and https to wss, keeping a path prefix', () => {
    expect(agentSocketUrl('http://127.0.0.1:8080')).toBe('ws://127.0.0.1:8080/v1/agent');
    expect(agentSocketUrl('https://fleet.example/gpufleet/')).toBe('wss://fleet.example/gpufleet/v1/agent');
  });
});

describe('AgentLink session', () => {
  it('answers the challenge with a hello the server can verify, then heartbeats', async () => {
    const cp = await plane({ heartbeatMs: 30 });
    const id = seeded(1);
    cp.addNode(id.did);
    const h = makeLink(cp.url, id);
    h.outbox.append(event(1));
    h.link.start();
    await cp.waitFor('welcome', () => h.link.state === 'live');
    const node = cp.nodes.get(id.did)!;
    expect(node.hellos).toEqual([{ lastSeq: 1, agentVersion: 'test-1' }]);
    await cp.waitFor('two heartbeats', () => node.heartbeats >= 2);
    await cp.waitFor('ack of the event', () => h.outbox.size === 0);
    expect(node.events.map((e) => e.seq)).toEqual([1]);
    expect(cp.violations).toEqual([]);
  });

  it('replays unacknowledged items after a reconnect and drops the acknowledged ones', async () => {
    const cp = await plane({ autoAck: false });
    const id = seeded(2);
    cp.addNode(id.did);
    const h = makeLink(cp.url, id);
    for (let i = 1; i <= 3; i++) h.outbox.append(event(i));
    h.link.start();
    const node = cp.nodes.get(id.did)!;
    await cp.waitFor('three events', () => node.events.length === 3);
    cp.ack(id.did, 2);
    await cp.waitFor('ack 2 applied', () => h.outbox.ackedSeq === 2);
    cp.kick(id.did, CLOSE_CODES.goingAway, 'server restart');
    await cp.waitFor('disconnect', () => h.link.state !== 'live');
    // Enqueued while offline: sent after the replay, in seq order.
    const four = h.outbox.append(event(4))!;
    h.link.offer(four);
    await cp.waitFor('second welcome', () => node.welcomes === 2 && node.events.length === 5);
    expect(node.events.map((e) => e.seq)).toEqual([1, 2, 3, 3, 4]);
    expect(cp.violations).toEqual([]);
    expect(h.link.stats.dials).toBe(2);
  });

  it('drops what the welcome says is stored before replaying', async () => {
    const cp = await plane({ autoAck: false });
    const id = seeded(3);
    const node = cp.addNode(id.did);
    node.ackedSeq = 2; // e.g. acks lost in flight before a crash
    const h = makeLink(cp.url, id);
    for (let i = 1; i <= 3; i++) h.outbox.append(event(i));
    h.link.start();
    await cp.waitFor('event 3', () => node.events.length === 1);
    expect(node.events[0]!.seq).toBe(3);
    expect(h.outbox.pending().map((i) => i.seq)).toEqual([3]);
  });

  it('buffers metrics while offline and sends them after the outbox replay, oldest first', async () => {
    const cp = await plane({ autoAck: false });
    const id = seeded(4);
    const node = cp.addNode(id.did);
    const h = makeLink(cp.url, id);
    h.link.sendMetrics(metrics(1));
    h.link.sendMetrics(metrics(2));
    h.outbox.append(event(1));
    expect(h.ring.size).toBe(2);
    h.link.start();
    await cp.waitFor('metrics', () => node.metrics.length === 2);
    expect(node.metrics.map((m) => m.ts)).toEqual([1, 2]);
    const order = cp.frames.filter((f) => f.t !== 'heartbeat').map((f) => f.t);
    expect(order).toEqual(['hello', 'event', 'metrics', 'metrics']);
    h.link.sendMetrics(metrics(3));
    await cp.waitFor('live metrics', () => node.metrics.length === 3);
    expect(h.ring.size).toBe(0);
  });

  it('reconnects with backoff after the server closes the session', async () => {
    const cp = await plane();
    const id = seeded(5);
    const node = cp.addNode(id.did);
    const h = makeLink(cp.url, id, { random: () => 0.999, backoff: { baseMs: 100, capMs: 1000 } });
    h.link.start();
    await cp.waitFor('welcome', () => node.welcomes === 1);
    const kickedAt = Date.now();
    cp.kick(id.did, CLOSE_CODES.goingAway);
    await cp.waitFor('reconnect', () => node.welcomes === 2);
    // First retry waits random * base = ~100 ms (the backoff reset after the welcome).
    expect(Date.now() - kickedAt).toBeGreaterThanOrEqual(90);
    expect(h.logs.find((l) => l.msg === 'disconnected; reconnecting')).toMatchObject({ code: 1001, retryInMs: 99 });
  });

  it('backs off exponentially while the server is unreachable', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const h = makeLink(`http://127.0.0.1:${port}`, seeded(6), { random: () => 0.999, backoff: { baseMs: 10, capMs: 40 } });
    h.link.start();
    const waits = () => h.logs.filter((l) => l.msg === 'disconnected; reconnecting').map((l) => l.retryInMs);
    await new Promise<void>((resolve, reject) => {
      const until = Date.now() + 5000;
      const poll = () => (waits().length >= 5 ? resolve() : Date.now() > until ? reject(new Error('no retries')) : setTimeout(poll, 5));
      poll();
    });
    expect(waits().slice(0, 5)).toEqual([9, 19, 39, 39, 39]);
    expect(h.link.state).not.toBe('failed');
    expect(h.fatal).toEqual([]);
  });

  it('stops retrying for good when the server refuses the node with 4401', async () => {
    const cp = await plane();
    const id = seeded(7);
    cp.addNode(id.did).refuse = { code: CLOSE_CODES.unauthenticated, message: 'node key revoked' };
    const h = makeLink(cp.url, id);
    h.link.start();
    await cp.waitFor('failure', () => h.link.state === 'failed');
    expect(h.fatal).toEqual(['unauthenticated: node key revoked']);
    expect(h.link.failure).toBe('unauthenticated: node key revoked');
    await sleep(150);
    expect(cp.connections).toBe(1);
    expect(h.logs.some((l) => l.level === 'error' && String(l.msg).includes('not retrying'))).toBe(true);
  });

  it('stops retrying on a bare 4403 close (node removed) too', async () => {
    const cp = await plane();
    const id = seeded(8);
    cp.addNode(id.did);
    const h = makeLink(cp.url, id);
    h.link.start();
    await cp.waitFor('welcome', () => h.link.state === 'live');
    cp.kick(id.did, CLOSE_CODES.forbidden, 'node removed');
    await cp.waitFor('failure', () => h.link.state === 'failed');
    expect(h.fatal[0]).toMatch(/4403 \(node removed\)/);
    await sleep(100);
    expect(cp.connections).toBe(1);
  });

  it('ignores frames it cannot read and logs non-fatal errors, staying connected', async () => {
    const cp = await plane();
    const id = seeded(9);
    cp.addNode(id.did);
    const configs: number[] = [];
    const h = makeLink(cp.url, id, { onConfig: (c) => configs.push(c.metricsIntervalMs) });
    h.link.start();
    await cp.waitFor('welcome', () => h.link.state === 'live');
    cp.sendTo(id.did, { t: 'launch-missiles', body: {} });
    cp.sendTo(id.did, { t: 'ack', body: { seq: 'all' } });
    cp.sessions.get(id.did)!.send('not json {');
    cp.sendTo(id.did, { t: 'error', body: { code: 'invalid_argument', message: 'seq 9 skips ahead', fatal: false, seq: 9 } });
    cp.sendTo(id.did, { t: 'config', body: { metricsIntervalMs: 2500 } });
    await cp.waitFor('config', () => configs.length === 1);
    expect(configs).toEqual([2500]);
    expect(h.link.stats.badFrames).toBe(3);
    expect(h.link.state).toBe('live');
    expect(h.logs.find((l) => l.msg === 'the server reported a problem')).toMatchObject({ code: 'invalid_argument', message: 'seq 9 skips ahead', seq: 9 });
  });

  it('closes with 1000 on stop and does not reconnect', async () => {
    const cp = await plane();
    const id = seeded(10);
    cp.addNode(id.did);
    const h = makeLink(cp.url, id);
    h.link.start();
    await cp.waitFor('welcome', () => h.link.state === 'live');
    await h.link.stop();
    await cp.waitFor('close seen', () => cp.closes.length === 1);
    expect(cp.closes[0]).toEqual({ nodeId: id.did, code: 1000 });
    await sleep(80);
    expect(cp.connections).toBe(1);
  });

  it('speaks wss trusting only the pinned CA', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gf-link-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const tls = makeSelfSignedCert(dir, 'server');
    const other = makeSelfSignedCert(dir, 'other');
    const cp = await plane({ tls: { ...tls, ca: tls.cert } });
    const id = seeded(11);
    cp.addNode(id.did);
    const good = makeLink(cp.url, id, { caPem: tls.cert });
    good.link.start();
    await cp.waitFor('wss welcome', () => good.link.state === 'live');
    await good.link.stop();

    const bad = makeLink(cp.url, id, { caPem: other.cert });
    bad.link.start();
    await cp.waitFor('a failed dial', () => bad.logs.some((l) => l.msg === 'disconnected; reconnecting'));
    expect(bad.logs.find((l) => l.msg === 'connection error')?.err).toMatch(/self[- ]signed|unable to verify|certificate/i);
    expect(cp.nodes.get(id.did)!.welcomes).toBe(1);
  });

  it('hands command, cancel and trust frames to the agent on a live session, and malformed commands as such', async () => {
    const cp = await plane();
    const id = seeded(12);
    cp.addNode(id.did);
    const ops: RemoteOpFrame[] = [];
    const malformed: { raw: unknown; why: string }[] = [];
    const h = makeLink(cp.url, id, { onRemoteOp: (f) => ops.push(f), onMalformedCommand: (raw, why) => malformed.push({ raw, why }) });
    h.link.start();
    await cp.waitFor('welcome', () => h.link.state === 'live');
    cp.sendTo(id.did, { t: 'cancel', body: { runId: 'run-1' } });
    cp.sendTo(id.did, { t: 'trust', body: { roots: [], revocations: [] } });
    cp.sendTo(id.did, { t: 'command', body: { command: { payload: { runId: 'run-2' }, sig: 'x' }, scriptContent: null, scriptSignature: null } });
    cp.sendTo(id.did, { t: 'cancel', body: { runId: 42 } });
    await cp.waitFor('frames', () => ops.length === 2 && malformed.length === 1);
    await sleep(50);
    expect(ops).toEqual([
      { t: 'cancel', body: { runId: 'run-1' } },
      { t: 'trust', body: { roots: [], revocations: [] } },
    ]);
    expect((malformed[0]!.raw as { body: { command: { payload: { runId: string } } } }).body.command.payload.runId).toBe('run-2');
    expect(malformed[0]!.why).toMatch(/body\.command\.payload/);
    // A malformed cancel is only counted and logged.
    expect(h.link.stats.badFrames).toBe(2);
  });

  it('does not hand over remote-operation frames before the welcome', async () => {
    const server = createServer();
    const wss = new WebSocketServer({ server });
    wss.on('connection', (ws) => {
      ws.send(JSON.stringify({ t: 'challenge', body: { nonce: 'n', serverTime: 1, protocolVersions: [PROTOCOL_VERSION] } }));
      ws.send(JSON.stringify({ t: 'cancel', body: { runId: 'run-1' } }));
      ws.send(JSON.stringify({ t: 'command', body: { command: null, scriptContent: null, scriptSignature: null } }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          for (const c of wss.clients) c.terminate();
          wss.close();
          server.close(() => resolve());
        }),
    );
    const ops: unknown[] = [];
    const h = makeLink(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, seeded(13), {
      onRemoteOp: (f) => ops.push(f),
      onMalformedCommand: (raw) => ops.push(raw),
    });
    h.link.start();
    await waitUntil(() => h.logs.some((l) => l.msg === 'ignoring a remote-operation frame before the welcome'));
    await sleep(50);
    expect(ops).toEqual([]);
    expect(h.link.state).toBe('handshaking');
  });
});

async function waitUntil(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error('timed out');
    await sleep(5);
  }
}
