import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateEd25519, replicaOrderFor, type Ed25519KeyPair, type ReplicaView } from '@gpufleet/protocol';
import { FINAL_TARGET_STATES, signed, type TargetView } from '../remote-ops/support.js';
import { assertBuilt } from '../support/child-server.js';
import { Cleanups } from '../support/cleanups.js';
import type { ApiCall } from '../support/http-json.js';
import { sleep, waitFor } from '../support/wait-for.js';
import { ReplicaCluster, type Replica } from './replica-cluster.js';
import { SimAgents, type SimAgentState } from './sim-agents.js';

/*
 * A run across 200 hosts survives the SIGKILL of the replica holding the most of their agents.
 * Three `gpufleet server` replicas (the built CLI) on one PostgreSQL database and one NATS
 * namespace; 200 simulated hosts (the real Agent on fake hardware, in one child process) joined
 * with three tokens that list all three replica URLs in rotated orders, so each replica holds
 * about a third from the start. A signed command that really runs on every host (`sh`: a line
 * appended to a marker of the host's own, then `sleep`) goes out through a replica that stays up;
 * while the hosts sleep, the replica holding the most agents is SIGKILLed. Its agents dial the
 * survivors, replay their outboxes, the following replica resends what was not confirmed and
 * reads stored reports back, and hosts never run a command twice.
 */
const FLAGS = ['--heartbeat-interval', '1s', '--offline-after', '3', '--metrics-interval', '2s'];
const NAMES = ['cp-1', 'cp-2', 'cp-3'];
const HOSTS = 200;
/** How long the command sleeps on each host: the kill lands while every host is in it. */
const SLEEP_S = 3;
/** All agents must be back on survivors within this, and no node may read OFFLINE longer. */
const FAILOVER_LIMIT_S = 15;

const cleanups = new Cleanups();
const cluster = new ReplicaCluster(cleanups, FLAGS);
const agents = new SimAgents();
let root: Ed25519KeyPair;
let markers = '';

beforeAll(async () => {
  assertBuilt();
  await cluster.create();
  // One after the other: the first migrates the database and makes the admin token.
  for (const name of NAMES) await cluster.start(name);
}, 90_000);
afterAll(async () => {
  await agents.stop();
  await cleanups.run();
}, 60_000);

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

async function replicasOf(r: Replica): Promise<ReplicaView[]> {
  const res = await r.api('GET', '/api/v1/replicas');
  if (res.status !== 200) throw new Error(`${r.name} GET /api/v1/replicas: ${res.status} ${res.text}`);
  return res.body.replicas as ReplicaView[];
}

interface NodeRow {
  id: string;
  hostname: string;
  status: string;
  connected: boolean;
}
async function nodesOf(api: ApiCall, query = ''): Promise<NodeRow[]> {
  const res = await api('GET', `/api/v1/nodes?limit=10000${query}`);
  if (res.status !== 200) throw new Error(`GET /api/v1/nodes: ${res.status} ${res.text}`);
  return res.body.items as NodeRow[];
}

/** Every simulated host's node listed READY and connected, and nothing else. */
async function allReady(api: ApiCall, ids: string[]): Promise<boolean> {
  const nodes = await nodesOf(api);
  return JSON.stringify(nodes.map((n) => n.id).sort()) === JSON.stringify(ids) && nodes.every((n) => n.status === 'READY' && n.connected);
}

/** Agents per replica name, as `r` lists them. */
async function heldBy(r: Replica): Promise<Record<string, number>> {
  return Object.fromEntries((await replicasOf(r)).map((x) => [x.name, x.agents]));
}

interface RunView {
  state: string;
  counts: Record<string, number>;
  targets: TargetView[];
}
async function runOf(r: Replica, runId: string): Promise<RunView> {
  const res = await r.api('GET', `/api/v1/runs/${runId}`);
  if (res.status !== 200) throw new Error(`${r.name} GET /api/v1/runs/${runId}: ${res.status} ${res.text}`);
  return res.body as RunView;
}
const isFinal = (t: TargetView) => (FINAL_TARGET_STATES as readonly string[]).includes(t.state);

/** Every output row of a run, through all pages. */
async function outputOf(r: Replica, runId: string): Promise<Array<{ nodeId: string; stream: string; data: string }>> {
  const rows: Array<{ nodeId: string; stream: string; data: string }> = [];
  let after: number | null = null;
  for (;;) {
    const res = await r.api('GET', `/api/v1/runs/${runId}/output?limit=1000${after === null ? '' : `&after=${after}`}`);
    if (res.status !== 200) throw new Error(`${r.name} GET output: ${res.status} ${res.text}`);
    rows.push(...res.body.items);
    after = res.body.next;
    if (after === null) return rows;
  }
}

/** Lines in a host's marker file (`<markers>/<hostname>/<file>`): how many times its command ran there. */
function markerLines(hostname: string, file: string): number {
  try {
    return readFileSync(join(markers, hostname, file), 'utf8')
      .split('\n')
      .filter((l) => l !== '').length;
  } catch {
    return 0; // never ran
  }
}

/**
 * Polls the survivors' OFFLINE nodes and keeps, per replica and node, how long each stretch
 * OFFLINE lasted (first to last poll that saw it, plus one poll interval).
 */
class OfflineWatch {
  private readonly open = new Map<string, number>();
  readonly stretches: Array<{ replica: string; nodeId: string; ms: number }> = [];
  private running = true;
  private readonly done: Promise<void>;
  private static readonly INTERVAL_MS = 200;

  constructor(private readonly replicas: Replica[]) {
    this.done = this.loop();
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const now = performance.now();
      await Promise.all(
        this.replicas.map(async (r) => {
          let offline: NodeRow[];
          try {
            offline = await nodesOf(r.api, '&status=OFFLINE');
          } catch {
            return; // a slow answer: the next poll sees it
          }
          const ids = new Set(offline.map((n) => `${r.name}|${n.id}`));
          for (const key of ids) if (!this.open.has(key)) this.open.set(key, now);
          for (const [key, since] of this.open) {
            if (!key.startsWith(`${r.name}|`) || ids.has(key)) continue;
            this.close(key, since, now);
          }
        }),
      );
      await sleep(OfflineWatch.INTERVAL_MS);
    }
  }

  private close(key: string, since: number, now: number): void {
    this.open.delete(key);
    const [replica, nodeId] = key.split('|') as [string, string];
    this.stretches.push({ replica, nodeId, ms: now - since + OfflineWatch.INTERVAL_MS });
  }

  /** Stops polling; stretches still open count up to now. */
  async stop(): Promise<void> {
    this.running = false;
    await this.done;
    const now = performance.now();
    for (const [key, since] of [...this.open]) this.close(key, since, now);
  }

  get longestMs(): number {
    return Math.max(0, ...this.stretches.map((s) => s.ms));
  }
}

/** Counts of the stored run reports per host and kind (agent events, as the store keeps them). */
async function storedReports(runId: string): Promise<Array<{ node_id: string; kind: string; n: number; ids: number }>> {
  const client = new pg.Client({ connectionString: cluster.storeUrl });
  await client.connect();
  try {
    const res = await client.query(
      `SELECT node_id, kind, count(*)::int AS n, count(DISTINCT id)::int AS ids FROM agent_events
        WHERE kind LIKE 'run-%' AND data::jsonb->>'runId' = $1 GROUP BY node_id, kind`,
      [runId],
    );
    return res.rows;
  } finally {
    await client.end();
  }
}

describe('e2e: a run across 200 hosts survives SIGKILL of a replica', () => {
  let nodeIds: string[] = [];

  it('200 simulated agents, joined with rotated replica lists, spread over the three replicas', async () => {
    const [r1] = cluster.replicas;
    root = generateEd25519();
    const init = await r1!.api('POST', '/api/v1/roots/init', { did: root.did });
    expect(init.status, init.text).toBe(201);
    // Each agent dials its own first choice (rendezvous order), so they spread over the three; the
    // rotated lists make the joins themselves go through every replica.
    const urls = cluster.replicas.map((r) => r.server.url);
    const tokens: string[] = [];
    for (let k = 0; k < urls.length; k++) {
      const rotated = [...urls.slice(k), ...urls.slice(0, k)];
      const created = await r1!.api('POST', '/api/v1/join-tokens', { description: `run failover e2e ${k}`, reusable: true, serverUrls: rotated });
      expect(created.status, created.text).toBe(201);
      tokens.push(created.body.token);
    }
    markers = mkdtempSync(join(tmpdir(), 'gpufleet-e2e-run-failover-'));
    cleanups.add('marker dir', () => rmSync(markers, { recursive: true, force: true }));
    const t0 = performance.now();
    const { startMs } = await agents.start({ tokens, count: HOSTS, hostPrefix: 'e2e-rf', seed: 'run-failover', exec: 'real', toolsDir: markers, gpuCount: 2 });
    const hosts = await agents.state();
    expect(hosts).toHaveLength(HOSTS);
    nodeIds = hosts.map((h) => h.nodeId).sort();
    for (const r of cluster.replicas) await waitFor(`${r.name}: ${HOSTS} nodes READY`, () => allReady(r.api, nodeIds), { timeoutMs: 30_000, intervalMs: 250 });
    for (const r of cluster.replicas) {
      await waitFor(`${r.name}: agents add up to ${HOSTS}`, async () => sum(Object.values(await heldBy(r))) === HOSTS, { timeoutMs: 10_000 });
    }
    const held = await heldBy(r1!);
    console.log(
      `run failover e2e: ${HOSTS} agents started in ${(startMs / 1000).toFixed(1)} s, all READY on every replica after ${((performance.now() - t0) / 1000).toFixed(1)} s; held: ${JSON.stringify(held)}`,
    );
    // Every replica holds a fair share (a third is about 67).
    for (const name of NAMES) expect(held[name], `agents on ${name}`).toBeGreaterThanOrEqual(40);
  }, 90_000);

  it('SIGKILL of the replica holding the most agents in the middle of a run: every host runs it once, every target succeeds', async () => {
    expect(nodeIds).toHaveLength(HOSTS);
    const held = await heldBy(cluster.replicas[0]!);
    const victimName = NAMES.reduce((a, b) => ((held[b] ?? 0) > (held[a] ?? 0) ? b : a));
    const victim = cluster.replicas.find((r) => r.name === victimName)!;
    const survivors = cluster.replicas.filter((r) => r !== victim);
    // A run followed by a replica that dies is not adopted by another (docs/design.md): send it through a survivor.
    const via = survivors[0]!;
    const other = survivors[1]!;
    const nameOf = (url: string) => cluster.replicas.find((r) => r.server.url === url)?.name ?? url;

    const command = signed(root, {
      target: 'simulated=true',
      command: { kind: 'argv', argv: ['sh', '-c', `echo x >> "\${PATH%%:*}/ran"; sleep ${SLEEP_S}; echo done`] },
      timeoutMs: 60_000,
    });
    const runId = command.payload.runId;
    const submittedAt = performance.now();
    const sent = await via.api('POST', '/api/v1/runs', { command });
    expect(sent.status, sent.text).toBe(201);
    expect(sent.body.targets).toHaveLength(HOSTS);
    // When the run first reads final on its replica, watched alongside the failover checks below.
    let finalAt: number | null = null;
    let watchingFinal = true;
    const finalWatch = (async () => {
      // Bounded, so a test that failed before it is told to stop does not poll a torn-down cluster for long.
      while (finalAt === null && performance.now() - submittedAt < 90_000) {
        const run = await runOf(via, runId).catch(() => null);
        if (run && run.targets.length === HOSTS && run.targets.every(isFinal)) finalAt = performance.now();
        else if (!watchingFinal) return;
        else await sleep(100);
      }
    })();

    // The kill lands once (nearly) every host has started the command, while all of them sleep.
    const atKill = await waitFor(
      'the run started on most hosts',
      async () => {
        const run = await runOf(via, runId);
        const started = run.targets.filter((t) => t.state === 'running' || isFinal(t)).length;
        return started >= HOSTS * 0.95 || performance.now() - submittedAt > (SLEEP_S - 1) * 1000 ? run : null;
      },
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    const hostsBefore = await agents.state();
    const onVictim = new Set(hostsBefore.filter((h) => h.url === victim.server.url).map((h) => h.nodeId));
    const watch = new OfflineWatch(survivors);
    const killedAt = performance.now();
    const killedAtEpoch = Date.now();
    expect((await victim.server.kill('SIGKILL')).signal).toBe('SIGKILL');
    const counts = (ts: TargetView[]) => ts.reduce<Record<string, number>>((acc, t) => ((acc[t.state] = (acc[t.state] ?? 0) + 1), acc), {});
    console.log(
      `run failover e2e: killed ${victim.name} (${onVictim.size} agents) ${((killedAt - submittedAt) / 1000).toFixed(2)} s after the submit; targets then ${JSON.stringify(counts(atKill.targets))}, of the killed replica's hosts ${JSON.stringify(counts(atKill.targets.filter((t) => onVictim.has(t.nodeId))))}`,
    );
    // The kill came in the middle: hosts of the killed replica were still at it.
    expect(atKill.targets.filter((t) => onVictim.has(t.nodeId) && !isFinal(t)).length).toBeGreaterThan(0);

    // Failover, as the agents see it: every one live again, on a survivor.
    await waitFor('every agent live on a survivor', async () => (await agents.state()).every((h) => h.link === 'live' && h.url !== victim.server.url), {
      timeoutMs: 30_000,
      intervalMs: 100,
    });
    const agentsBackS = (performance.now() - killedAt) / 1000;
    // ... and as the survivors see it: the killed replica gone, all 200 held by the two of them, every node READY.
    await waitFor(
      'the survivors hold every agent and list every node READY',
      async () => {
        for (const r of survivors) {
          const list = await replicasOf(r);
          if (list.some((x) => x.name === victim.name) || sum(list.map((x) => x.agents)) !== HOSTS) return false;
          if (!(await allReady(r.api, nodeIds))) return false;
        }
        return true;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    const failoverS = (performance.now() - killedAt) / 1000;
    const heldAfter = await heldBy(via);
    const hostsAfter = await agents.state();
    // Where the killed replica's agents went, and where the welcome list (replicaOrderFor) sends them:
    // the list the agent was welcomed with, the replica in use first, the rest in rotated order.
    const allUrls = cluster.replicas.map((r) => r.server.url);
    const movedTo: Record<string, number> = {};
    const predicted: Record<string, number> = {};
    const unexpected: string[] = [];
    for (const h of hostsAfter) {
      if (!onVictim.has(h.nodeId)) continue;
      const next = nameOf(replicaOrderFor(h.nodeId, allUrls).filter((u) => u !== victim.server.url)[0]!);
      movedTo[nameOf(h.url)] = (movedTo[nameOf(h.url)] ?? 0) + 1;
      predicted[next] = (predicted[next] ?? 0) + 1;
      if (next !== nameOf(h.url)) unexpected.push(`${h.hostname} on ${nameOf(h.url)}, not ${next}`);
    }
    console.log(
      `run failover e2e: failover of ${onVictim.size} agents from ${victim.name}: all agents live on survivors after ${agentsBackS.toFixed(2)} s, survivors agree (replica gone, ${HOSTS} held, all READY) after ${failoverS.toFixed(2)} s; the moved agents went to ${JSON.stringify(movedTo)} (replicaOrderFor predicts ${JSON.stringify(predicted)}); held now ${JSON.stringify(heldAfter)}`,
    );
    // Each moved agent dialed the next replica of its welcome list, and both survivors took some.
    expect(unexpected).toEqual([]);
    for (const r of survivors) expect(movedTo[r.name] ?? 0, `agents moved to ${r.name}`).toBeGreaterThan(0);
    expect(agentsBackS).toBeLessThan(FAILOVER_LIMIT_S);
    expect(failoverS).toBeLessThan(FAILOVER_LIMIT_S);
    // Only the killed replica's agents moved.
    for (const h of hostsAfter) if (!onVictim.has(h.nodeId)) expect(h.url, h.hostname).toBe(hostsBefore.find((b) => b.nodeId === h.nodeId)!.url);

    // The run: exactly 200 targets, every one final, as the following replica and the other survivor read it.
    let final = await runOf(via, runId);
    const finalBy = performance.now() + 30_000;
    while (!(final.targets.length === HOSTS && final.targets.every(isFinal)) && performance.now() < finalBy) {
      await sleep(200);
      final = await runOf(via, runId);
    }
    watchingFinal = false;
    await finalWatch;
    await watch.stop();
    const reports = await storedReports(runId);
    const agentsNow = await agents.state();
    const agentOf = (nodeId: string) => agentsNow.find((a) => a.nodeId === nodeId);
    // Targets the known product bug strands (see the skipped test at the end of this file): still
    // `sent`, the host never ran the command and reported nothing, and its agent is live again on
    // the survivor that does not follow the run. Anything else left open is a failure.
    const open = final.targets.filter((t) => !isFinal(t));
    const stranded = open.filter((t) => {
      const h = agentOf(t.nodeId);
      return (
        t.state === 'sent' &&
        markerLines(t.hostname, 'ran') === 0 &&
        !reports.some((r) => r.node_id === t.nodeId) &&
        h?.link === 'live' &&
        h.url !== via.server.url &&
        h.welcomes > 1
      );
    });
    const unexplained = open.filter((t) => !stranded.includes(t));
    if (unexplained.length > 0) {
      const lines = unexplained.map((t) => {
        const h = agentOf(t.nodeId);
        const stored = reports.filter((r) => r.node_id === t.nodeId).map((r) => `${r.kind} x${r.n}`);
        const then = atKill.targets.find((x) => x.nodeId === t.nodeId)?.state;
        const welcomed = h && h.lastWelcomeAt > 0 ? `${((h.lastWelcomeAt - killedAtEpoch) / 1000).toFixed(2)} s after the kill` : 'never';
        return `${t.hostname} ${t.nodeId}: ${t.state} (at the kill: ${then}, on ${onVictim.has(t.nodeId) ? 'the killed replica' : 'a survivor'}; now on ${nameOf(h?.url ?? '')} ${h?.link}, ${h?.welcomes} welcome(s) in ${h?.dials} dial(s), the last ${welcomed}, outbox ${h?.outbox}); ran ${markerLines(t.hostname, 'ran')} time(s); stored [${stored.join(', ')}]`;
      });
      const logs = survivors.map((r) => `--- ${r.name} (${r.server.url}) output, last 3000 chars:\n${r.server.output.slice(-3000)}`);
      throw new Error(
        `run ${runId}: ${unexplained.length} target(s) not final 30 s after the failover: counts ${JSON.stringify(final.counts)}\n${lines.join('\n')}\n${logs.join('\n')}`,
      );
    }
    // Stranded by a resend that went by a stale session owner (fixed: noteHolder): none may be left.
    expect(stranded.map((t) => `${t.hostname} on ${nameOf(agentOf(t.nodeId)!.url)}`)).toEqual([]);
    const done = final.targets.filter((t) => !stranded.includes(t));
    const offlineNodes = new Set(watch.stretches.map((s) => s.nodeId));
    console.log(
      `run failover e2e: run ${finalAt === null ? 'not final' : `final ${((finalAt - submittedAt) / 1000).toFixed(2)} s after the submit (${((finalAt - killedAt) / 1000).toFixed(2)} s after the kill)`}: ${JSON.stringify(final.counts)}; OFFLINE on survivors: ${offlineNodes.size} node(s) (${[...offlineNodes].filter((id) => onVictim.has(id)).length} of them moved), longest ${(watch.longestMs / 1000).toFixed(2)} s`,
    );
    expect(final.targets.map((t) => t.nodeId).sort()).toEqual(nodeIds);
    const notOk = done.filter((t) => t.state !== 'succeeded' || t.exitCode !== 0);
    expect(notOk.map((t) => `${t.hostname}: ${t.state} ${t.exitCode} ${t.reason ?? ''}`)).toEqual([]);
    if (stranded.length === 0) {
      expect(final.state).toBe('succeeded');
      const stored = await waitFor(
        `${other.name} reads run ${runId} final from the store`,
        async () => {
          const run = await runOf(other, runId);
          return run.targets.length === HOSTS && run.targets.every((t) => t.state === 'succeeded') ? run : null;
        },
        { timeoutMs: 10_000, intervalMs: 200 },
      );
      expect(stored.state).toBe('succeeded');
    }

    // No node read OFFLINE on a survivor for as long as the failover limit (ideally not at all).
    expect(watch.longestMs / 1000).toBeLessThan(FAILOVER_LIMIT_S);
    for (const r of survivors)
      expect(
        (await nodesOf(r.api, '&status=OFFLINE')).map((n) => n.hostname),
        `${r.name}: OFFLINE now`,
      ).toEqual([]);

    // Ran exactly once on every host: the marker each host's command appends to holds one line.
    expect(done.map((t) => ({ host: t.hostname, times: markerLines(t.hostname, 'ran') })).filter((r) => r.times !== 1)).toEqual([]);
    const doneIds = done.map((t) => t.nodeId).sort();
    // Output stored once per host: one `done` each, through every page.
    const output = await outputOf(via, runId);
    const byNode = new Map<string, string>();
    for (const o of output) byNode.set(o.nodeId, (byNode.get(o.nodeId) ?? '') + o.data);
    expect([...byNode.keys()].sort()).toEqual(doneIds);
    expect([...byNode.entries()].filter(([, text]) => text !== 'done\n')).toEqual([]);
    // Every host's run reports are in the store once: one run-started per host, no outbox item stored twice.
    const startedRows = reports.filter((r) => r.kind === 'run-started');
    expect(startedRows.map((r) => r.node_id).sort()).toEqual(doneIds);
    expect(startedRows.filter((r) => r.n !== 1)).toEqual([]);
    expect(reports.filter((r) => r.n !== r.ids)).toEqual([]);
    const results = reports.filter((r) => r.kind === 'run-result');
    expect(results.map((r) => r.node_id).sort()).toEqual(doneIds);
    const again = results.filter((r) => r.n > 1);
    console.log(
      `run failover e2e: stored run reports by kind: ${JSON.stringify(reports.reduce<Record<string, number>>((acc, r) => ((acc[r.kind] = (acc[r.kind] ?? 0) + r.n), acc), {}))}; hosts that reported their stored result again after a resend: ${again.length}`,
    );
    // Every agent's outbox emptied: everything it reported was acknowledged by a survivor.
    await waitFor('every outbox empty', async () => (await agents.state()).every((h: SimAgentState) => h.outbox === 0), { timeoutMs: 15_000, intervalMs: 200 });
  }, 120_000);
});

/*
 * Commands in flight to a replica that freezes (SIGSTOP) and then dies: the replica following the
 * run sends them again when each host's session is ready on another replica, and that resend must
 * go to the new holder. The new holder's session-ready message can arrive before its ownership
 * claim, while the frozen replica is still listed; the follower believes the message
 * (session-owners.ts noteHolder). Before that fix every host that moved to the third replica kept
 * its target `sent` until the run's deadline.
 */
describe('e2e: commands in flight to a replica that freezes, then dies', () => {
  it('every host runs the command once the agents are on the survivors (the resend goes to the new holder)', async () => {
    const local = new Cleanups();
    const frozenCluster = new ReplicaCluster(local, FLAGS);
    const sims = new SimAgents();
    try {
      await frozenCluster.create();
      for (const name of NAMES) await frozenCluster.start(name);
      const [victim, via, third] = frozenCluster.replicas as [Replica, Replica, Replica];
      const key = generateEd25519();
      expect((await victim.api('POST', '/api/v1/roots/init', { did: key.did })).status).toBe(201);
      const urls = frozenCluster.replicas.map((r) => r.server.url);
      const tokens: string[] = [];
      for (let k = 0; k < urls.length; k++) {
        const created = await victim.api('POST', '/api/v1/join-tokens', { reusable: true, serverUrls: [...urls.slice(k), ...urls.slice(0, k)] });
        expect(created.status, created.text).toBe(201);
        tokens.push(created.body.token);
      }
      const dir = mkdtempSync(join(tmpdir(), 'gpufleet-e2e-frozen-'));
      local.add('marker dir', () => rmSync(dir, { recursive: true, force: true }));
      const count = 45;
      await sims.start({ tokens, count, hostPrefix: 'e2e-frozen', seed: 'run-failover-frozen', exec: 'real', toolsDir: dir, gpuCount: 1 });
      const ids = (await sims.state()).map((h) => h.nodeId).sort();
      await waitFor('all READY', () => allReady(via.api, ids), { timeoutMs: 30_000, intervalMs: 250 });
      const onVictim = new Set((await sims.state()).filter((h) => h.url === victim.server.url).map((h) => h.nodeId));

      // Frozen: the follower relays the command to it for its hosts, and it never hands it on.
      const proc = (victim.server as unknown as { proc: { kill(signal: NodeJS.Signals): boolean } }).proc;
      proc.kill('SIGSTOP');
      const command = signed(key, { target: 'simulated=true', command: { kind: 'argv', argv: ['sh', '-c', 'echo x >> "${PATH%%:*}/ran"; echo done'] } });
      const sent = await via.api('POST', '/api/v1/runs', { command });
      expect(sent.status, sent.text).toBe(201);
      await sleep(500);
      proc.kill('SIGKILL');
      await victim.server.kill('SIGKILL');
      await waitFor('every agent live on a survivor', async () => (await sims.state()).every((h) => h.link === 'live' && h.url !== victim.server.url), {
        timeoutMs: 30_000,
      });
      const moved = (await sims.state()).filter((h) => onVictim.has(h.nodeId));
      // Some of the frozen replica's agents went to the replica that does not follow the run.
      expect(moved.filter((h) => h.url === third.server.url).length).toBeGreaterThan(0);
      const run = await waitFor(
        'every target final',
        async () => {
          const r = await runOf(via, command.payload.runId);
          return r.targets.every(isFinal) ? r : null;
        },
        { timeoutMs: 20_000, intervalMs: 250 },
      ).catch(() => runOf(via, command.payload.runId));
      // Today: the hosts that moved to `third` stay `sent` and never run the command.
      expect(run.targets.filter((t) => t.state !== 'succeeded').map((t) => `${t.hostname}: ${t.state}`)).toEqual([]);
    } finally {
      await sims.stop();
      await local.run();
    }
  }, 120_000);
});
