import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PoolDetailView, PoolEventView, PoolMemberView } from '@gpufleet/protocol';
import { kernelTimePrefix, poolCapacity, xidText } from '@gpufleet/sim';
import { assertBuilt, ChildServer } from '../support/child-server.js';
import { Cleanups } from '../support/cleanups.js';
import { freePort } from '../support/free-port.js';
import { apiClient, type ApiCall } from '../support/http-json.js';
import { sleep, waitFor } from '../support/wait-for.js';

/*
 * The built `gpufleet server` in its own process, started with `--pools FILE` naming a pool of
 * simulated hosts (the sim provider starts them inside the server; each enrolls with a join
 * token minted for its provision). Everything is checked through the REST API: the pool fills
 * to min_nodes; a fatal XID 79 written into one member's kernel log (as the driver would) makes
 * it UNHEALTHY and it is replaced provision first: the new node is READY before the old one is
 * drained, and the old instance is terminated after; `pools scale` grows the pool; the events
 * tell each step.
 */
const MIN = 2;
const POOLS_FILE = `
providers:
  sim:
    type: sim
    instance_types:
      sim.h100x2: { gpu_model: H100, gpus: 2, price_per_hour: 6.5 }
    boot: 300ms
    seed: e2e
pools:
  gpu:
    provider: sim
    instance_type: sim.h100x2
    zones: [sim-a, sim-b]
    min_nodes: ${MIN}
    max_nodes: 4
    cooldown: 0s
    labels: { team: e2e }
    health: { replace_after: 1s, max_parallel_replacements: 1, max_unavailable: 1, join_timeout: 30s }
`;
const FLAGS = ['--heartbeat-interval', '200ms', '--offline-after', '3', '--metrics-interval', '250ms', '--pool-reconcile', '200ms'];

const cleanups = new Cleanups();
let dataDir: string;
let server: ChildServer;
let api: ApiCall;

beforeAll(async () => {
  assertBuilt();
  dataDir = mkdtempSync(join(tmpdir(), 'gpufleet-e2e-pools-'));
  cleanups.add('data dir', () => rmSync(dataDir, { recursive: true, force: true }));
  const poolsFile = join(dataDir, 'pools.yaml');
  writeFileSync(poolsFile, POOLS_FILE);
  server = new ChildServer({ port: await freePort(), dataDir, flags: [...FLAGS, '--pools', poolsFile] });
  cleanups.add('child server', () => server.stop());
  await server.start();
  api = apiClient(server.url, readFileSync(join(dataDir, 'admin-token'), 'utf8').trim());
});
afterAll(() => cleanups.run());

async function pool(): Promise<PoolDetailView> {
  const r = await api('GET', '/api/v1/pools/gpu');
  if (r.status !== 200) throw new Error(`GET /api/v1/pools/gpu: ${r.status} ${r.text}`);
  return r.body as PoolDetailView;
}

async function events(): Promise<PoolEventView[]> {
  const r = await api('GET', '/api/v1/pools/gpu/events?after=0&limit=1000');
  if (r.status !== 200) throw new Error(`GET events: ${r.status} ${r.text}`);
  return r.body.items as PoolEventView[];
}

const readyMembers = (p: PoolDetailView) => p.members.filter((m) => m.state === 'active' && m.nodeStatus === 'READY');

/** Watches the pool every 50 ms in the background, keeping every snapshot (so a brief dip cannot hide between checks). */
function watch(): { stop: () => Promise<PoolDetailView[]> } {
  const seen: PoolDetailView[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        seen.push(await pool());
      } catch {
        // A missed sample is not a failure of the pool.
      }
      await sleep(50);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return seen;
    },
  };
}

describe('e2e: a pool of simulated hosts from `gpufleet server --pools FILE`', () => {
  it('fills to min_nodes, replaces a node hit by XID 79 provision first, grows on `pools scale`, and tells each step in its events', async () => {
    // 1. The pool reaches min_nodes READY, each node enrolled through its own token with the pool's labels.
    const filled = await waitFor(
      `pool gpu at ${MIN} READY`,
      async () => {
        const p = await pool();
        return readyMembers(p).length === MIN && p.inFlight === 0 ? p : null;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    expect(filled).toMatchObject({
      provider: 'sim',
      providerType: 'sim',
      instanceType: 'sim.h100x2',
      minNodes: MIN,
      maxNodes: 4,
      desired: MIN,
      ready: MIN,
      gpus: 2 * MIN,
    });
    expect(filled.costPerHour).toBeCloseTo(6.5 * MIN);
    for (const m of filled.members) {
      const node = (await api('GET', `/api/v1/nodes/${encodeURIComponent(m.nodeId!)}`)).body;
      expect(node.labels).toMatchObject({ pool: 'gpu', team: 'e2e', 'gpu.count': '2', 'gpu.model': 'H100' });
    }
    const firstEvents = await events();
    expect(firstEvents.filter((e) => e.kind === 'joined')).toHaveLength(MIN);

    // 2. XID 79 (GPU fallen off the bus) in one member's kernel log, as the driver writes it.
    const victim = filled.members[0]! as PoolMemberView & { nodeId: string; hostname: string };
    const log = join(dataDir, 'sim-kernel-logs', 'sim', `${victim.hostname}.log`);
    expect(existsSync(log), log).toBe(true);
    const node = (await api('GET', `/api/v1/nodes/${encodeURIComponent(victim.nodeId)}`)).body;
    const gpu0 = node.gpus.find((g: { index: number }) => g.index === 0);
    const watcher = watch();
    appendFileSync(
      log,
      `${kernelTimePrefix({ uptimeMs: 90_000, epochMs: Date.now(), micros: 0 }, 'dmesg')}${xidText({ pciBusId: gpu0.pciBusId, code: 79, pid: null })}\n`,
    );
    await waitFor('the victim unhealthy', async () => (await pool()).members.find((m) => m.nodeId === victim.nodeId)?.health === 'unhealthy', {
      timeoutMs: 10_000,
    });

    // 3. Replaced: a new member READY, the old instance gone, back at min_nodes.
    let seen: PoolEventView[] = [];
    const done = await waitFor(
      'the replacement done',
      async () => {
        seen = await events();
        // replace-started names the old node; replace-done, of the same operation, the new one.
        const started = seen.find((e) => e.kind === 'replace-started' && e.nodeId === victim.nodeId);
        return started && seen.some((e) => e.kind === 'replace-done' && e.operationId === started.operationId) ? seen : null;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    ).catch((err: Error) => {
      throw new Error(`${err.message}\nevents:\n${seen.map((e) => `  ${e.kind}: ${e.message}`).join('\n')}`);
    });
    const after = await waitFor(`back at ${MIN} READY`, async () => {
      const p = await pool();
      return readyMembers(p).length === MIN && p.inFlight === 0 ? p : null;
    });
    const snapshots = await watcher.stop();
    expect(after.members.some((m) => m.instanceId === victim.instanceId && m.state !== 'terminated')).toBe(false);
    const replacement = after.members.find((m) => !filled.members.some((f) => f.instanceId === m.instanceId));
    expect(replacement, 'a new member').toBeDefined();
    expect(replacement!.nodeStatus).toBe('READY');
    // The old node's agent was switched off with its instance, and the node retired.
    const gone = await waitFor('the old node disconnected and retired', async () => {
      const r = await api('GET', `/api/v1/nodes/${encodeURIComponent(victim.nodeId)}`);
      return r.status === 404 || (r.body?.connected === false && ['OFFLINE', 'DECOMMISSIONED'].includes(r.body?.status)) ? r : null;
    });
    expect(gone.status === 404 || gone.body.status === 'DECOMMISSIONED', `old node ${gone.status} ${gone.body?.status}`).toBe(true);

    // Provision first, in the events: replace started -> new node joined -> old drained -> old terminated -> done.
    const op = done.find((e) => e.kind === 'replace-started' && e.nodeId === victim.nodeId);
    expect(op, `replace-started for ${victim.nodeId} in ${done.map((e) => e.kind).join(', ')}`).toBeDefined();
    const ofOp = done.filter((e) => e.operationId === op!.operationId);
    const at = (kind: string, pick: (e: PoolEventView) => boolean = () => true) => ofOp.find((e) => e.kind === kind && pick(e))?.id ?? -1;
    const joined = at('joined');
    const draining = at('draining');
    const terminated = at('terminated', (e) => e.instanceId === victim.instanceId || e.nodeId === victim.nodeId);
    const replaceDone = at('replace-done');
    expect({ joined, draining, terminated, replaceDone }).toEqual({
      joined: expect.any(Number),
      draining: expect.any(Number),
      terminated: expect.any(Number),
      replaceDone: expect.any(Number),
    });
    expect(
      [op!.id < joined, joined < draining, draining < terminated, terminated <= replaceDone],
      ofOp.map((e) => `${e.id} ${e.kind}: ${e.message}`).join('\n'),
    ).toEqual([true, true, true, true]);
    for (const e of ofOp) expect(e.message.length, `${e.kind} says why`).toBeGreaterThan(10);
    // And as the pool looked every 50 ms: never fewer than min_nodes up, and the old node only left once its replacement was READY.
    expect(snapshots.length).toBeGreaterThan(5);
    const dips = snapshots.filter((p) => poolCapacity(p.members) < MIN || p.current < MIN);
    expect(dips.map((p) => p.members.map((m) => `${m.hostname}:${m.state}/${m.nodeStatus}`).join(' '))).toEqual([]);
    for (const p of snapshots) {
      const old = p.members.find((m) => m.instanceId === victim.instanceId);
      const leaving = !old || old.state === 'terminating' || old.state === 'terminated' || ['DRAINING', 'DRAINED', 'OFFLINE'].includes(old.nodeStatus ?? '');
      if (leaving)
        expect(p.members.find((m) => m.instanceId === replacement!.instanceId)?.nodeStatus, 'the replacement READY before the old node leaves').toBe('READY');
    }

    // 4. `pools scale` through the API grows it to 3, with the operator's reason in the events.
    const scaled = await api('POST', '/api/v1/pools/gpu/scale', { to: 3, reason: 'e2e: demo tomorrow' });
    expect(scaled.status, scaled.text).toBe(200);
    expect(scaled.body).toMatchObject({ name: 'gpu', desired: 3, desiredSource: 'manual' });
    await waitFor('3 READY', async () => readyMembers(await pool()).length === 3 && (await pool()).inFlight === 0, { timeoutMs: 30_000, intervalMs: 100 });
    const final = await events();
    expect(final.find((e) => e.kind === 'manual-scale')?.message).toMatch(/demo tomorrow/);
    // Out of range and garbage are refused, naming what is wrong.
    const tooBig = await api('POST', '/api/v1/pools/gpu/scale', { to: 9, reason: 'too many' });
    expect(tooBig.status).toBe(400);
    expect(tooBig.text).toMatch(/2\D+4/);
    const garbage = await api('POST', '/api/v1/pools/gpu/scale', { to: 'three', reason: 'x' });
    expect(garbage.status).toBe(400);
    expect((await pool()).desired).toBe(3);

    // Every step had its event: the pool's story reads from its events alone.
    const kinds = new Set(final.map((e) => e.kind));
    for (const k of ['applied', 'provision-started', 'joined', 'replace-started', 'draining', 'terminated', 'replace-done', 'manual-scale'])
      expect(kinds, `${k} in ${[...kinds].join(', ')}`).toContain(k);
  }, 120_000);
});
