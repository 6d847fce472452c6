import { afterEach, describe, expect, it } from 'vitest';
import { FakeControlPlane } from '../testing/fake-control-plane.js';
import { StubBackend } from '../testing/stub-backend.js';
import { Agent } from './agent.js';
import { identityFromSeed } from './identity.js';
import { checkIntervalBounds, clampServerInterval, DEFAULT_SERVER_INTERVAL_BOUNDS } from './interval-bounds.js';
import { createJsonLogger } from './logger.js';
import { MemoryStateStore } from './state.js';

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** An agent with the default bounds against a fake control plane that asks for 1 ms intervals. */
async function greedyServer() {
  const cp = new FakeControlPlane({ heartbeatMs: 1, metricsIntervalMs: 1 });
  await cp.start();
  cleanups.push(() => cp.stop());
  const identity = identityFromSeed(new Uint8Array(32).fill(77));
  const node = cp.addNode(identity.did);
  const state = new MemoryStateStore({ nodeId: identity.did, serverUrl: cp.url, caPem: null, roots: [], heartbeatMs: 1, labels: {} });
  const logs: Record<string, unknown>[] = [];
  const backend = new StubBackend(1);
  const agent = new Agent({
    state,
    identity,
    backend,
    agentVersion: '1',
    random: () => 0.5,
    backoff: { baseMs: 20, capMs: 100 },
    logger: createJsonLogger({ level: 'debug', write: (l) => logs.push(JSON.parse(l) as Record<string, unknown>) }),
  });
  cleanups.push(() => agent.stop());
  await agent.start();
  await cp.waitFor('welcome', () => node.welcomes === 1);
  await cp.waitFor('welcome applied', () => agent.metricsIntervalMs !== 10_000);
  const clampWarnings = (what: string) => logs.filter((l) => l.level === 'warn' && String(l.msg).includes(`a ${what} interval outside`));
  return { cp, node, agent, backend, clampWarnings };
}

describe('intervals the server pushes are clamped', () => {
  it('samples no faster than 1 s and beats no faster than 1 s when the server asks for 1 ms, and warns', async () => {
    const { node, agent, backend, clampWarnings } = await greedyServer();
    const collectionsAtWelcome = backend.calls.hostSample;
    expect(agent.metricsIntervalMs).toBe(1000);
    await sleep(1500);
    // At 1 ms these would be in the hundreds.
    expect(backend.calls.hostSample - collectionsAtWelcome).toBeLessThanOrEqual(3);
    expect(node.heartbeats).toBeLessThanOrEqual(3);
    expect(node.metrics.length).toBeLessThanOrEqual(4);
    expect(clampWarnings('metrics')[0]).toMatchObject({ requestedMs: 1, usedMs: 1000, minMs: 1000 });
    expect(clampWarnings('heartbeat')[0]).toMatchObject({ requestedMs: 1, usedMs: 1000 });
  });

  it('clamps a config frame too, at both ends, and follows one inside the bounds without a warning', async () => {
    const { cp, node, agent, clampWarnings } = await greedyServer();
    const warned = clampWarnings('metrics').length;
    cp.sendTo(node.nodeId, { t: 'config', body: { metricsIntervalMs: 1 } });
    await cp.waitFor('clamp warning', () => clampWarnings('metrics').length === warned + 1);
    expect(agent.metricsIntervalMs).toBe(1000);
    cp.sendTo(node.nodeId, { t: 'config', body: { metricsIntervalMs: 10 * 86_400_000 } });
    await cp.waitFor('clamped to the maximum', () => agent.metricsIntervalMs === 600_000);
    expect(clampWarnings('metrics').at(-1)).toMatchObject({ requestedMs: 864_000_000, usedMs: 600_000 });
    cp.sendTo(node.nodeId, { t: 'config', body: { metricsIntervalMs: 2500 } });
    await cp.waitFor('followed', () => agent.metricsIntervalMs === 2500);
    expect(clampWarnings('metrics')).toHaveLength(warned + 2);
  });
});

describe('clampServerInterval and checkIntervalBounds', () => {
  const logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

  it('holds garbage to the bounds', () => {
    const b = DEFAULT_SERVER_INTERVAL_BOUNDS.metrics;
    expect(clampServerInterval('metrics', Number.NaN, b, logger)).toBe(b.maxMs);
    expect(clampServerInterval('metrics', Number.POSITIVE_INFINITY, b, logger)).toBe(b.maxMs);
    expect(clampServerInterval('metrics', -5, b, logger)).toBe(b.minMs);
    expect(clampServerInterval('metrics', 0, b, logger)).toBe(b.minMs);
    expect(clampServerInterval('metrics', 10_000, b, logger)).toBe(10_000);
  });

  it('refuses bounds that make no sense', () => {
    expect(() => checkIntervalBounds({ metrics: { minMs: 0, maxMs: 10 }, heartbeat: { minMs: 1, maxMs: 2 } })).toThrow(/metrics interval bounds/);
    expect(() => checkIntervalBounds({ metrics: { minMs: 5, maxMs: 4 }, heartbeat: { minMs: 1, maxMs: 2 } })).toThrow(/metrics/);
    expect(() => checkIntervalBounds({ metrics: { minMs: 1, maxMs: 4 }, heartbeat: { minMs: 1.5, maxMs: 2 } })).toThrow(/heartbeat/);
    expect(
      () =>
        new Agent({
          state: new MemoryStateStore(),
          identity: identityFromSeed(new Uint8Array(32)),
          backend: new StubBackend(),
          agentVersion: '1',
          serverIntervalBounds: { metrics: { minMs: 0, maxMs: 1 }, heartbeat: { minMs: 1, maxMs: 1 } },
        }),
    ).toThrow(RangeError);
  });
});
