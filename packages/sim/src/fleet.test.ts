import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeJoinToken, verifyEd25519, signEd25519 } from '@gpufleet/protocol';
import { FakeControlPlane } from '../../agent/src/testing/fake-control-plane.js';
import { assignModels, simIdentity, startSimFleet, type SimFleet } from './fleet.js';

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function plane(): Promise<{ cp: FakeControlPlane; token: string }> {
  const cp = new FakeControlPlane({ tokens: { fleet: { secret: 'sim-secret' } }, heartbeatMs: 60, metricsIntervalMs: 50 });
  await cp.start();
  cleanups.push(() => cp.stop());
  return { cp, token: encodeJoinToken({ url: cp.url, caFingerprint: null, roots: [], tokenId: 'fleet', secret: 'sim-secret' }) };
}

function track(fleet: SimFleet): SimFleet {
  cleanups.push(() => fleet.stop());
  return fleet;
}

describe('assignModels', () => {
  it('splits equal weights evenly and interleaves them', () => {
    const models = assignModels(8);
    expect(models).toEqual(['H100', 'A100', 'L40S', 'MI300X', 'H100', 'A100', 'L40S', 'MI300X']);
  });

  it('follows the weights', () => {
    const models = assignModels(100, { H100: 3, MI300X: 1 });
    expect(models.filter((m) => m === 'H100')).toHaveLength(75);
    expect(models.filter((m) => m === 'MI300X')).toHaveLength(25);
  });

  it('refuses unknown models, negative weights and an all-zero mix', () => {
    expect(() => assignModels(1, { V100: 1 } as never)).toThrow(/unknown simulated GPU model 'V100'/);
    expect(() => assignModels(1, { H100: -1 })).toThrow(/>= 0/);
    expect(() => assignModels(1, { H100: Number.NaN })).toThrow(/>= 0/);
    expect(() => assignModels(1, { H100: 0 })).toThrow(/at least one model/);
  });
});

describe('simIdentity', () => {
  it('is deterministic per (seed, index) and differs between them', () => {
    expect(simIdentity('s', 1).did).toBe(simIdentity('s', 1).did);
    expect(simIdentity('s', 1).did).not.toBe(simIdentity('s', 2).did);
    expect(simIdentity('s', 1).did).not.toBe(simIdentity('t', 1).did);
    const id = simIdentity(7, 0);
    expect(verifyEd25519(id.did, 'x', signEd25519(id.privateKeyPem, 'x'))).toBe(true);
  });
});

describe('startSimFleet', () => {
  it('enrolls and runs 5 simulated hosts that speak the protocol cleanly', async () => {
    const { cp, token } = await plane();
    const fleet = track(await startSimFleet({ token, count: 5, seed: 'demo', agentVersion: '0.1.0-sim', startSpreadMs: 30 }));
    expect(fleet.agents.map((a) => a.hostname)).toEqual(['sim-h100-001', 'sim-a100-001', 'sim-l40s-001', 'sim-mi300x-001', 'sim-h100-002']);
    expect(fleet.agents.map((a) => a.nodeId)).toEqual([0, 1, 2, 3, 4].map((i) => simIdentity('demo', i).did));
    expect(cp.enrollRequests).toHaveLength(5);
    expect(cp.enrollRequests.every((r) => r.host.os.id === 'gpufleet-sim' && r.host.hostname.startsWith('sim-') && r.gpus.length === 8)).toBe(true);

    await fleet.started;
    for (const a of fleet.agents) {
      const node = cp.nodes.get(a.nodeId)!;
      await cp.waitFor(`${a.hostname} metrics`, () => node.metrics.length >= 2 && node.inventories.length >= 1);
      expect(node.inventories[0]!.body.gpus.map((g) => g.name)).toEqual(Array(8).fill(a.backend.spec.name));
      expect(node.metrics.at(-1)!.gpus).toHaveLength(8);
    }
    expect(cp.sessions.size).toBe(5);
    expect(cp.violations).toEqual([]);

    // The fault hook goes all the way through the real agent to the server.
    const victim = fleet.agents[1]!;
    victim.backend.dropGpu(5);
    const node = cp.nodes.get(victim.nodeId)!;
    await cp.waitFor('gpu-missing', () => node.events.some((e) => e.body.kind === 'gpu-missing'));

    await fleet.stop();
    expect(fleet.agents.every((a) => a.agent.lifecycle === 'stopped')).toBe(true);
    await cp.waitFor('sessions closed', () => cp.sessions.size === 0);
    expect(cp.closes.filter((c) => c.nodeId !== null).every((c) => c.code === 1000)).toBe(true);
  });

  it('makes the same fleet from the same seed', async () => {
    const { token } = await plane();
    const a = track(await startSimFleet({ token, count: 3, seed: 99, agentVersion: '1', startSpreadMs: 10 }));
    await a.stop();
    const b = track(await startSimFleet({ token, count: 3, seed: 99, agentVersion: '1', startSpreadMs: 10 }));
    await b.stop();
    expect(b.agents.map((x) => [x.hostname, x.nodeId])).toEqual(a.agents.map((x) => [x.hostname, x.nodeId]));
    const gpuIds = async (f: SimFleet) => Promise.all(f.agents.map(async (x) => (await x.backend.gpus()).snapshots.map((s) => s.uuid)));
    expect(await gpuIds(b)).toEqual(await gpuIds(a));
  });

  it('keeps per-host state in dataDir and does not enroll again on the next run', async () => {
    const { cp, token } = await plane();
    const dir = mkdtempSync(join(tmpdir(), 'gf-sim-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const first = track(await startSimFleet({ token, count: 2, seed: 's', agentVersion: '1', dataDir: dir, startSpreadMs: 10 }));
    await first.started;
    await cp.waitFor('first sessions', () => first.agents.every((a) => cp.nodes.get(a.nodeId)!.welcomes === 1));
    await first.stop();
    expect(readdirSync(dir).sort()).toEqual(['sim-a100-001', 'sim-h100-001']);
    const second = track(await startSimFleet({ token, count: 2, seed: 's', agentVersion: '1', dataDir: dir, startSpreadMs: 10 }));
    await second.started;
    expect(cp.enrollRequests).toHaveLength(2);
    await cp.waitFor('second sessions', () => second.agents.every((a) => cp.nodes.get(a.nodeId)!.welcomes === 2));
    expect(cp.violations).toEqual([]);
  });

  it('names hosts as told, and refuses a wrong count of names, duplicates and names that are not hostnames', async () => {
    const { cp, token } = await plane();
    const fleet = track(await startSimFleet({ token, count: 2, hostnames: ['train-0a1b', 'train-2c3d'], seed: 'named', agentVersion: '1', startSpreadMs: 10 }));
    expect(fleet.agents.map((a) => a.hostname)).toEqual(['train-0a1b', 'train-2c3d']);
    expect(cp.enrollRequests.map((r) => r.host.hostname).sort()).toEqual(['train-0a1b', 'train-2c3d']);
    expect(fleet.host('train-2c3d').index).toBe(1);
    await expect(startSimFleet({ token, count: 2, hostnames: ['a'], seed: 1, agentVersion: '1' })).rejects.toThrow(/1 names for 2 hosts/);
    await expect(startSimFleet({ token, count: 2, hostnames: ['a', 'a'], seed: 1, agentVersion: '1' })).rejects.toThrow(/duplicates/);
    await expect(startSimFleet({ token, count: 1, hostnames: ['../etc'], seed: 1, agentVersion: '1' })).rejects.toThrow(/'..\/etc' is not a hostname/);
  });

  it('fails with the server reason when hosts cannot join, and refuses bad options', async () => {
    const { cp, token } = await plane();
    // The token names a URL where nothing listens; serverUrl points the fleet at the real one.
    const wrong = encodeJoinToken({ url: 'http://127.0.0.1:1', caFingerprint: null, roots: [], tokenId: 'fleet', secret: 'nope' });
    await expect(startSimFleet({ token: wrong, serverUrl: cp.url, count: 2, seed: 1, agentVersion: '1' })).rejects.toThrow(
      /2 of 2 simulated hosts could not join; first: sim-h100-001: join token not recognized/,
    );
    await expect(startSimFleet({ token, count: -1, seed: 1, agentVersion: '1' })).rejects.toThrow(/count must be an integer/);
    await expect(startSimFleet({ token, count: 1, seed: 1, agentVersion: '1', concurrency: 0 })).rejects.toThrow(/concurrency/);
    await expect(startSimFleet({ token: 'garbage', count: 1, seed: 1, agentVersion: '1' })).rejects.toThrow(/not a gpufleet join token/);
  });
});
