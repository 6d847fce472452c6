import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateEd25519, type ReplicaView } from '@gpufleet/protocol';
import { FINAL_TARGET_STATES, signed, type TargetView } from '../remote-ops/support.js';
import { assertBuilt } from '../support/child-server.js';
import { Cleanups } from '../support/cleanups.js';
import { E2eHost } from '../support/e2e-host.js';
import { promSamples } from '../support/prometheus-text.js';
import { sleep, waitFor } from '../support/wait-for.js';
import { OwnNats, pidOf, ReplicaCluster, type Replica } from './replica-cluster.js';

/*
 * Faults of a replica set (the built CLI over PostgreSQL and NATS): a lease holder frozen by
 * SIGSTOP and resumed (fencing), the `alerts` lease holder SIGKILLed while an alert is pending
 * (one page, from a survivor), and NATS itself restarted under a running cluster.
 * Heartbeat 500 ms: a lease's TTL is 1.5 s, a replica's directory entry lapses after 1.5 s.
 */
const FLAGS = ['--heartbeat-interval', '500ms', '--offline-after', '3', '--metrics-interval', '500ms'];
const ROLES = ['alerts', 'pools', 'retention', 'scheduler'];
const NONE = { alerts: 0, pools: 0, retention: 0, scheduler: 0 };
const ALL = { alerts: 1, pools: 1, retention: 1, scheduler: 1 };

async function replicasOf(r: Replica): Promise<ReplicaView[]> {
  const res = await r.api('GET', '/api/v1/replicas');
  if (res.status !== 200) throw new Error(`${r.name} GET /api/v1/replicas: ${res.status} ${res.text}`);
  return res.body.replicas as ReplicaView[];
}
const scrape = async (r: Replica) => (await r.api('GET', '/metrics')).text;
/** gpufleet_replica_lease_held of one replica, by role. */
async function leaseGauge(r: Replica): Promise<Record<string, number>> {
  return Object.fromEntries(promSamples(await scrape(r), 'gpufleet_replica_lease_held').map((s) => [s.labels.role!, s.value]));
}
/** Each role held by exactly one of the listed replicas. */
const leasesSplit = (list: ReplicaView[]) => ROLES.every((role) => list.filter((r) => r.leases.includes(role)).length === 1);
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
/** The messages a replica logged (warn and above: the e2e servers run with --log-level warn), with counts. */
function warnings(output: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const line of output.split('\n')) {
    const msg = /"msg":"((?:[^"\\]|\\.)*)"/.exec(line)?.[1];
    if (msg) counts[msg] = (counts[msg] ?? 0) + 1;
  }
  return counts;
}
const secondsSince = (t: number) => ((performance.now() - t) / 1000).toFixed(2);

/** Starts the named replicas one after the other (the first migrates the store) and waits for them to see each other. */
async function startCluster(cluster: ReplicaCluster, names: string[]): Promise<void> {
  assertBuilt();
  await cluster.create();
  for (const name of names) await cluster.start(name);
  for (const r of cluster.replicas) {
    await waitFor(`${r.name}: ${names.length} replicas, each lease held once`, async () => {
      const list = await replicasOf(r);
      return list.length === names.length && leasesSplit(list);
    });
  }
}

async function allReady(r: Replica, hosts: E2eHost[]): Promise<boolean> {
  const res = await r.api('GET', '/api/v1/nodes');
  const nodes = (res.body?.items ?? []) as Array<{ id: string; status: string; connected: boolean }>;
  return hosts.every((h) => nodes.some((n) => n.id === h.nodeId && n.status === 'READY' && n.connected));
}

describe('e2e replica faults: a SIGSTOPped lease holder is fenced', () => {
  const cleanups = new Cleanups();
  const cluster = new ReplicaCluster(cleanups, FLAGS);
  beforeAll(() => startCluster(cluster, ['cp-1', 'cp-2']), 60_000);
  afterAll(() => cleanups.run(), 30_000);

  it('the other replica takes every lease; resumed, the paused one acts for none and re-enters the directory', async () => {
    const before = await replicasOf(cluster.replicas[0]!);
    const holder = before.find((x) => x.leases.includes('alerts'))!;
    const paused = cluster.replicas.find((r) => r.name === holder.name)!;
    const other = cluster.replicas.find((r) => r !== paused)!;
    const pid = pidOf(paused.server);
    process.kill(pid, 'SIGSTOP');
    cleanups.add('SIGCONT', () => {
      // Resumed already unless the test failed on the way; the process-stop step follows.
      if (paused.server.running) process.kill(pid, 'SIGCONT');
    });
    const stoppedAt = performance.now();
    await waitFor(
      `${other.name} lists itself alone, holding every lease`,
      async () => {
        const list = await replicasOf(other);
        return list.length === 1 && JSON.stringify([...list[0]!.leases].sort()) === JSON.stringify(ROLES);
      },
      { timeoutMs: 15_000, intervalMs: 50 },
    );
    console.log(`replica faults: ${other.name} held every lease ${secondsSince(stoppedAt)} s after ${paused.name} was SIGSTOPped`);
    expect(await leaseGauge(other)).toEqual(ALL);

    process.kill(pid, 'SIGCONT');
    const resumedAt = Date.now();
    const resumed = performance.now();
    // The first request it answers: its own deadlines passed while it was stopped, so it holds nothing.
    expect(await leaseGauge(paused), `${paused.name}'s first /metrics after SIGCONT`).toEqual(NONE);
    expect((await replicasOf(paused))[0]!.leases, `${paused.name}'s own entry after SIGCONT`).toEqual([]);

    // Its entry written again (same instance, a beat after the resume): both list both, each lease once.
    const reentered = async () => {
      for (const r of [paused, other]) {
        const list = await replicasOf(r);
        const entry = list.find((x) => x.name === paused.name);
        if (!(list.length === 2 && entry?.instance === holder.instance && entry.heartbeatAt >= resumedAt && leasesSplit(list))) return false;
      }
      return true;
    };
    // For 4 s: never a role the other holds; meanwhile it re-enters the directory.
    const deadline = performance.now() + 4000;
    let samples = 0;
    let back: string | null = null;
    while (performance.now() < deadline) {
      const [p, o] = await Promise.all([leaseGauge(paused), leaseGauge(other)]);
      for (const role of ROLES) if (o[role] === 1) expect(p[role], `${paused.name} holds ${role} while ${other.name} does`).toBe(0);
      samples++;
      if (back === null && (await reentered())) back = secondsSince(resumed);
      await sleep(100);
    }
    if (back === null) await waitFor(`both list ${paused.name} again with a fresh beat`, reentered);
    back ??= secondsSince(resumed);
    const gauges = await Promise.all([leaseGauge(paused), leaseGauge(other)]);
    expect(Object.fromEntries(ROLES.map((role) => [role, sum(gauges.map((g) => g[role]!))]))).toEqual(ALL);
    const warned = paused.server.output.includes('lease deadline passed');
    console.log(
      `replica faults: ${paused.name} back in both directories ${back} s after SIGCONT (${samples} lease samples; deadline warning logged: ${warned})`,
    );
  }, 40_000);
});

describe('e2e replica faults: SIGKILL of the alerts lease holder while an alert is pending', () => {
  const cleanups = new Cleanups();
  /** Every request the webhook got (its JSON body; the raw text if it was not JSON). */
  const hits: Array<{ body: any }> = [];
  const hook = createServer((req, res) => {
    let data = '';
    req.on('data', (c: Buffer) => (data += c.toString('utf8')));
    req.on('end', () => {
      let body: unknown = data;
      try {
        body = JSON.parse(data);
      } catch {
        // Kept as text: the assertions below then fail naming it.
      }
      hits.push({ body });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  let cluster: ReplicaCluster;
  const hosts: E2eHost[] = [];

  beforeAll(async () => {
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    cleanups.add('webhook', () => new Promise((resolve) => hook.close(resolve).closeAllConnections()));
    const dir = mkdtempSync(join(tmpdir(), 'gpufleet-e2e-alert-rules-'));
    cleanups.add('rules dir', () => rmSync(dir, { recursive: true, force: true }));
    const rules = join(dir, 'rules.yaml');
    writeFileSync(
      rules,
      [
        'version: 1',
        'receivers:',
        `  - {name: hook, type: webhook, url: "http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook"}`,
        'rules:',
        '  - {name: E2eGpuHot, kind: metric, metric: gpu_temp_c, above: 110, for: 4s, severity: critical,',
        '     summary: "GPU {{gpu}} on {{hostname}} at {{value}} C", receivers: [hook]}',
        '',
      ].join('\n'),
    );
    cluster = new ReplicaCluster(cleanups, [...FLAGS, '--alert-rules', rules]);
    await startCluster(cluster, ['cp-1', 'cp-2', 'cp-3']);
  }, 90_000);
  afterAll(() => cleanups.run(), 30_000);

  it('the webhook gets exactly one firing notification, from a surviving replica', async () => {
    const list = await replicasOf(cluster.replicas[0]!);
    const holder = cluster.replicas.find((r) => r.name === list.find((x) => x.leases.includes('alerts'))!.name)!;
    const survivors = cluster.replicas.filter((r) => r !== holder);
    // The token lists only the survivors: the agent dials its first choice among them and sticks
    // to the one that welcomed it, so the kill leaves its session (and its metrics) alone.
    const urls = survivors.map((r) => r.server.url);
    const token = await holder.api('POST', '/api/v1/join-tokens', { description: 'replica faults', reusable: true, serverUrls: urls });
    expect(token.status, token.text).toBe(201);
    const host = await E2eHost.joinAndStart({ token: token.body.token, hostname: 'e2e-fault-hot', gpuCount: 2 });
    cleanups.add('host', () => host.dispose());
    hosts.push(host);
    for (const r of cluster.replicas) await waitFor(`${r.name}: node READY`, () => allReady(r, hosts), { timeoutMs: 15_000 });
    await waitFor('the agent held by a survivor', async () => {
      const l = await replicasOf(holder);
      return sum(l.map((x) => x.agents)) === 1 && l[0]!.agents === 0;
    });

    // GPU 0 runs hot from now on: 120 °C against the rule's 110.
    host.backend.setReadingFaults(0, { thermal: { startAt: Date.now(), durationMs: 0, targetC: 120, holdMs: null } });
    const hotAt = performance.now();
    const pending = await waitFor(
      `${holder.name}: E2eGpuHot pending`,
      async () => (await holder.api('GET', '/api/v1/alerts?state=pending&rule=E2eGpuHot')).body?.items?.[0],
      { timeoutMs: 20_000, intervalMs: 50 },
    );
    expect(pending).toMatchObject({ state: 'pending', nodeId: host.nodeId, gpuIndex: 0 });
    const sentBeforeKill = hits.length;
    const killedAt = performance.now();
    expect((await holder.server.kill('SIGKILL')).signal).toBe('SIGKILL');
    console.log(`replica faults: alert pending on ${holder.name} ${secondsSince(hotAt)} s after the GPU ran hot; SIGKILLed it`);
    expect(sentBeforeKill, 'nothing sent before the kill').toBe(0);

    let takeover = '';
    await waitFor(
      'the alerts lease on a survivor',
      async () => {
        const views = await Promise.all(survivors.map(replicasOf));
        takeover = views[0]!.find((x) => x.leases.includes('alerts'))?.name ?? '';
        return views.every((l) => l.length === 2 && leasesSplit(l));
      },
      { timeoutMs: 15_000, intervalMs: 50 },
    );
    console.log(`replica faults: ${takeover} took the alerts lease ${secondsSince(killedAt)} s after the kill`);
    const firing = () => hits.filter((h) => h.body.status === 'firing' && h.body.alert?.rule === 'E2eGpuHot');
    await waitFor('a firing notification', () => firing().length > 0, { timeoutMs: 30_000, intervalMs: 50 });
    console.log(`replica faults: firing notification ${secondsSince(killedAt)} s after the kill`);
    // Well past `for` and another lease term: still the one.
    await sleep(10_000);
    expect(firing().map((h) => h.body.alert.id)).toEqual([pending.id]);
    expect(hits, 'no other notification (nothing resolved)').toHaveLength(1);
    const sender = survivors.find((r) => firing()[0]!.body.alert.generatorURL.startsWith(`${r.server.url}/`));
    expect(sender?.name, `generatorURL ${firing()[0]!.body.alert.generatorURL}`).toBe(takeover);
    // Each survivor's receiver counters: one sent in all, by the lease holder.
    const sent = await Promise.all(survivors.map(async (r) => (await r.api('GET', '/api/v1/alerts/rules')).body.receivers[0].sent as number));
    expect(sum(sent)).toBe(1);
    expect(sent[survivors.indexOf(sender!)]).toBe(1);
    for (const r of survivors) {
      const items = (await r.api('GET', '/api/v1/alerts?state=firing&rule=E2eGpuHot')).body.items as Array<{ id: string }>;
      expect(
        items.map((a) => a.id),
        `${r.name} lists it firing`,
      ).toEqual([pending.id]);
    }
  }, 75_000);
});

describe('e2e replica faults: NATS restarted under a running cluster', () => {
  const cleanups = new Cleanups();
  let nats: OwnNats;
  let cluster: ReplicaCluster;
  const hosts: E2eHost[] = [];
  const root = generateEd25519();
  let token = '';
  let markers = '';

  beforeAll(async () => {
    markers = mkdtempSync(join(tmpdir(), 'gpufleet-e2e-nats-restart-'));
    cleanups.add('marker dir', () => rmSync(markers, { recursive: true, force: true }));
    nats = await OwnNats.create(cleanups);
    await nats.start();
    cluster = new ReplicaCluster(cleanups, FLAGS, nats.url);
    await startCluster(cluster, ['cp-1', 'cp-2']);
    const [r1] = cluster.replicas;
    const init = await r1!.api('POST', '/api/v1/roots/init', { did: root.did });
    expect(init.status, init.text).toBe(201);
    const urls = cluster.replicas.map((r) => r.server.url);
    const created = await r1!.api('POST', '/api/v1/join-tokens', { description: 'nats restart', reusable: true, serverUrls: urls });
    expect(created.status, created.text).toBe(201);
    token = created.body.token;
    for (let i = 1; i <= 2; i++) {
      const host = await E2eHost.joinAndStart({ token, hostname: `e2e-nats-${i}`, gpuCount: 1 });
      cleanups.add(`host ${i}`, () => host.dispose());
      hosts.push(host);
    }
    for (const r of cluster.replicas) await waitFor(`${r.name}: both nodes READY`, () => allReady(r, hosts), { timeoutMs: 15_000 });
  }, 90_000);
  afterAll(() => cleanups.run(), 30_000);

  /** Sends a command for the host through the replica that does not hold it; it must run once and end succeeded on both. */
  async function runThroughTheOther(host: E2eHost, hostname: string): Promise<void> {
    // Its holder: the one replica whose /metrics carries its GPU series.
    const holder = await waitFor(`one replica exporting ${hostname}`, async () => {
      const texts = await Promise.all(cluster.replicas.map(scrape));
      const holders = cluster.replicas.filter((_, i) => promSamples(texts[i]!, 'DCGM_FI_DEV_GPU_UTIL').some((s) => s.labels.node === host.nodeId));
      return holders.length === 1 ? holders[0] : null;
    });
    const via = cluster.replicas.find((r) => r !== holder)!;
    const marker = join(markers, hostname);
    const command = signed(root, { target: `hostname in (${hostname})`, command: { kind: 'argv', argv: ['sh', '-c', `echo x >> '${marker}'; echo ran`] } });
    const sent = await via.api('POST', '/api/v1/runs', { command });
    expect(sent.status, sent.text).toBe(201);
    for (const r of [via, holder]) {
      const run = await waitFor(
        `${r.name}: run on ${hostname} final`,
        async () => {
          const res = await r.api('GET', `/api/v1/runs/${sent.body.id}`);
          const targets = (res.body?.targets ?? []) as TargetView[];
          return targets.length > 0 && targets.every((t) => (FINAL_TARGET_STATES as readonly string[]).includes(t.state)) ? targets : null;
        },
        { timeoutMs: 20_000 },
      );
      expect(run.map((t) => [t.nodeId, t.state, t.exitCode])).toEqual([[host.nodeId, 'succeeded', 0]]);
    }
    await sleep(1000);
    expect(readFileSync(marker, 'utf8'), `the command ran on ${hostname} exactly once`).toBe('x\n');
  }

  it('the replicas find each other again, leases split, a relayed command runs once, metrics flow, no event lost', async () => {
    const [host1] = hosts;
    await nats.stop('SIGTERM');
    const downAt = performance.now();
    // An event while the bus is away: the agent's session (a WebSocket to its replica) is not.
    const eventId = host1!.enqueue('during-nats-restart');
    await sleep(2000);
    await nats.start();
    const upAt = performance.now();
    const upAtWall = Date.now();
    console.log(`replica faults: nats-server down for ${((upAt - downAt) / 1000).toFixed(2)} s`);

    // Each lists the other with a beat written after NATS came back, and the leases are split again.
    for (const r of cluster.replicas) {
      await waitFor(
        `${r.name} lists both with fresh beats, each lease once`,
        async () => {
          const list = await replicasOf(r);
          return list.length === 2 && list.every((x) => x.heartbeatAt >= upAtWall) && leasesSplit(list);
        },
        { timeoutMs: 30_000, intervalMs: 100 },
      );
    }
    console.log(`replica faults: both replicas list each other again ${secondsSince(upAt)} s after NATS restarted`);
    await waitFor('lease gauges add up to one per role', async () => {
      const gauges = await Promise.all(cluster.replicas.map(leaseGauge));
      return ROLES.every((role) => sum(gauges.map((g) => g[role]!)) === 1);
    });
    for (const r of cluster.replicas) await waitFor(`${r.name}: both nodes READY`, () => allReady(r, hosts), { timeoutMs: 20_000 });

    // Fresh metric points of every node on every replica: deltas cross the bus again.
    const since = Date.now();
    for (const r of cluster.replicas) {
      for (const h of hosts) {
        await waitFor(`${r.name}: fresh cpu_pct of ${h.nodeId.slice(-8)}`, async () => {
          const res = await r.api('GET', `/api/v1/nodes/${encodeURIComponent(h.nodeId)}/metrics?names=cpu_pct&since=${since}`);
          return ((res.body?.series?.[0]?.points ?? []) as unknown[]).length > 0;
        });
      }
    }
    console.log(`replica faults: fresh metrics on both replicas ${secondsSince(upAt)} s after NATS restarted`);

    // A command for host 1 through the replica that does not hold it: relayed, run once, reported on both.
    await runThroughTheOther(host1!, 'e2e-nats-1');
    // A host joining now is seen connected by both (session owners watched across the restart) and reachable the same way.
    const host3 = await E2eHost.joinAndStart({ token, hostname: 'e2e-nats-3', gpuCount: 1 });
    cleanups.add('host 3', () => host3.dispose());
    for (const r of cluster.replicas) await waitFor(`${r.name}: the new node READY`, () => allReady(r, [host3]), { timeoutMs: 15_000 });
    await runThroughTheOther(host3, 'e2e-nats-3');

    // The event sent while NATS was down: stored once, listed by both replicas.
    await waitFor('the outbox acknowledged', () => host1!.settled);
    for (const r of cluster.replicas) {
      const res = await r.api('GET', `/api/v1/events?node=${encodeURIComponent(host1!.nodeId)}&kind=kernel-log&limit=1000`);
      const mine = (res.body.items as Array<{ details: { marker?: string } }>).filter((e) => e.details?.marker === 'during-nats-restart');
      expect(mine, `${r.name}: event ${eventId} listed once`).toHaveLength(1);
    }
    for (const r of cluster.replicas) console.log(`replica faults: ${r.name} warnings across the NATS restart: ${JSON.stringify(warnings(r.server.output))}`);
  }, 90_000);
});
