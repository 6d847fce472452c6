import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOSE_CODES, PROTOCOL_VERSION, generateEd25519, type Ed25519KeyPair } from '@gpufleet/protocol';
import { startTestServer, type TestServer } from '../../packages/server/src/testing/test-server.js';
import { enrollTestNode, ProtocolClient } from '../../packages/server/src/testing/protocol-client.js';
import { Cleanups } from './support/cleanups.js';
import { E2eHost } from './support/e2e-host.js';
import { promSumBy } from './support/prometheus-text.js';
import { sleep, waitFor } from './support/wait-for.js';

/*
 * One well-behaved real agent keeps reporting while 20 hostile raw WebSocket clients hit the
 * same server with garbage, in waves, for a few seconds. Each hostile session must be refused
 * and closed with its own reason; the good node must stay READY the whole time.
 * Heartbeat 500 ms x 3 (OFFLINE after 1.5 s of silence) leaves room for a loaded CI machine
 * while still catching a server that stalls its event loop on garbage.
 */
const HEARTBEAT_MS = 500;
const METRICS_MS = 250;
const ATTACK_MS = 3000;
const WAVE_MS = 600;
const MiB = 1024 * 1024;

const cleanups = new Cleanups();
let t: TestServer;
let good: E2eHost;
let rogueKeys: Ed25519KeyPair[];

beforeAll(async () => {
  t = await startTestServer({ heartbeatInterval: `${HEARTBEAT_MS}ms`, offlineAfter: 3, metricsInterval: `${METRICS_MS}ms` });
  cleanups.add('server', () => t.close());
  const token = (await t.api('POST', '/api/v1/join-tokens', { reusable: true })).body.token;
  good = await E2eHost.joinAndStart({ token, hostname: 'e2e-good-01', model: 'A100' });
  cleanups.add('good host', () => good.dispose());
  await waitFor('good agent settled', () => good.settled && t.server.context.metrics.latest(good.nodeId) !== null);
  // Enrolled but hostile nodes: authenticated sessions that then break the seq rules.
  rogueKeys = [await enrollTestNode(t, 'e2e-rogue-1'), await enrollTestNode(t, 'e2e-rogue-2')];
});
afterAll(() => cleanups.run());

interface Outcome {
  name: string;
  code: number;
  errors: string[];
}

/** What a hostile client does after connecting, and how the server must answer. */
interface Hostile {
  name: string;
  codes: number[];
  /** Matched against the error frames the server sent (none expected when undefined). */
  message?: RegExp;
  /** Returns the frames it consumed itself (ProtocolClient.hello takes the answer off the queue). */
  act: (c: ProtocolClient) => Promise<unknown[] | void>;
}

const event = (seq: number) => ({
  t: 'event',
  seq,
  body: { id: `rogue-${seq}-${Math.random()}`, ts: Date.now(), kind: 'kernel-log', gpuUuid: null, pciBusId: null, message: 'rogue', data: {} },
});
const repeat = (c: ProtocolClient, n: number, frame: unknown) => {
  for (let i = 0; i < n; i++) c.send(frame);
};

function hostiles(goodNodeId: string): Hostile[] {
  const list: Hostile[] = [];
  for (let i = 0; i < 3; i++)
    list.push({
      name: `malformed-json-${i}`,
      codes: [CLOSE_CODES.protocolViolation],
      message: /not valid JSON/,
      act: async (c) => repeat(c, 5, `{"t":"heartbeat",${'x'.repeat(i * 100)}`),
    });
  for (let i = 0; i < 2; i++)
    list.push({
      name: `unknown-type-${i}`,
      codes: [CLOSE_CODES.protocolViolation],
      message: /unknown frame type/,
      act: async (c) => repeat(c, 5, { t: `exploit-${i}`, body: {} }),
    });
  list.push({ name: 'not-an-object', codes: [CLOSE_CODES.protocolViolation], message: /unknown frame type/, act: async (c) => repeat(c, 5, '[1,2,3]') });
  list.push({
    name: 'wrong-schema',
    codes: [CLOSE_CODES.protocolViolation],
    message: /does not match its schema/,
    act: async (c) => repeat(c, 5, { t: 'metrics', body: { ts: 'yesterday', host: 42 } }),
  });
  for (let i = 0; i < 2; i++)
    list.push({
      name: `over-1MiB-${i}`,
      codes: [CLOSE_CODES.protocolViolation],
      message: /over the 1048576-byte limit/,
      act: async (c) => repeat(c, 5, JSON.stringify({ t: 'heartbeat', pad: 'x'.repeat(1.5 * MiB) })),
    });
  // Past the socket's own 4 MiB cap: ws aborts the connection (1009, or 1006 when torn down first).
  list.push({ name: 'over-4MiB', codes: [1009, 1006], act: async (c) => c.send('x'.repeat(5 * MiB)) });
  // ProtocolClient.send would JSON-encode a Buffer: the raw socket sends real binary frames.
  const binary = async (c: ProtocolClient) => {
    for (let i = 0; i < 5; i++) c.ws.send(Buffer.from([0xde, 0xad, 0xbe, 0xef]), { binary: true });
  };
  list.push({ name: 'binary', codes: [CLOSE_CODES.protocolViolation], message: /binary frames/, act: binary });
  for (let i = 0; i < 2; i++) {
    list.push({
      name: `before-hello-${i}`,
      codes: [CLOSE_CODES.unauthenticated],
      message: /before a successful hello/,
      act: async (c) => c.send(i === 0 ? { t: 'heartbeat', body: { ts: Date.now() } } : event(1)),
    });
  }
  // Claims the good node's id but signs with another key: must not displace the good session.
  for (let i = 0; i < 3; i++)
    list.push({
      name: `forged-signature-${i}`,
      codes: [CLOSE_CODES.unauthenticated],
      message: /signature does not verify/,
      act: async (c) => [await c.hello(generateEd25519(), { nodeId: goodNodeId })],
    });
  list.push({ name: 'unknown-node', codes: [CLOSE_CODES.unauthenticated], message: /unknown node/, act: async (c) => [await c.hello(generateEd25519())] });
  list.push({
    name: 'old-protocol',
    codes: [CLOSE_CODES.unsupportedVersion],
    message: /protocol version 99 is not supported/,
    act: async (c) => [await c.hello(generateEd25519(), { protocolVersion: 99 })],
  });
  // Authenticated rogues: replayed and out-of-order seqs, a second hello, then closed.
  for (let i = 0; i < 2; i++) {
    list.push({
      name: `rogue-seq-${i}`,
      codes: [CLOSE_CODES.protocolViolation],
      message: /already received|skips ahead|hello was already accepted/,
      act: async (c) => {
        const welcome = await c.hello(rogueKeys[i]!);
        if (welcome.t !== 'welcome') throw new Error(`rogue not welcomed: ${JSON.stringify(welcome)}`);
        const next = welcome.body.ackedSeq + 1;
        c.send(event(next));
        await c.next((f) => f.t === 'ack' && f.body.seq === next);
        c.send(event(next)); // replay
        c.send(event(next + 5)); // gap
        c.send(event(1)); // far replay
        c.send({ t: 'hello', body: { protocolVersion: PROTOCOL_VERSION, nodeId: rogueKeys[i]!.did, agentVersion: 'x', signature: 'AAAA', lastSeq: 0 } });
        c.send(event(next + 9));
      },
    });
  }
  return list;
}

async function attack(h: Hostile): Promise<Outcome> {
  const c = await ProtocolClient.connect(t.url);
  // The server may tear the socket down mid-send; that is the expected outcome, not a test error.
  c.ws.on('error', () => undefined);
  let consumed: unknown[] = [];
  try {
    consumed = (await h.act(c)) ?? [];
  } catch (err) {
    c.ws.terminate();
    throw new Error(`${h.name}: ${(err as Error).message}`);
  }
  const code = await Promise.race([c.closed, sleep(5000).then(() => -1)]);
  if (code === -1) c.ws.terminate();
  const frames = [...consumed, ...c.received] as Array<{ t: string; body: { message?: unknown } }>;
  return { name: h.name, code, errors: frames.filter((f) => f.t === 'error').map((f) => String(f.body.message)) };
}

describe('e2e: hostile peers do not disturb a well-behaved agent', () => {
  it('refuses and closes 20 garbage-sending clients per wave while the real agent stays READY and keeps reporting', async () => {
    const ctx = t.server.context;
    const node = ctx.registry.get(good.nodeId)!;
    const agent = good.running;
    const dialsBefore = agent.linkStats!.dials;
    const scenarios = hostiles(good.nodeId);
    expect(scenarios).toHaveLength(20);

    // Watch the good node's status the whole time, far more often than the sweep runs.
    const seen = new Set<string>();
    const watch = setInterval(() => seen.add(ctx.registry.status(node)), 20);
    cleanups.add('watch', () => clearInterval(watch));
    const started = Date.now();
    let waves = 0;
    const outcomes: Outcome[] = [];
    try {
      while (Date.now() - started < ATTACK_MS) {
        const waveStart = Date.now();
        outcomes.push(...(await Promise.all(scenarios.map(attack))));
        waves++;
        // Waves start at most every WAVE_MS: enough pressure without hogging a 2-core CI machine.
        await sleep(Math.max(0, WAVE_MS - (Date.now() - waveStart)));
      }
    } finally {
      clearInterval(watch);
    }
    const attackMs = Date.now() - started;

    for (const o of outcomes) {
      const h = scenarios.find((s) => s.name === o.name)!;
      expect(h.codes, `${o.name} closed with ${o.code}; errors: ${o.errors.join(' | ')}`).toContain(o.code);
      if (h.message)
        expect(
          o.errors.some((m) => h.message!.test(m)),
          `${o.name} errors: ${o.errors.join(' | ')}`,
        ).toBe(true);
    }
    // The server drops a session when its socket finishes closing, a moment after the client sees the close.
    await waitFor('only the good session left', () => ctx.gateway.sessionCount === 1 && ctx.gateway.hasSession(good.nodeId), { timeoutMs: 3000 });

    // The good agent: never OFFLINE, never kicked off (one dial, one welcome), metrics all along.
    expect([...seen]).toEqual(['READY']);
    expect(agent.linkStats!.dials).toBe(dialsBefore);
    expect(agent.linkStats!.welcomes).toBe(1);
    expect(agent.linkStats!.serverErrors).toBe(0);
    const points = ctx.metrics.query(good.nodeId, { since: started, names: ['cpu_pct'] }).series[0]!.points.filter((p) => p[0] <= started + attackMs);
    // At least half the samples the interval calls for arrived during the attack.
    expect(points.length).toBeGreaterThanOrEqual(Math.floor(attackMs / METRICS_MS / 2));
    expect(ctx.registry.status(node)).toBe('READY');

    // Each refusal is counted by reason on /metrics.
    const refused = promSumBy((await t.api('GET', '/metrics')).text, 'gpufleet_frames_refused_total', 'reason');
    const expectAtLeast: Record<string, number> = {
      malformed_json: 15,
      unknown_type: 15,
      schema: 5,
      too_large: 10,
      binary: 5,
      unauthenticated: 6,
      unsupported_version: 1,
      replayed_seq: 4,
      out_of_order_seq: 4,
      duplicate_hello: 2,
      invalid_argument: 10,
    };
    for (const [reason, n] of Object.entries(expectAtLeast)) expect(refused[reason] ?? 0, `refused ${reason}`).toBeGreaterThanOrEqual(n * waves);

    // The rogues' valid first item per wave was stored; none of their replays or skips were.
    for (const key of rogueKeys) {
      const events = await ctx.store.listAgentEvents({ nodeId: key.did, limit: 1000 });
      expect(events.map((e) => e.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: waves }, (_, i) => i + 1));
    }
  });
});
