import { afterEach, describe, expect, it } from 'vitest';
import { encodeJoinToken } from '@gpufleet/protocol';
import { FakeControlPlane } from '../../agent/src/testing/fake-control-plane.js';
import { startSimFleet, type SimFleet } from './fleet.js';

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

// A token from a replicated control plane: the simulator still points hosts at the one URL it picks.
describe('startSimFleet with a token listing several replicas', () => {
  it.each([
    ['an explicit server URL', { serverUrl: true, linkProxy: false }],
    ['a link proxy per host', { serverUrl: false, linkProxy: true }],
  ])('drops the list for %s, so no host routes around it', async (_name, how) => {
    const cp = new FakeControlPlane({ tokens: { fleet: { secret: 's' } }, heartbeatMs: 60, metricsIntervalMs: 50 });
    await cp.start();
    cleanups.push(() => cp.stop());
    const elsewhere = 'http://127.0.0.1:9';
    const listed = how.serverUrl ? [elsewhere, 'http://127.0.0.1:10'] : [cp.url, elsewhere];
    const token = encodeJoinToken({ url: listed[0]!, urls: listed, caFingerprint: null, roots: [], tokenId: 'fleet', secret: 's' });
    const fleet: SimFleet = await startSimFleet({
      token,
      count: 1,
      seed: 'replicas',
      agentVersion: '0.1.0-sim',
      ...(how.serverUrl ? { serverUrl: cp.url } : {}),
      linkProxy: how.linkProxy,
    });
    cleanups.push(() => fleet.stop());
    await fleet.started;
    const agent = fleet.agents[0]!;
    const config = agent.state.loadConfig()!;
    expect(config.serverUrls).toBeUndefined();
    expect(config.serverUrl).not.toBe(elsewhere);
    await cp.waitFor('the welcome', () => cp.nodes.get(agent.nodeId)?.welcomes === 1);
  });
});
