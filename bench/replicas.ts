// Replicas benchmark (issue 13): for each replica count, that many `gpufleet server` processes (the
// built CLI) on one fresh PostgreSQL database and their own NATS namespace, and N simulated agents
// (one child process: the real Agent on fake hardware, 8 GPUs each) joined with one token listing
// every replica (each agent picks its own first choice, so they spread). Measures, per step:
// agents held per replica; ingest lag (each replica's gpufleet_ingest_lag_seconds histogram, its
// growth over a steady window) and CPU per replica; fan-out runs (`echo ok` to every host, signed
// with the fleet root) through one replica, POST to the run final; and with more than one replica,
// failover: a run of `sleep 2` to every host, then SIGKILL of the replica holding the most agents
// (not the one following the run) while the hosts sleep: the time until every agent is live on a
// survivor, until the survivors hold them all, until the dead replica leaves their lists, and what
// was lost (targets not succeeded, agents not back). Database, namespace and processes are removed
// after each step. Prints a table; writes bench/results/replicas-<N>.json.
//   npm run bench -- replicas --replicas 1,2,3 --agents N [--duration 30s] [--runs 5]
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { generateEd25519, parseDurationMs, signCommand, type CommandPayload, type Ed25519KeyPair, type ReplicaView } from '@gpufleet/protocol';
import { ReplicaCluster, type Replica } from '../test/e2e/replicas/replica-cluster.js';
import { SimAgents } from '../test/e2e/replicas/sim-agents.js';
import { Cleanups } from '../test/e2e/support/cleanups.js';
import { promSamples } from '../test/e2e/support/prometheus-text.js';
import { machineInfo, percentile, round, sleep } from './support.js';

const here = dirname(fileURLToPath(import.meta.url));
const LAG = 'gpufleet_ingest_lag_seconds';

interface Options {
  agents: number;
  durationMs: number;
  runs: number;
  gpus: number;
  heartbeat: string;
  metricsInterval: string;
  seed: string;
  timeoutS: number;
}

/** A histogram read from /metrics: upper bounds (Infinity last) and cumulative counts. */
interface Histogram {
  bounds: number[];
  cumulative: number[];
}

interface Scrape {
  lag: Histogram;
  cpuSeconds: number;
  rssBytes: number;
  heapBytes: number;
  /** Ring bytes of the metric store: the nodes this replica holds (or held within the retention). */
  ringBytes: number;
  /** Nodes held elsewhere, of which only the latest sample is kept. */
  remoteNodes: number;
  frames: number;
}

interface StepResult {
  replicas: number;
  agents: number;
  connectSeconds: number;
  heldPerReplica: Record<string, number>;
  ingest: {
    windowSeconds: number;
    framesPerSecond: number;
    lagP50Ms: number | null;
    lagP99Ms: number | null;
    lagP99BucketMs: string;
    perReplica: Record<
      string,
      { lagP99Ms: number | null; cpuPercent: number; rssMiB: number; heapMiB: number; ringMiB: number; remoteNodes: number; framesPerSecond: number }
    >;
  };
  agentsProcessCpuPercent: number | null;
  loadAverage: number[];
  fanout: { via: string; runs: number; submitMsP50: number; allResultsMsP50: number; allResultsMsMax: number; samplesMs: number[]; allSucceeded: boolean };
  failover: null | {
    killed: string;
    agentsOnKilled: number;
    /** Kill to every agent live on a survivor (the agents' own view). */
    agentsBackSeconds: number | null;
    /** Kill to the survivors' own session counts adding up to every agent. */
    heldBySurvivorsSeconds: number | null;
    /** Kill to the killed replica gone from every survivor's list (its entry's TTL, 3 heartbeats). */
    droppedFromListSeconds: number | null;
    movedTo: Record<string, number>;
    /** Kill to each moved agent's welcome on a survivor: p50 / p90 / max, seconds. */
    perAgentSeconds: { p50: number; p90: number; max: number } | null;
    runFinalSeconds: number | null;
    targetsNotSucceeded: number;
    agentsNotBack: number;
    nodesSeenOffline: number;
  };
}

export async function runReplicasBench(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      replicas: { type: 'string', default: '1,2,3' },
      agents: { type: 'string', default: '300' },
      duration: { type: 'string', default: '30s' },
      runs: { type: 'string', default: '5' },
      gpus: { type: 'string', default: '8' },
      heartbeat: { type: 'string', default: '5s' },
      'metrics-interval': { type: 'string', default: '10s' },
      seed: { type: 'string', default: '1' },
      timeout: { type: 'string', default: '120' },
    },
  });
  const counts = values.replicas!.split(',').map((x) => Number(x.trim()));
  if (counts.length === 0 || counts.some((n) => !Number.isInteger(n) || n < 1 || n > 16))
    throw new Error(`--replicas must be a comma-separated list of counts from 1 to 16, got '${values.replicas}'`);
  const o: Options = {
    agents: Number(values.agents),
    durationMs: parseDurationMs(values.duration!),
    runs: Number(values.runs),
    gpus: Number(values.gpus),
    heartbeat: values.heartbeat!,
    metricsInterval: values['metrics-interval']!,
    seed: values.seed!,
    timeoutS: Number(values.timeout),
  };
  if (!Number.isInteger(o.agents) || o.agents < 1 || o.agents > 100_000) throw new Error(`--agents must be from 1 to 100000, got '${values.agents}'`);
  if (!Number.isInteger(o.runs) || o.runs < 1 || o.runs > 100) throw new Error(`--runs must be from 1 to 100, got '${values.runs}'`);
  if (!Number.isInteger(o.gpus) || o.gpus < 1 || o.gpus > 64) throw new Error(`--gpus must be from 1 to 64, got '${values.gpus}'`);
  if (!Number.isFinite(o.timeoutS) || o.timeoutS <= 0) throw new Error(`--timeout must be seconds, got '${values.timeout}'`);
  parseDurationMs(o.heartbeat);
  parseDurationMs(o.metricsInterval);

  console.log(
    `replicas bench: ${counts.join(', ')} replica(s), ${o.agents} agents x ${o.gpus} GPUs, heartbeat ${o.heartbeat}, metrics every ${o.metricsInterval}, ${o.durationMs / 1000} s measured, ${o.runs} fan-out runs`,
  );
  const steps: StepResult[] = [];
  for (const k of counts) steps.push(await step(k, o));

  const table: Record<string, Record<string, string | number>> = {};
  for (const s of steps) {
    const f = s.failover;
    table[`${s.replicas} replica${s.replicas === 1 ? '' : 's'}`] = {
      'agents held': Object.values(s.heldPerReplica).join(' / '),
      connect: `${s.connectSeconds} s`,
      'frames/s': s.ingest.framesPerSecond,
      'lag p50': s.ingest.lagP50Ms === null ? '-' : `${s.ingest.lagP50Ms} ms`,
      'lag p99': s.ingest.lagP99Ms === null ? '-' : `${s.ingest.lagP99Ms} ms (${s.ingest.lagP99BucketMs})`,
      'CPU per replica': Object.values(s.ingest.perReplica)
        .map((r) => `${r.cpuPercent}%`)
        .join(' / '),
      'rings MiB per replica': Object.values(s.ingest.perReplica)
        .map((r) => r.ringMiB)
        .join(' / '),
      'RSS MiB per replica': Object.values(s.ingest.perReplica)
        .map((r) => r.rssMiB)
        .join(' / '),
      'fan-out p50 / max': `${s.fanout.allResultsMsP50} / ${s.fanout.allResultsMsMax} ms`,
      'failover: agents back': f?.agentsBackSeconds == null ? '-' : `${f.agentsBackSeconds} s (${f.agentsOnKilled} from ${f.killed})`,
      'failover per agent p50 / p90': f?.perAgentSeconds ? `${f.perAgentSeconds.p50} / ${f.perAgentSeconds.p90} s` : '-',
      'failover: held by survivors': f?.heldBySurvivorsSeconds == null ? '-' : `${f.heldBySurvivorsSeconds} s`,
      'failover: dropped from lists': f?.droppedFromListSeconds == null ? '-' : `${f.droppedFromListSeconds} s`,
      lost: f ? `${f.targetsNotSucceeded} targets, ${f.agentsNotBack} agents` : '-',
    };
  }
  console.table(table);
  const result = {
    bench: 'replicas',
    at: new Date().toISOString(),
    machine: machineInfo(),
    agents: o.agents,
    gpusPerAgent: o.gpus,
    heartbeat: o.heartbeat,
    metricsInterval: o.metricsInterval,
    durationSeconds: o.durationMs / 1000,
    store: 'postgres',
    bus: 'nats',
    steps,
  };
  mkdirSync(join(here, 'results'), { recursive: true });
  const file = join(here, 'results', `replicas-${o.agents}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`written ${file}`);
}

async function step(k: number, o: Options): Promise<StepResult> {
  console.log(`\n== ${k} replica${k === 1 ? '' : 's'} ==`);
  const cleanups = new Cleanups();
  const agents = new SimAgents();
  try {
    const cluster = new ReplicaCluster(cleanups, ['--heartbeat-interval', o.heartbeat, '--offline-after', '3', '--metrics-interval', o.metricsInterval]);
    await cluster.create();
    // One after the other: the first migrates the database and makes the admin token.
    for (let i = 1; i <= k; i++) await cluster.start(`cp-${i}`);
    const replicas = cluster.replicas;
    for (const r of replicas) await until(`${r.name} sees ${k} replicas`, async () => (await replicasOf(r)).filter((x) => x.url !== '').length === k, 30_000);
    const r1 = replicas[0]!;
    const root = generateEd25519();
    const init = await r1.api('POST', '/api/v1/roots/init', { did: root.did });
    if (init.status !== 201) throw new Error(`roots/init answered ${init.status}: ${init.text}`);
    // One token listing every replica, as an operator makes it: each agent dials its own first
    // choice (rendezvous order of node id and URL), so they spread over the replicas by themselves.
    const urls = replicas.map((r) => r.server.url);
    const created = await r1.api('POST', '/api/v1/join-tokens', { description: 'replicas bench', reusable: true, serverUrls: urls });
    if (created.status !== 201) throw new Error(`join-tokens answered ${created.status}: ${created.text}`);
    const tokens: string[] = [created.body.token];

    const t0 = performance.now();
    await agents.start({ tokens, count: o.agents, hostPrefix: 'bench-rep', seed: `replicas-${o.seed}`, exec: 'sim', gpuCount: o.gpus }, 20 * 60_000);
    let lastPrint = performance.now();
    await until(
      `${o.agents} agents held and READY`,
      async () => {
        const held = sum(await Promise.all(replicas.map(async (r) => (await replicasOf(r))[0]!.agents)));
        if (performance.now() - lastPrint > 5000) {
          lastPrint = performance.now();
          console.log(`  connecting: ${held}/${o.agents} sessions (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
        }
        return held === o.agents && (await readyCount(r1)) === o.agents;
      },
      20 * 60_000,
      250,
    );
    const connectSeconds = round((performance.now() - t0) / 1000);
    const heldPerReplica: Record<string, number> = {};
    for (const r of replicas) heldPerReplica[r.name] = (await replicasOf(r))[0]!.agents;
    console.log(`  ${o.agents} agents held and READY in ${connectSeconds} s: ${JSON.stringify(heldPerReplica)}`);

    // Steady state: the lag histograms' growth over the window, CPU per replica.
    await sleep(parseDurationMs(o.metricsInterval));
    const before = await Promise.all(replicas.map(scrape));
    const agentsCpu0 = processCpuSeconds(agents.pid);
    const w0 = performance.now();
    await sleep(o.durationMs);
    const after = await Promise.all(replicas.map(scrape));
    const windowSeconds = (performance.now() - w0) / 1000;
    const agentsCpu1 = processCpuSeconds(agents.pid);
    const perReplica: StepResult['ingest']['perReplica'] = {};
    const merged: Histogram = { bounds: before[0]!.lag.bounds, cumulative: before[0]!.lag.bounds.map(() => 0) };
    let frames = 0;
    replicas.forEach((r, i) => {
      const lag = delta(after[i]!.lag, before[i]!.lag);
      lag.cumulative.forEach((c, j) => (merged.cumulative[j]! += c));
      const f = after[i]!.frames - before[i]!.frames;
      frames += f;
      perReplica[r.name] = {
        lagP99Ms: msOrNull(quantile(lag, 0.99)),
        cpuPercent: round(((after[i]!.cpuSeconds - before[i]!.cpuSeconds) / windowSeconds) * 100),
        rssMiB: round(after[i]!.rssBytes / 2 ** 20),
        heapMiB: round(after[i]!.heapBytes / 2 ** 20),
        ringMiB: round(after[i]!.ringBytes / 2 ** 20),
        remoteNodes: after[i]!.remoteNodes,
        framesPerSecond: round(f / windowSeconds),
      };
    });
    const p99 = quantile(merged, 0.99);
    const ingest: StepResult['ingest'] = {
      windowSeconds: round(windowSeconds),
      framesPerSecond: round(frames / windowSeconds),
      lagP50Ms: msOrNull(quantile(merged, 0.5)),
      lagP99Ms: msOrNull(p99),
      lagP99BucketMs: bucketOf(merged, 0.99),
      perReplica,
    };
    const agentsProcessCpuPercent = agentsCpu0 === null || agentsCpu1 === null ? null : round(((agentsCpu1 - agentsCpu0) / windowSeconds) * 100);
    console.log(
      `  steady ${ingest.windowSeconds} s: ${ingest.framesPerSecond} frames/s, lag p50 ${ingest.lagP50Ms} ms, p99 ${ingest.lagP99Ms} ms (${ingest.lagP99BucketMs}); per replica ${JSON.stringify(perReplica)}; agents process ${agentsProcessCpuPercent}% CPU`,
    );

    // Fan-out through the first replica: POST to the run final, `echo ok` on every host.
    const samples: Array<{ submitMs: number; allMs: number; ok: boolean }> = [];
    for (let i = 0; i <= o.runs; i++) {
      const r = await fanout(r1, root, o, ['echo', 'ok']);
      if (i > 0) samples.push(r); // the first is a warm-up
      console.log(
        `  fan-out ${i === 0 ? 'warm-up' : `run ${i}`}: ${round(r.allMs)} ms to all results (POST answered in ${round(r.submitMs)} ms)${r.ok ? '' : ` NOT ALL OK: ${r.problem}`}`,
      );
      await sleep(500);
    }
    const times = samples.map((s) => s.allMs).sort((a, b) => a - b);
    const fan: StepResult['fanout'] = {
      via: r1.name,
      runs: samples.length,
      submitMsP50: round(
        percentile(
          samples.map((s) => s.submitMs).sort((a, b) => a - b),
          50,
        ),
      ),
      allResultsMsP50: round(percentile(times, 50)),
      allResultsMsMax: round(times.at(-1)!),
      samplesMs: samples.map((s) => round(s.allMs)),
      allSucceeded: samples.every((s) => s.ok),
    };

    const failover = k > 1 ? await failoverOf(cluster, r1, agents, root, o) : null;
    return {
      replicas: k,
      agents: o.agents,
      connectSeconds,
      heldPerReplica,
      ingest,
      agentsProcessCpuPercent,
      loadAverage: loadavg().map(round),
      fanout: fan,
      failover,
    };
  } finally {
    await agents.stop();
    await cleanups.run();
  }
}

/**
 * A run of `sleep 2` to every host through `via`; one second in, SIGKILL of the replica holding
 * the most agents among the others. Times the failover three ways and counts what was lost.
 */
async function failoverOf(
  cluster: ReplicaCluster,
  via: Replica,
  agents: SimAgents,
  root: Ed25519KeyPair,
  o: Options,
): Promise<NonNullable<StepResult['failover']>> {
  const held = new Map<Replica, number>();
  for (const r of cluster.replicas) held.set(r, (await replicasOf(r))[0]!.agents);
  const victim = cluster.replicas.filter((r) => r !== via).sort((a, b) => held.get(b)! - held.get(a)!)[0]!;
  const survivors = cluster.replicas.filter((r) => r !== victim);
  const command = signedCommand(root, ['sleep', '2'], o.timeoutS);
  const sent = await via.api('POST', '/api/v1/runs', { command });
  if (sent.status !== 201) throw new Error(`POST /api/v1/runs answered ${sent.status}: ${sent.text}`);
  const runId = command.payload.runId;
  await sleep(1000);
  const onVictim = new Set((await agents.state()).filter((h) => h.url === victim.server.url).map((h) => h.nodeId));
  const offline = new Set<string>();
  let watching = true;
  const watch = (async () => {
    while (watching) {
      for (const r of survivors) {
        const res = await r.api('GET', '/api/v1/nodes?status=OFFLINE&limit=10000').catch(() => null);
        for (const n of (res?.body?.items ?? []) as Array<{ id: string }>) offline.add(n.id);
      }
      await sleep(500);
    }
  })();
  const killedAt = performance.now();
  const killedAtEpoch = Date.now();
  await victim.server.kill('SIGKILL');
  console.log(`  failover: SIGKILL ${victim.name} (${held.get(victim)} agents) 1 s into a run of \`sleep 2\` on every host, followed by ${via.name}`);
  const since = () => round((performance.now() - killedAt) / 1000);
  let agentsBack: number | null = null;
  let heldBySurvivors: number | null = null;
  let dropped: number | null = null;
  let runFinal: number | null = null;
  const deadline = killedAt + o.timeoutS * 1000;
  // One loop for all four, so that none is measured only after another is known.
  while ((agentsBack === null || heldBySurvivors === null || dropped === null || runFinal === null) && performance.now() < deadline) {
    if (agentsBack === null && (await agents.state()).every((h) => h.link === 'live' && h.url !== victim.server.url)) agentsBack = since();
    const lists = await Promise.all(survivors.map((r) => replicasOf(r).catch(() => [] as ReplicaView[])));
    if (heldBySurvivors === null && sum(lists.map((l) => l[0]?.agents ?? 0)) === o.agents) heldBySurvivors = since();
    if (dropped === null && lists.every((l) => l.length > 0 && !l.some((x) => x.name === victim.name))) dropped = since();
    if (runFinal === null) {
      const list = await via.api('GET', '/api/v1/runs?limit=5').catch(() => null);
      const item = (list?.body?.items ?? []).find((x: { id: string }) => x.id === runId);
      if (item && item.state !== 'running') runFinal = since();
    }
    await sleep(100);
  }
  watching = false;
  await watch;
  const view = (await via.api('GET', `/api/v1/runs/${runId}`)).body as { targets: Array<{ state: string }> };
  const state = await agents.state();
  const movedTo: Record<string, number> = {};
  for (const h of state) {
    if (!onVictim.has(h.nodeId)) continue;
    const name = cluster.replicas.find((r) => r.server.url === h.url)?.name ?? h.url;
    movedTo[name] = (movedTo[name] ?? 0) + 1;
  }
  const perAgent = state
    .filter((h) => onVictim.has(h.nodeId) && h.lastWelcomeAt >= killedAtEpoch)
    .map((h) => (h.lastWelcomeAt - killedAtEpoch) / 1000)
    .sort((a, b) => a - b);
  const survivorHeld = sum(await Promise.all(survivors.map(async (r) => (await replicasOf(r))[0]!.agents)));
  const result = {
    killed: victim.name,
    agentsOnKilled: onVictim.size,
    agentsBackSeconds: agentsBack,
    heldBySurvivorsSeconds: heldBySurvivors,
    droppedFromListSeconds: dropped,
    movedTo,
    perAgentSeconds:
      perAgent.length === 0 ? null : { p50: round(percentile(perAgent, 50)), p90: round(percentile(perAgent, 90)), max: round(perAgent.at(-1)!) },
    runFinalSeconds: runFinal,
    targetsNotSucceeded: view.targets.filter((t) => t.state !== 'succeeded').length + (o.agents - view.targets.length),
    agentsNotBack: o.agents - survivorHeld,
    nodesSeenOffline: offline.size,
  };
  console.log(`  failover: ${JSON.stringify(result)}`);
  return result;
}

function signedCommand(root: Ed25519KeyPair, argv: string[], timeoutS: number) {
  const payload: CommandPayload = {
    v: 1,
    runId: `bench-${randomBytes(8).toString('hex')}`,
    nonce: randomBytes(16).toString('hex'),
    issuedAt: Date.now(),
    ability: 'exec/run',
    target: 'simulated=true',
    command: { kind: 'argv', argv },
    env: {},
    cwd: null,
    timeoutMs: timeoutS * 1000,
    runAs: null,
    invoker: root.did,
    capability: null,
  };
  return signCommand(payload, root.privateKeyPem);
}

/** One fan-out run: POST to the run no longer running (polling the run list, which carries no targets). */
async function fanout(
  via: Replica,
  root: Ed25519KeyPair,
  o: Options,
  argv: string[],
): Promise<{ submitMs: number; allMs: number; ok: boolean; problem: string | null }> {
  const command = signedCommand(root, argv, o.timeoutS);
  const runId = command.payload.runId;
  const t0 = performance.now();
  const sent = await via.api('POST', '/api/v1/runs', { command });
  const submitMs = performance.now() - t0;
  if (sent.status !== 201) throw new Error(`POST /api/v1/runs answered ${sent.status}: ${sent.text}`);
  if (sent.body.targets.length !== o.agents) throw new Error(`the run has ${sent.body.targets.length} targets, expected ${o.agents}`);
  const item = await until(
    `run ${runId} final`,
    async () => {
      const list = await via.api('GET', '/api/v1/runs?limit=5');
      const found = (list.body?.items ?? []).find((x: { id: string }) => x.id === runId);
      return found && found.state !== 'running' ? found : null;
    },
    o.timeoutS * 1000,
    20,
  );
  const allMs = performance.now() - t0;
  const ok = (item.counts?.succeeded ?? 0) === o.agents;
  return { submitMs, allMs, ok, problem: ok ? null : JSON.stringify(item.counts) };
}

async function replicasOf(r: Replica): Promise<ReplicaView[]> {
  const res = await r.api('GET', '/api/v1/replicas');
  if (res.status !== 200) throw new Error(`${r.name} GET /api/v1/replicas: ${res.status} ${res.text}`);
  return res.body.replicas as ReplicaView[];
}

async function readyCount(r: Replica): Promise<number> {
  const res = await r.api('GET', '/api/v1/nodes?status=READY&limit=1');
  return res.status === 200 ? (res.body.total as number) : -1;
}

async function scrape(r: Replica): Promise<Scrape> {
  const res = await r.api('GET', '/metrics');
  if (res.status !== 200) throw new Error(`${r.name} GET /metrics: ${res.status}`);
  const text = res.text;
  const buckets = promSamples(text, `${LAG}_bucket`).map((s) => ({
    le: s.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(s.labels.le),
    value: s.value,
  }));
  buckets.sort((a, b) => a.le - b.le);
  const one = (name: string) => promSamples(text, name)[0]?.value ?? 0;
  return {
    lag: { bounds: buckets.map((b) => b.le), cumulative: buckets.map((b) => b.value) },
    cpuSeconds: one('process_cpu_seconds_total'),
    rssBytes: one('process_resident_memory_bytes'),
    heapBytes: one('process_heap_bytes'),
    ringBytes: one('gpufleet_metric_store_bytes'),
    remoteNodes: one('gpufleet_metric_store_remote_nodes'),
    frames: sum(promSamples(text, 'gpufleet_frames_total').map((s) => s.value)),
  };
}

function delta(a: Histogram, b: Histogram): Histogram {
  return { bounds: a.bounds, cumulative: a.cumulative.map((c, i) => c - (b.cumulative[i] ?? 0)) };
}

/** histogram_quantile as Prometheus computes it: linear within the bucket; Infinity past the last bound. */
function quantile(h: Histogram, q: number): number | null {
  const total = h.cumulative.at(-1) ?? 0;
  if (total === 0) return null;
  const rank = q * total;
  const i = h.cumulative.findIndex((c) => c >= rank);
  const upper = h.bounds[i]!;
  if (!Number.isFinite(upper)) return h.bounds[i - 1] ?? Number.POSITIVE_INFINITY;
  const lower = i === 0 ? 0 : h.bounds[i - 1]!;
  const below = i === 0 ? 0 : h.cumulative[i - 1]!;
  const inBucket = h.cumulative[i]! - below;
  return lower + (upper - lower) * (inBucket === 0 ? 1 : (rank - below) / inBucket);
}

/** The bucket the quantile falls in, as text: `<= 25 ms`. */
function bucketOf(h: Histogram, q: number): string {
  const total = h.cumulative.at(-1) ?? 0;
  if (total === 0) return 'no samples';
  const i = h.cumulative.findIndex((c) => c >= q * total);
  const upper = h.bounds[i]!;
  return Number.isFinite(upper) ? `<= ${upper * 1000} ms` : `> ${h.bounds[i - 1]! * 1000} ms`;
}

function msOrNull(seconds: number | null): number | null {
  return seconds === null ? null : round(seconds * 1000);
}

/** CPU seconds (user + system) of a process from /proc; null where /proc is not there. */
function processCpuSeconds(pid: number | null): number | null {
  if (pid === null) return null;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // utime and stime are fields 14 and 15 of the whole line, in clock ticks (100 a second on Linux).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

async function until<T>(what: string, probe: () => Promise<T>, timeoutMs: number, intervalMs = 100): Promise<NonNullable<T>> {
  const deadline = performance.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await sleep(intervalMs);
  }
}
