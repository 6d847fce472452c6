import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CLOSE_CODES, encodeJoinToken } from '@gpufleet/protocol';
import { FakeControlPlane } from '../../agent/src/testing/fake-control-plane.js';
import { FaultInjector } from './faults/fault-injector.js';
import { assignModels, simHostnames, startSimFleet, type SimFleet } from './fleet.js';

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function faultyFleet(count: number): Promise<{ cp: FakeControlPlane; fleet: SimFleet; dir: string }> {
  const cp = new FakeControlPlane({ tokens: { fleet: { secret: 'sim-secret' } }, heartbeatMs: 100, metricsIntervalMs: 100 });
  await cp.start();
  cleanups.push(() => cp.stop());
  const dir = mkdtempSync(join(tmpdir(), 'gpufleet-sim-faults-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const token = encodeJoinToken({ url: cp.url, caFingerprint: null, roots: [], tokenId: 'fleet', secret: 'sim-secret' });
  const fleet = await startSimFleet({
    token,
    count,
    seed: 3,
    mix: { H100: 1 },
    agentVersion: 'test',
    kernelLog: { dir: join(dir, 'kernel'), pollMs: 20 },
    linkProxy: true,
    startSpreadMs: 0,
    agentOptions: { backoff: { baseMs: 20, capMs: 100 } },
  });
  cleanups.push(() => fleet.stop());
  await fleet.started;
  return { cp, fleet, dir };
}

describe('simHostnames', () => {
  it('numbers hosts per model, three digits wide, wider for big fleets', () => {
    expect(simHostnames(assignModels(4, { H100: 1, L40S: 1 }))).toEqual(['sim-h100-001', 'sim-l40s-001', 'sim-h100-002', 'sim-l40s-002']);
    expect(simHostnames(assignModels(1000, { A100: 1 })).at(-1)).toBe('sim-a100-1000');
    expect(simHostnames(assignModels(1000, { A100: 1 }))[0]).toBe('sim-a100-0001');
  });
});

describe('a fleet with kernel logs and link proxies', () => {
  it('each agent watches its own kernel log: an XID line written there reaches the server as an event with the GPU UUID', async () => {
    const { cp, fleet } = await faultyFleet(2);
    const [a, b] = fleet.agents;
    expect(existsSync(a!.kernelLogPath!)).toBe(true);
    expect(a!.agent.health?.kernelLog?.source).toBe('file');
    expect(a!.link!.connections).toBeGreaterThan(0);
    await cp.waitFor('both sessions', () => cp.sessions.size === 2);
    const injector = new FaultInjector({ fleet, seed: 3 });
    injector.xid(b!.hostname, 6, 79);
    const uuid = b!.backend.gpuIds()[6]!.uuid;
    await cp.waitFor('the xid event', () => (cp.nodes.get(b!.nodeId)?.events ?? []).some((e) => e.body.kind === 'xid'));
    const ev = cp.nodes.get(b!.nodeId)!.events.find((e) => e.body.kind === 'xid')!.body;
    expect(ev).toMatchObject({ gpuUuid: uuid, pciBusId: b!.backend.gpuIds()[6]!.pciBusId });
    expect(ev.data).toMatchObject({ code: 79, severity: 'critical' });
    // The other host's log was not touched.
    expect(cp.nodes.get(a!.nodeId)!.events.some((e) => e.body.kind === 'xid')).toBe(false);
  });

  it('crashes an agent without a clean close, restarts it with the same key and state, and cuts and restores a link', async () => {
    const { cp, fleet } = await faultyFleet(1);
    const h = fleet.agents[0]!;
    await cp.waitFor('a session', () => cp.sessions.size === 1);
    const welcomes = cp.nodes.get(h.nodeId)!.welcomes;
    const first = h.agent;
    await fleet.crashAgent(h.hostname);
    expect(first.lifecycle).toBe('stopped');
    await cp.waitFor('the session closed', () => cp.closes.length > 0);
    // What the server saw is a dead connection, never the 1000 of a clean stop.
    expect(cp.closes.map((c) => c.code)).not.toContain(CLOSE_CODES.normal);
    await expect(fleet.crashAgent(h.hostname)).rejects.toThrow(/not running/);

    await fleet.restartAgent(h.hostname);
    expect(h.agent).not.toBe(first);
    expect(h.agent.nodeId).toBe(first.nodeId);
    await cp.waitFor('a new welcome', () => cp.nodes.get(h.nodeId)!.welcomes > welcomes);
    await expect(fleet.restartAgent(h.hostname)).rejects.toThrow(/still running/);

    // A link cut: the session dies and no dial gets through until the link is restored.
    const injector = new FaultInjector({ fleet, seed: 3 });
    const before = cp.nodes.get(h.nodeId)!.welcomes;
    injector.networkDrop(h.hostname, 400);
    await new Promise((r) => setTimeout(r, 300));
    expect(h.link!.stats.dropped).toBeGreaterThan(0);
    expect(cp.nodes.get(h.nodeId)!.welcomes).toBe(before);
    await cp.waitFor('a welcome after the link is back', () => cp.nodes.get(h.nodeId)!.welcomes > before);
  });

  it('refuses a crash or a cut without link proxies, and names the hosts for an unknown one', async () => {
    const cp = new FakeControlPlane({ tokens: { fleet: { secret: 's' } } });
    await cp.start();
    cleanups.push(() => cp.stop());
    const fleet = await startSimFleet({
      token: encodeJoinToken({ url: cp.url, caFingerprint: null, roots: [], tokenId: 'fleet', secret: 's' }),
      count: 1,
      seed: 1,
      mix: { L40S: 1 },
      agentVersion: 't',
      startSpreadMs: 0,
    });
    cleanups.push(() => fleet.stop());
    await expect(fleet.crashAgent('sim-l40s-001')).rejects.toThrow(/needs the fleet started with linkProxy/);
    expect(() => fleet.host('sim-h100-001')).toThrow(/no simulated host 'sim-h100-001' \(hosts: sim-l40s-001\)/);
    expect(fleet.agents[0]!.kernelLogPath).toBeNull();
    expect(() => new FaultInjector({ fleet, seed: 1 }).xid('sim-l40s-001', 0, 79)).toThrow(/no fake kernel log/);
  });
});
