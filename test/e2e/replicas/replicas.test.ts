import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateEd25519, type Ed25519KeyPair, type ReplicaView } from '@gpufleet/protocol';
import { FINAL_TARGET_STATES, signed, type TargetView } from '../remote-ops/support.js';
import { assertBuilt, CLI_MAIN } from '../support/child-server.js';
import { Cleanups } from '../support/cleanups.js';
import { E2eHost } from '../support/e2e-host.js';
import type { ApiCall } from '../support/http-json.js';
import { promSamples } from '../support/prometheus-text.js';
import { sleep, waitFor } from '../support/wait-for.js';
import { NATS_URL, ReplicaCluster, type Replica } from './replica-cluster.js';

/*
 * Three `gpufleet server` replicas (the built CLI) sharing one PostgreSQL database and one NATS
 * namespace, with 4 real agents whose join token lists every replica. Covers: the replica
 * directory and leases, one fleet seen alike from every replica, commands relayed to the replica
 * holding the agent, failover when that replica is SIGKILLed, /metrics exporting each node once,
 * `gpufleet replicas ls`, and refused starts. The its run in order on one cluster.
 */
const FLAGS = ['--heartbeat-interval', '500ms', '--offline-after', '3', '--metrics-interval', '500ms'];
const NAMES = ['cp-1', 'cp-2', 'cp-3'];
const ROLES = ['alerts', 'pools', 'retention', 'scheduler'];
const HOSTS = 4;

const cleanups = new Cleanups();
const cluster = new ReplicaCluster(cleanups, FLAGS);
const hosts: E2eHost[] = [];
let root: Ed25519KeyPair;
let killed: Replica;
let markers = '';

beforeAll(async () => {
  assertBuilt();
  await cluster.create();
  // One after the other: the first migrates the database and makes the admin token.
  for (const name of NAMES) await cluster.start(name);
}, 90_000);
afterAll(() => cleanups.run(), 30_000);

async function replicasOf(r: Replica): Promise<ReplicaView[]> {
  const res = await r.api('GET', '/api/v1/replicas');
  if (res.status !== 200) throw new Error(`${r.name} GET /api/v1/replicas: ${res.status} ${res.text}`);
  return res.body.replicas as ReplicaView[];
}

interface NodeRow {
  id: string;
  status: string;
  connected: boolean;
}
async function nodesOf(api: ApiCall): Promise<NodeRow[]> {
  const res = await api('GET', '/api/v1/nodes');
  if (res.status !== 200) throw new Error(`GET /api/v1/nodes: ${res.status} ${res.text}`);
  return res.body.items as NodeRow[];
}

/** Every host's node listed READY and connected, and nothing else. */
async function allReady(api: ApiCall): Promise<boolean> {
  const nodes = await nodesOf(api);
  const ids = hosts.map((h) => h.nodeId).sort();
  return JSON.stringify(nodes.map((n) => n.id).sort()) === JSON.stringify(ids) && nodes.every((n) => n.status === 'READY' && n.connected);
}

/** Each role held by exactly one of the listed replicas. */
function leasesSplit(list: ReplicaView[]): boolean {
  return ROLES.every((role) => list.filter((r) => r.leases.includes(role)).length === 1);
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const scrape = async (r: Replica) => (await r.api('GET', '/metrics')).text;
/** The node ids whose GPU series this /metrics text carries. */
const gpuNodes = (text: string) => new Set(promSamples(text, 'DCGM_FI_DEV_GPU_UTIL').map((s) => s.labels.node));

/**
 * Sends a command for host 1 through `via`: it must end succeeded as `via` and `holder` read it,
 * with its output stored once and its effect (a line appended to a marker file) on the host once.
 */
async function runOnce(via: Replica, holder: Replica, marker: string): Promise<void> {
  const host = hosts[0]!;
  const command = signed(root, { target: 'hostname in (e2e-rep-1)', command: { kind: 'argv', argv: ['sh', '-c', `echo x >> '${marker}'; echo ran`] } });
  const sent = await via.api('POST', '/api/v1/runs', { command });
  expect(sent.status, sent.text).toBe(201);
  const runId = sent.body.id as string;
  for (const r of [via, holder]) {
    const run = await waitFor(`${r.name}: run ${runId} final`, async () => {
      const res = await r.api('GET', `/api/v1/runs/${runId}`);
      const targets = (res.body?.targets ?? []) as TargetView[];
      return targets.length > 0 && targets.every((t) => (FINAL_TARGET_STATES as readonly string[]).includes(t.state)) ? res.body : null;
    });
    expect(run.targets.map((t: TargetView) => [t.nodeId, t.state, t.exitCode])).toEqual([[host.nodeId, 'succeeded', 0]]);
  }
  const out = await via.api('GET', `/api/v1/runs/${runId}/output?node=${encodeURIComponent(host.nodeId)}`);
  expect(out.status, out.text).toBe(200);
  expect((out.body.items as Array<{ data: string }>).map((o) => o.data).join('')).toBe('ran\n');
  expect(readFileSync(marker, 'utf8')).toBe('x\n');
}

/** The one replica whose /metrics carries host 1's GPU series: the one holding its session. */
async function holderOfHost1(among: Replica[]): Promise<{ holder: Replica; relayed: number }> {
  const texts = await Promise.all(among.map(scrape));
  const holders = among.filter((_, i) => gpuNodes(texts[i]!).has(hosts[0]!.nodeId));
  expect(holders.map((r) => r.name)).toHaveLength(1);
  const text = texts[among.indexOf(holders[0]!)]!;
  return { holder: holders[0]!, relayed: promSamples(text, 'gpufleet_replica_frames_relayed_total')[0]!.value };
}

describe('e2e: three control-plane replicas over PostgreSQL and NATS', () => {
  it('every replica lists all three, itself first, and each lease is held by exactly one', async () => {
    for (const r of cluster.replicas) {
      const list = await waitFor(`${r.name} sees 3 replicas`, async () => {
        const l = await replicasOf(r);
        return l.length === 3 && l.every((x) => x.url !== '') ? l : null;
      });
      expect(list.map((x) => x.name).sort()).toEqual(NAMES);
      expect(list[0]!.name).toBe(r.name);
      expect(list.map((x) => x.self)).toEqual([true, false, false]);
      expect(list[0]!.url).toBe(r.server.url);
      await waitFor(`${r.name}: each lease held once`, async () => leasesSplit(await replicasOf(r)), { timeoutMs: 10_000 });
    }
  });

  it('4 agents joined with every replica URL show READY on every replica, and the agents add up', async () => {
    const [r1] = cluster.replicas;
    // A fleet root first, so the token carries it and the agents accept signed commands (next it).
    root = generateEd25519();
    const init = await r1!.api('POST', '/api/v1/roots/init', { did: root.did });
    expect(init.status, init.text).toBe(201);
    const urls = cluster.replicas.map((r) => r.server.url);
    const created = await r1!.api('POST', '/api/v1/join-tokens', { description: 'replicas e2e', reusable: true, serverUrls: urls });
    expect(created.status, created.text).toBe(201);
    for (let i = 1; i <= HOSTS; i++) {
      const host = await E2eHost.joinAndStart({ token: created.body.token, hostname: `e2e-rep-${i}`, gpuCount: 2 });
      cleanups.add(`host ${i}`, () => host.dispose());
      hosts.push(host);
      // The token's list reached the agent's saved config.
      expect(host.joined!.serverUrls).toEqual(urls);
    }
    for (const r of cluster.replicas) await waitFor(`${r.name}: ${HOSTS} nodes READY`, () => allReady(r.api), { timeoutMs: 15_000 });
    for (const r of cluster.replicas) {
      await waitFor(`${r.name}: agents add up to ${HOSTS}`, async () => sum((await replicasOf(r)).map((x) => x.agents)) === HOSTS);
    }
    // Metric deltas reach the replicas that do not hold the agent: each one has recent samples of every node.
    const since = Date.now();
    for (const r of cluster.replicas) {
      for (const h of hosts) {
        await waitFor(`${r.name}: fresh cpu_pct of ${h.nodeId.slice(-8)}`, async () => {
          const res = await r.api('GET', `/api/v1/nodes/${encodeURIComponent(h.nodeId)}/metrics?names=cpu_pct&since=${since}`);
          return ((res.body?.series?.[0]?.points ?? []) as unknown[]).length > 0;
        });
      }
    }
    // Only the holder keeps a node's rings: the others keep its latest sample (the remote-nodes
    // gauge) and ask the holder for history, so sparklines through any replica have buckets.
    const held = new Map((await replicasOf(r1!)).map((x) => [x.name, x.agents]));
    for (const r of cluster.replicas) {
      await waitFor(`${r.name}: latest sample only of the ${HOSTS - held.get(r.name)!} node(s) held elsewhere`, async () => {
        const m = /^gpufleet_metric_store_remote_nodes (\d+)$/m.exec(await scrape(r));
        return m !== null && Number(m[1]) === HOSTS - held.get(r.name)!;
      });
      // Those samples came in batches: each holder sent its nodes' samples, fewer messages than samples, none refused.
      const text = await scrape(r);
      const sent = promSamples(text, 'gpufleet_replica_samples_sent_total')[0]!.value;
      const batches = promSamples(text, 'gpufleet_replica_sample_batches_sent_total')[0]!.value;
      if (held.get(r.name)! > 0) expect(sent, `${r.name}: samples sent`).toBeGreaterThan(0);
      expect(batches).toBeLessThanOrEqual(sent);
      expect(promSamples(text, 'gpufleet_replica_samples_refused_total').map((x) => x.value)).toEqual([0, 0, 0]);
      const ids = hosts.map((h) => h.nodeId.replace(/^did:key:/, '')).join(',');
      const spark = await r.api('GET', `/api/v1/sparklines?ids=${ids}&since=1m&points=10`);
      expect(spark.status, spark.text).toBe(200);
      for (const item of spark.body.items as Array<{ id: string; util: unknown[]; temp: unknown[] }>) {
        expect(
          [...item.util, ...item.temp].some((v) => typeof v === 'number'),
          `${r.name}: sparkline of ${item.id.slice(-8)}`,
        ).toBe(true);
      }
    }
  }, 60_000);

  it('a command sent through replicas that do not hold the agent runs once and reports back', async () => {
    markers = mkdtempSync(join(tmpdir(), 'gpufleet-e2e-replicas-'));
    cleanups.add('marker dir', () => rmSync(markers, { recursive: true, force: true }));
    const { holder, relayed } = await waitFor('one holder of host 1', () => holderOfHost1(cluster.replicas));
    for (const via of cluster.replicas.filter((r) => r !== holder)) await runOnce(via, holder, join(markers, via.name));
    // Both went over the bus to the holder.
    expect((await holderOfHost1(cluster.replicas)).relayed - relayed).toBeGreaterThanOrEqual(2);
  }, 40_000);

  it('SIGKILL of the replica holding the most agents: every agent moves to a survivor', async () => {
    const list = await replicasOf(cluster.replicas[0]!);
    const most = [...list].sort((a, b) => b.agents - a.agents)[0]!;
    expect(most.agents).toBeGreaterThan(0);
    killed = cluster.replicas.find((r) => r.name === most.name)!;
    const killedAt = performance.now();
    expect((await killed.server.kill('SIGKILL')).signal).toBe('SIGKILL');
    const survivors = cluster.live;
    await waitFor(
      'every agent on a survivor, the killed replica gone, all nodes READY',
      async () => {
        for (const r of survivors) {
          const l = await replicasOf(r);
          if (l.some((x) => x.name === killed.name) || sum(l.map((x) => x.agents)) !== HOSTS) return false;
          if (!(await allReady(r.api))) return false;
        }
        return hosts.every((h) => h.running.linkState === 'live');
      },
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    const seconds = (performance.now() - killedAt) / 1000;
    console.log(`replicas e2e: failover of ${most.agents} agent(s) from ${killed.name} took ${seconds.toFixed(2)} s`);
    expect(seconds).toBeLessThan(20);
    // The killed replica's leases moved: each role held by exactly one survivor.
    for (const r of survivors) await waitFor(`${r.name}: leases split among survivors`, async () => leasesSplit(await replicasOf(r)));
    // Commands still reach host 1 on its new replica, through either survivor.
    const { holder } = await waitFor('one holder of host 1', () => holderOfHost1(survivors));
    for (const via of survivors) await runOnce(via, holder, join(markers, `after-${via.name}`));
  }, 40_000);

  it('/metrics of each survivor: replica series, and each node exported by exactly one replica', async () => {
    const survivors = cluster.live;
    await waitFor('each node GPU series in exactly one survivor', async () => {
      const sets = (await Promise.all(survivors.map(scrape))).map(gpuNodes);
      return hosts.every((h) => sets.filter((s) => s.has(h.nodeId)).length === 1);
    });
    const held = new Map<string, number>();
    for (const r of survivors) {
      const text = await scrape(r);
      expect(promSamples(text, 'gpufleet_replica_info').map((s) => s.labels.replica)).toEqual([r.name]);
      const leases = promSamples(text, 'gpufleet_replica_lease_held');
      expect(leases.map((s) => s.labels.role).sort()).toEqual(ROLES);
      for (const s of leases) held.set(s.labels.role!, (held.get(s.labels.role!) ?? 0) + s.value);
    }
    expect(Object.fromEntries(held)).toEqual({ alerts: 1, pools: 1, retention: 1, scheduler: 1 });
  });

  it('gpufleet replicas ls lists the live replicas, as JSON and as a table', async () => {
    const run = promisify(execFile);
    const r = cluster.live[0]!;
    const cli = (...args: string[]) =>
      run(process.execPath, [CLI_MAIN, '--server', r.server.url, '--token', cluster.adminToken, 'replicas', 'ls', ...args], {
        env: { ...process.env, NO_COLOR: '1' },
        timeout: 15_000,
      });
    const json = JSON.parse((await cli('-o', 'json')).stdout) as { replicas: ReplicaView[] };
    expect(json.replicas.map((x) => x.name).sort()).toEqual(cluster.live.map((x) => x.name).sort());
    expect(json.replicas[0]).toMatchObject({ name: r.name, self: true });
    const table = (await cli()).stdout;
    expect(table).toMatch(/NAME/);
    expect(table).toMatch(/AGENTS/);
    for (const x of cluster.live) expect(table).toContain(x.name);
    expect(table).not.toContain(killed.name);
  });

  it('refuses a live replica name, --bus without a shared store, and a bus that is not NATS', async () => {
    const taken = cluster.live[0]!;
    const before = (await replicasOf(taken))[0]!;
    const dup = (await cluster.child(cluster.replicaFlags(taken.name))).server;
    const noStore = (await cluster.child(['--bus', NATS_URL, ...FLAGS])).server;
    const http = (await cluster.child(['--store', cluster.storeUrl, '--bus', 'http://x', ...FLAGS])).server;
    // In parallel: each start is a Node process that takes seconds to boot on a small machine.
    await Promise.all([
      expect(dup.start()).rejects.toThrow(/replica name/),
      expect(noStore.start()).rejects.toThrow(/shared store/),
      expect(http.start()).rejects.toThrow(/not a NATS URL/),
    ]);
    // The refused duplicate left the live one's entry alone: every replica still lists the same instance after a beat.
    await sleep(1000);
    for (const r of cluster.live) {
      const entry = (await replicasOf(r)).find((x) => x.name === taken.name);
      expect(entry?.instance, `${r.name} lists ${taken.name}`).toBe(before.instance);
    }
    expect(sum((await replicasOf(taken)).map((x) => x.agents))).toBe(HOSTS);
  }, 30_000);
  it('the replica following a run is SIGKILLed mid-run: a survivor takes the run up and finishes it, the host ran it once', async () => {
    const [follower, survivor] = cluster.live as [Replica, Replica];
    const marker = join(markers, 'adopted');
    const command = signed(root, {
      target: 'hostname in (e2e-rep-1)',
      command: { kind: 'argv', argv: ['sh', '-c', `sleep 2; echo x >> '${marker}'; echo ran`] },
    });
    const sent = await follower.api('POST', '/api/v1/runs', { command });
    expect(sent.status, sent.text).toBe(201);
    const runId = sent.body.id as string;
    await waitFor(`run ${runId} running on host 1`, async () => {
      const res = await follower.api('GET', `/api/v1/runs/${runId}`);
      return (res.body?.targets as TargetView[] | undefined)?.[0]?.state === 'running';
    });
    expect((await follower.server.kill('SIGKILL')).signal).toBe('SIGKILL');
    const run = await waitFor(
      `${survivor.name}: run ${runId} finished`,
      async () => {
        const res = await survivor.api('GET', `/api/v1/runs/${runId}`);
        return res.body?.state === 'succeeded' ? res.body : null;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(run.targets.map((t: TargetView) => [t.nodeId, t.state, t.exitCode])).toEqual([[hosts[0]!.nodeId, 'succeeded', 0]]);
    expect(readFileSync(marker, 'utf8')).toBe('x\n');
    expect(survivor.server.output).toMatch(/took up a run whose replica is gone/);
  }, 60_000);
});
