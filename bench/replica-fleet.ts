// Replica-fleet benchmark (issue 13): what ONE control-plane replica costs when the fleet is far
// larger than what it holds. A replica holds only its share of agent sessions, but it still hears
// every node's latest metric sample over NATS, keeps every node in its registry, evaluates alerts
// over all of them and answers lists for the whole fleet. N real agents do not fit on this machine,
// so a phantom replica (bench/phantom-replica.ts, a child process) plays all the other replicas:
// it holds every session on paper and publishes every node's samples at the product rate, while one
// real `gpufleet server` (the built CLI, holding no session) is measured: start-up with N nodes in
// the store and N session owners in the bucket; CPU, memory and loop stalls over a steady window
// (its own /metrics, /healthz); how late it applies samples and whether any are lost; the reads the
// dashboard makes. Database, namespace and processes are removed afterwards. Prints a table; writes
// bench/results/replica-fleet-<N>-<relay>.json.
//   npm run bench -- replica-fleet --nodes 100000 [--gpus 8] [--metrics-interval 10s] [--duration 60s] [--relay batch|per-node] [--cpu-prof DIR]
// --relay per-node sends one message per sample, as replicas did before batches (commit 201bcc3):
// only a server built from before that hears it.
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { didKeyFromEd25519, gpuInfoOf, parseDurationMs, type FleetHeatmap, type NodeView } from '@gpufleet/protocol';
import { openStore } from '@gpufleet/server';
import { assignModels, FakeHardwareBackend, simHostnames } from '@gpufleet/sim';
import { replicaBeatMs } from '../packages/server/src/app/replica-services.js';
import { systemClock } from '../packages/server/src/clock.js';
import type { NodeRecord } from '../packages/server/src/store/store.js';
import { pidOf, ReplicaCluster } from '../test/e2e/replicas/replica-cluster.js';
import { Cleanups } from '../test/e2e/support/cleanups.js';
import { promSamples } from '../test/e2e/support/prometheus-text.js';
import { cycleLag, lastCycle, type Phantom, type PhantomHost, startPhantom } from './phantom-replica.js';
import { machineInfo, percentile, round, sleep } from './support.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The server's default: the replicas bucket's TTL (3 beats) follows from it, and the phantom must agree. */
const HEARTBEAT = '5s';
const MEASURED = 'cp-2';
const INSERTS_IN_FLIGHT = 16;
const READS = 5;
const POINT_READS = 200;
/** Where the shared nats-server logs slow consumers it cut off (GPUFLEET_BENCH_NATS_LOG overrides; skipped if unreadable). */
const NATS_LOG = process.env.GPUFLEET_BENCH_NATS_LOG ?? '/var/log/nats-server.log';
const MiB = 2 ** 20;

/** The reads timed on the measured replica: the dashboard's, and the largest pages the API allows. */
const READ_PATHS = [
  '/api/v1/nodes',
  '/api/v1/nodes?limit=10000',
  '/api/v1/nodes?sort=-util&limit=200',
  '/api/v1/nodes?status=OFFLINE&limit=1',
  '/api/v1/gpus?limit=200',
  '/api/v1/gpus?limit=10000',
  '/api/v1/fleet/heatmap',
  '/api/v1/fleet/summary',
  '/api/v1/alerts',
  '/api/v1/alerts?state=firing&limit=50',
  '/api/v1/replicas',
  '/metrics',
];

interface Options {
  nodes: number;
  gpus: number;
  metricsInterval: string;
  intervalMs: number;
  durationMs: number;
  relay: 'per-node' | 'batch';
  seed: string;
  startTimeoutMs: number;
  /** A folder for a CPU profile of the measured replica (--cpu-prof), or null. */
  cpuProf: string | null;
}

/** What the measured replica's /metrics says. */
interface Scrape {
  cpuSeconds: number;
  rssBytes: number;
  heapBytes: number;
  ringBytes: number;
  remoteNodes: number;
  /** Relayed samples this replica could not read (a malformed batch or body). */
  refusedSamples: number;
}

interface Read {
  status: number;
  bytes: number;
  firstMs: number;
  p50Ms: number;
  maxMs: number;
  samplesMs: number[];
}

export async function runReplicaFleetBench(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      nodes: { type: 'string', default: '100000' },
      gpus: { type: 'string', default: '8' },
      'metrics-interval': { type: 'string', default: '10s' },
      duration: { type: 'string', default: '60s' },
      relay: { type: 'string', default: 'batch' },
      seed: { type: 'string', default: '1' },
      'start-timeout': { type: 'string', default: '10m' },
      'cpu-prof': { type: 'string' },
    },
  });
  const o: Options = {
    nodes: Number(values.nodes),
    gpus: Number(values.gpus),
    metricsInterval: values['metrics-interval']!,
    intervalMs: parseDurationMs(values['metrics-interval']!),
    durationMs: parseDurationMs(values.duration!),
    relay: values.relay as Options['relay'],
    seed: values.seed!,
    startTimeoutMs: parseDurationMs(values['start-timeout']!),
    cpuProf: values['cpu-prof'] ?? null,
  };
  if (!Number.isInteger(o.nodes) || o.nodes < 1 || o.nodes > 200_000) throw new Error(`--nodes must be from 1 to 200000, got '${values.nodes}'`);
  if (!Number.isInteger(o.gpus) || o.gpus < 1 || o.gpus > 64) throw new Error(`--gpus must be from 1 to 64, got '${values.gpus}'`);
  if (o.relay !== 'per-node' && o.relay !== 'batch') throw new Error(`--relay must be per-node or batch, got '${values.relay}'`);

  console.log(
    `replica-fleet bench: ${o.nodes} nodes x ${o.gpus} GPUs held by a phantom replica, samples every ${o.metricsInterval} (${round((o.nodes * 1000) / o.intervalMs)} messages/s, relay ${o.relay}), ${o.durationMs / 1000} s measured on one real replica`,
  );
  const cleanups = new Cleanups();
  let r: Awaited<ReturnType<typeof measure>>;
  try {
    r = await measure(o, cleanups);
  } finally {
    await cleanups.run();
  }
  printTables(r);
  const file = join(here, 'results', `replica-fleet-${o.nodes}-${o.relay}.json`);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify({ bench: 'replica-fleet', at: new Date().toISOString(), machine: machineInfo(), ...r }, null, 2)}\n`);
  console.log(`written ${file}`);
}

async function measure(o: Options, cleanups: Cleanups) {
  const cluster = new ReplicaCluster(cleanups, ['--heartbeat-interval', HEARTBEAT, '--offline-after', '3', '--metrics-interval', o.metricsInterval]);
  await cluster.create();
  // The first replica migrates the database and makes the admin token; then it goes, so the
  // measured replica is the only real one (it takes every lease: alerts, sweeps).
  await (await cluster.start('cp-1')).server.stop();

  let t0 = performance.now();
  const hosts = fleet(o);
  const idsSeconds = round((performance.now() - t0) / 1000);
  console.log(`  ${o.nodes} node keys made in ${idsSeconds} s`);
  t0 = performance.now();
  await insertNodes(cluster.storeUrl, hosts, o);
  const insertSeconds = (performance.now() - t0) / 1000;

  const dir = mkdtempSync(join(tmpdir(), 'gpufleet-replica-fleet-'));
  cleanups.add('fleet file', () => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'fleet.json'), JSON.stringify(hosts));
  const phantom = await startPhantom({
    natsUrl: cluster.natsUrl,
    namespace: cluster.namespace,
    fleetFile: join(dir, 'fleet.json'),
    seed: o.seed,
    gpus: o.gpus,
    intervalMs: o.intervalMs,
    beatMs: replicaBeatMs(parseDurationMs(HEARTBEAT)),
    relay: o.relay,
    name: 'cp-phantom',
  });
  cleanups.add('phantom replica', () => phantom.stop());
  const ready = phantom.ready;
  console.log(`  phantom: ${o.nodes} samples encoded in ${round(ready.buildSeconds)} s, sessions claimed in ${round(ready.claimSeconds)} s; publishing`);

  // The measured replica, started once the store holds the nodes and the bucket their owners.
  const { server } = await cluster.child(cluster.replicaFlags(MEASURED));
  const spawnedAt = Date.now();
  const spawned = performance.now();
  const since = () => round((performance.now() - spawned) / 1000);
  const timeline: Record<string, number | [number, number]> = {};
  const savedNodeOptions = process.env.NODE_OPTIONS;
  if (o.cpuProf) process.env.NODE_OPTIONS = `${savedNodeOptions ?? ''} --require ${profilerPreload(o.cpuProf)}`.trim();
  // ChildServer copies the environment before its first await: it can be put back at once.
  const starting = server.start(o.startTimeoutMs);
  if (savedNodeOptions === undefined) delete process.env.NODE_OPTIONS;
  else process.env.NODE_OPTIONS = savedNodeOptions;
  await starting;
  const startSeconds = (timeline.healthz = since());
  const api = client(server.url, cluster.adminToken);
  const atReady = await scrape(api);
  console.log(`  ${MEASURED} answered /healthz ${startSeconds} s after spawn (${round(atReady.cpuSeconds)} CPU s, RSS ${round(atReady.rssBytes / MiB)} MiB)`);
  let allRemoteSeconds: number | null = null;
  for (const deadline = performance.now() + 5 * 60_000; performance.now() < deadline; await sleep(500)) {
    if ((await scrape(api)).remoteNodes >= o.nodes) {
      allRemoteSeconds = timeline.allRemote = since();
      break;
    }
  }
  console.log(`  ${MEASURED} keeps the latest sample of every node ${allRemoteSeconds ?? 'never'} s after spawn`);
  await sleep(o.intervalMs);

  // Steady window: the replica's own counters, the phantom's publish count, CPU of the others.
  const natsPid = natsServerPid(cluster.natsUrl);
  const point = async () => ({
    scrape: await scrape(api),
    phantom: await phantom.stats(),
    phantomCpu: cpuSeconds(phantom.pid),
    natsCpu: cpuSeconds(natsPid),
    at: performance.now(),
  });
  let probe = stallProbe(api);
  const rss = rssSampler(pidOf(server));
  const steadyFrom = since();
  const before = await point();
  await sleep(o.durationMs);
  const after = await point();
  timeline.steady = [steadyFrom, since()];
  const window = (after.at - before.at) / 1000;
  const percentOf = (a: number | null, b: number | null) => (a === null || b === null ? null : round(((a - b) / window) * 100));
  const steady = {
    windowSeconds: round(window),
    cpuPercent: percentOf(after.scrape.cpuSeconds, before.scrape.cpuSeconds),
    rssMiB: round(after.scrape.rssBytes / MiB),
    rssMaxMiB: rss(),
    /** heapUsed, garbage included: at both ends of the window. */
    heapMiB: round(after.scrape.heapBytes / MiB),
    heapAtStartMiB: round(before.scrape.heapBytes / MiB),
    ringMiB: round(after.scrape.ringBytes / MiB),
    remoteNodes: after.scrape.remoteNodes,
    targetPerSecond: round((o.nodes * 1000) / o.intervalMs),
    phantomPerSecond: round((after.phantom.sent - before.phantom.sent) / ((after.phantom.at - before.phantom.at) / 1000)),
    phantomBatchesPerSecond: round((after.phantom.batches - before.phantom.batches) / ((after.phantom.at - before.phantom.at) / 1000)),
    phantomBehindAtEnd: after.phantom.behind,
    bytesPerSample: ready.bytesPerSample,
    refusedSamples: after.scrape.refusedSamples,
    phantomCpuPercent: percentOf(after.phantomCpu, before.phantomCpu),
    natsCpuPercent: percentOf(after.natsCpu, before.natsCpu),
    healthz: await probe(),
    loadAverage: loadavg().map(round),
  };
  console.log(`  steady ${steady.windowSeconds} s: ${JSON.stringify(steady)}`);

  const online = await onlineCheck(api, o.nodes);
  if (online.offline > 0) console.log(`  WARNING: ${online.offline} nodes read OFFLINE: the phantom's sessions are not counted as held elsewhere`);
  let from = since();
  const delivery = await deliveryOf(api, phantom, hosts, o);
  timeline.pointReads = [from, since()];
  console.log(`  samples applied on ${MEASURED}, from ${POINT_READS} single-node reads: ${JSON.stringify(delivery)}`);
  from = since();
  const fleetWide = await lossOf(api, phantom, hosts);
  timeline.heatmapCheck = [from, since()];
  console.log(`  latest samples on ${MEASURED}, whole fleet (heatmap): ${JSON.stringify(fleetWide)}`);

  const reads: Record<string, Read> = {};
  probe = stallProbe(api);
  for (const path of READ_PATHS) {
    from = since();
    reads[`GET ${path}`] = await timed(api, path, READS);
    timeline[`GET ${path}`] = [from, since()];
    console.log(`  GET ${path}: ${JSON.stringify(reads[`GET ${path}`])}`);
  }
  const readsHealthz = await probe();
  console.log(`  /healthz while the reads ran: ${JSON.stringify(readsHealthz)}`);
  // The whole GPU list in one answer (no limit): 8 rows a node. Once, last: it may not survive it.
  from = since();
  const whole = await timed(api, '/api/v1/gpus', 1, 5 * 60_000).catch((err: Error) => ({ error: err.message }));
  timeline['GET /api/v1/gpus'] = [from, since()];
  console.log(`  GET /api/v1/gpus (no limit): ${JSON.stringify(whole)}`);
  const onlineAfterReads = await onlineCheck(api, o.nodes).catch(() => null);

  if (o.cpuProf) {
    const exit = await server.stop(60_000); // the profile is written on a clean exit
    const file = join(o.cpuProf, `${MEASURED}.cpuprofile`);
    if (existsSync(file)) console.log(`  CPU profile of ${MEASURED}: ${file} (timeline: seconds after spawn)`);
    else console.log(`  no CPU profile of ${MEASURED}: it exited ${JSON.stringify(exit)}\n${server.output.slice(-2000)}`);
  }
  // A loop blocked past 3 beats lets the replica's entry and leases lapse (the others count it
  // dead); blocked 10 s, NATS cuts it off as a slow consumer (it reconnects, samples are lost).
  const log = server.output;
  const lapses = {
    leaseDeadlinesMissed: log.split('lease deadline passed').length - 1,
    directoryEntryRewritten: log.split('replica entry was not ours any more').length - 1,
    slowConsumerCutoffs: slowConsumerCutoffs(`gpufleet-${MEASURED}`, spawnedAt),
  };
  console.log(`  ${MEASURED} lapses: ${JSON.stringify(lapses)}`);
  const warnings = log.split('\n').filter((l) => l.startsWith('{'));
  if (warnings.length > 0) console.log(`  ${MEASURED} log, last warnings:\n${warnings.slice(-8).join('\n')}`);
  return {
    nodes: o.nodes,
    gpusPerNode: o.gpus,
    metricsInterval: o.metricsInterval,
    relay: o.relay,
    durationSeconds: o.durationMs / 1000,
    store: 'postgres',
    bus: 'nats',
    setup: {
      idsSeconds,
      insert: { seconds: round(insertSeconds), perSecond: round(o.nodes / insertSeconds), inFlight: INSERTS_IN_FLIGHT },
      phantom: { buildSeconds: round(ready.buildSeconds), claimSeconds: round(ready.claimSeconds), claimsPerSecond: round(o.nodes / ready.claimSeconds) },
    },
    startup: {
      seconds: startSeconds,
      cpuSeconds: round(atReady.cpuSeconds),
      rssMiB: round(atReady.rssBytes / MiB),
      heapMiB: round(atReady.heapBytes / MiB),
      remoteNodesAtReady: atReady.remoteNodes,
      allRemoteSeconds,
    },
    steady,
    online,
    delivery,
    fleetWide,
    reads,
    readsHealthz,
    wholeGpuList: whole,
    onlineAfterReads,
    lapses,
    /** Seconds after the measured replica was spawned: to place a --cpu-prof profile's samples. */
    timeline,
  };
}

function printTables(r: Awaited<ReturnType<typeof measure>>): void {
  const s = r.steady;
  const d = r.delivery;
  console.table({
    'insert nodes': `${r.setup.insert.seconds} s (${r.setup.insert.perSecond}/s, ${INSERTS_IN_FLIGHT} in flight)`,
    'phantom: claim sessions': `${r.setup.phantom.claimSeconds} s`,
    'replica start (spawn to /healthz)': `${r.startup.seconds} s, ${r.startup.cpuSeconds} CPU s, RSS ${r.startup.rssMiB} MiB`,
    'every remote node known': r.startup.allRemoteSeconds === null ? 'never' : `${r.startup.allRemoteSeconds} s after spawn`,
    'nodes OFFLINE (fleet summary)': `${r.online.offline} of ${r.nodes}`,
    'phantom publish rate': `${s.phantomPerSecond}/s of ${s.targetPerSecond}/s (${s.bytesPerSample} B each${r.relay === 'batch' ? `, ${s.phantomBatchesPerSecond} batches/s` : ''}), ${s.phantomCpuPercent}% CPU`,
    'replica CPU': `${s.cpuPercent}%`,
    'replica RSS (max) / heap used at start, end': `${s.rssMiB} (${s.rssMaxMiB}) / ${s.heapAtStartMiB}, ${s.heapMiB} MiB`,
    'replica rings / remote nodes / samples refused': `${s.ringMiB} MiB / ${s.remoteNodes} / ${s.refusedSamples}`,
    'replica /healthz steady p99 / max': `${s.healthz.p99Ms} / ${s.healthz.maxMs} ms`,
    'sample applied late by p50 / p90 / max': `${d.lateMsP50} / ${d.lateMsP90} / ${d.lateMsMax} ms (from the bus: ${d.fromBusMsP50} / ${d.fromBusMsP90} / ${d.fromBusMsMax} ms)`,
    'whole fleet: fresh / 1 cycle / older / none': `${r.fleetWide.fresh} / ${r.fleetWide.oneCycle} / ${r.fleetWide.older} / ${r.fleetWide.none}`,
    'replica /healthz during reads max': `${r.readsHealthz.maxMs} ms (${r.readsHealthz.over1s} probes over 1 s)`,
    'leases missed / entry lapsed / NATS cut-offs': `${r.lapses.leaseDeadlinesMissed} / ${r.lapses.directoryEntryRewritten} / ${r.lapses.slowConsumerCutoffs?.length ?? '-'}`,
    'nats-server CPU (shared)': s.natsCpuPercent === null ? '-' : `${s.natsCpuPercent}%`,
  });
  const rows = Object.entries(r.reads).map(([name, x]) => [
    name,
    { status: x.status, KiB: Math.round(x.bytes / 1024), 'first ms': x.firstMs, 'p50 ms': x.p50Ms, 'max ms': x.maxMs },
  ]);
  console.table(Object.fromEntries(rows));
}

/** N hosts with real Ed25519 node keys, the simulator's model mix and hostnames. */
function fleet(o: Options): PhantomHost[] {
  const models = assignModels(o.nodes);
  const hostnames = simHostnames(models);
  return models.map((model, i) => {
    const spki = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'der' });
    return { id: didKeyFromEd25519(new Uint8Array(spki.subarray(spki.length - 32))), hostname: hostnames[i]!, model };
  });
}

/** The stored record of an enrolled agent node, its facts and GPUs from the simulator's fake hardware. */
async function nodeRecord(host: PhantomHost, o: Options, now: number): Promise<NodeRecord> {
  const backend = new FakeHardwareBackend({ hostname: host.hostname, model: host.model, gpuCount: o.gpus, seed: o.seed, clock: systemClock });
  const facts = await backend.hostFacts();
  return {
    id: host.id,
    hostname: host.hostname,
    adminState: 'active',
    tokenLabels: {},
    userLabels: {},
    facts,
    gpus: (await backend.gpus()).snapshots.map(gpuInfoOf),
    toolFailures: [],
    agentVersion: facts.agentVersion,
    simulated: true,
    joinTokenId: null,
    enrolledAt: now,
    lastSeenAt: now,
    ackedSeq: 0,
    cordonReason: null,
    mode: 'agent',
  };
}

async function insertNodes(storeUrl: string, hosts: PhantomHost[], o: Options): Promise<void> {
  const store = await openStore({ database: storeUrl, dataDir: '' });
  const now = Date.now();
  const started = performance.now();
  let next = 0;
  let done = 0;
  const progress = setInterval(() => {
    const s = (performance.now() - started) / 1000;
    console.log(`  inserting: ${done}/${hosts.length} nodes (${round(s)} s, ${round(done / s)}/s)`);
  }, 5000);
  try {
    await Promise.all(
      Array.from({ length: INSERTS_IN_FLIGHT }, async () => {
        while (next < hosts.length) {
          await store.insertNode(await nodeRecord(hosts[next++]!, o, now));
          done++;
        }
      }),
    );
  } finally {
    clearInterval(progress);
    await store.close();
  }
  console.log(`  ${hosts.length} nodes inserted in ${round((performance.now() - started) / 1000)} s`);
}

type Api = (path: string, timeoutMs?: number) => Promise<Response>;

function client(baseUrl: string, token: string): Api {
  return (path, timeoutMs = 120_000) => fetch(baseUrl + path, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(timeoutMs) });
}

async function json<T>(api: Api, path: string): Promise<T> {
  const res = await api(path);
  if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${(await res.text()).slice(0, 300)}`);
  return (await res.json()) as T;
}

async function scrape(api: Api): Promise<Scrape> {
  const res = await api('/metrics');
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET /metrics: ${res.status} ${text.slice(0, 300)}`);
  const one = (name: string) => promSamples(text, name)[0]?.value ?? 0;
  return {
    cpuSeconds: one('process_cpu_seconds_total'),
    rssBytes: one('process_resident_memory_bytes'),
    heapBytes: one('process_heap_bytes'),
    ringBytes: one('gpufleet_metric_store_bytes'),
    remoteNodes: one('gpufleet_metric_store_remote_nodes'),
    refusedSamples: promSamples(text, 'gpufleet_replica_samples_refused_total')
      .filter((x) => x.labels.reason !== 'oversized')
      .reduce((a, x) => a + x.value, 0),
  };
}

/** `times` reads of path, each to its last byte (counted, not kept: a whole-fleet answer may be huge). */
async function timed(api: Api, path: string, times: number, timeoutMs?: number): Promise<Read> {
  const samples: number[] = [];
  let status = 0;
  let bytes = 0;
  for (let i = 0; i < times; i++) {
    const t0 = performance.now();
    const res = await api(path, timeoutMs);
    const reader = res.body?.getReader();
    bytes = 0;
    for (let r = await reader?.read(); r && !r.done; r = await reader!.read()) bytes += r.value.length;
    samples.push(performance.now() - t0);
    status = res.status;
  }
  const sorted = [...samples].sort((a, b) => a - b);
  return { status, bytes, firstMs: round(samples[0]!), p50Ms: round(percentile(sorted, 50)), maxMs: round(sorted.at(-1)!), samplesMs: samples.map(round) };
}

/** Nodes by status over the whole fleet: held by the phantom, none may read OFFLINE. */
async function onlineCheck(api: Api, nodes: number): Promise<{ byStatus: Record<string, number>; offline: number; total: number }> {
  const summary = await json<{ nodes: { total: number; byStatus: Record<string, number> } }>(api, '/api/v1/fleet/summary');
  if (summary.nodes.total !== nodes) console.log(`  WARNING: the replica lists ${summary.nodes.total} nodes, not ${nodes}`);
  return { byStatus: summary.nodes.byStatus, offline: summary.nodes.byStatus.OFFLINE ?? 0, total: summary.nodes.total };
}

/**
 * How late the replica applies samples, from single-node reads (a few ms each, so the moment is
 * sharp): the sample it shows (the first GPU's mark) against the phantom's counts just before. A
 * sample taken but not shown yet was late by (samples taken since) / rate: what an operator sees,
 * the holder's gathering included. Counted from its hand-over to the bus instead: NATS and the
 * measured replica alone.
 */
async function deliveryOf(api: Api, phantom: Phantom, hosts: PhantomHost[], o: Options) {
  const n = hosts.length;
  const perMs = n / o.intervalMs;
  const late: number[] = [];
  const onWire: number[] = [];
  let noSample = 0;
  for (let r = 0; r < POINT_READS; r++) {
    const i = Math.floor(Math.random() * n);
    const { sent, published } = await phantom.stats();
    const view = await json<NodeView>(api, `/api/v1/nodes/${encodeURIComponent(hosts[i]!.id)}`);
    const util = view.gpus.find((g) => g.index === 0)?.sample?.utilizationPct ?? null;
    const expected = lastCycle(sent, i, n);
    if (util === null || expected < 0) {
      noSample += util === null ? 1 : 0;
      continue;
    }
    const firstUnseen = (expected - cycleLag(expected, util) + 1) * n + i;
    late.push(Math.max(0, (sent - firstUnseen) / perMs));
    onWire.push(Math.max(0, (published - firstUnseen) / perMs));
  }
  late.sort((a, b) => a - b);
  onWire.sort((a, b) => a - b);
  return {
    reads: POINT_READS,
    noSample,
    lateMsP50: round(percentile(late, 50)),
    lateMsP90: round(percentile(late, 90)),
    lateMsMax: round(late.at(-1) ?? 0),
    behindAtAll: late.filter((x) => x > 0).length,
    fromBusMsP50: round(percentile(onWire, 50)),
    fromBusMsP90: round(percentile(onWire, 90)),
    fromBusMsMax: round(onWire.at(-1) ?? 0),
  };
}

/**
 * Whether any node's samples are lost, over the whole fleet (the heatmap: every GPU's latest
 * utilization). Its read takes seconds at 100,000 nodes, so one cycle behind is normal for the
 * nodes published during it; older means lost or very late samples, none no sample at all.
 */
async function lossOf(api: Api, phantom: Phantom, hosts: PhantomHost[]) {
  const index = new Map(hosts.map((h, i) => [h.id, i]));
  const { sent } = await phantom.stats();
  const t0 = performance.now();
  const heat = await json<FleetHeatmap>(api, '/api/v1/fleet/heatmap');
  const counts = { fresh: 0, oneCycle: 0, older: 0, none: 0, notPublishedYet: 0, readMs: round(performance.now() - t0) };
  let at = 0;
  heat.nodes.id.forEach((id, j) => {
    const count = heat.nodes.gpuCount[j]!;
    const first = heat.gpus.index.slice(at, at + count).indexOf(0);
    const util = first === -1 ? null : heat.gpus.util[at + first]!;
    at += count;
    const i = index.get(id);
    if (i === undefined) return;
    const expected = lastCycle(sent, i, hosts.length);
    if (expected < 0) counts.notPublishedYet++;
    else if (util === null) counts.none++;
    else {
      const lag = cycleLag(expected, util);
      if (lag <= 0) counts.fresh++;
      else if (lag === 1) counts.oneCycle++;
      else counts.older++;
    }
  });
  return counts;
}

/**
 * Polls /healthz every 100 ms until stopped: how long the replica's event loop keeps an answer
 * waiting. Past 3 beats (6 s) its directory entry and leases lapse.
 */
function stallProbe(api: Api): () => Promise<{ probes: number; p50Ms: number; p99Ms: number; maxMs: number; over1s: number }> {
  const ms: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const t0 = performance.now();
      await api('/healthz', 60_000)
        .then((r) => r.arrayBuffer())
        .catch(() => undefined);
      ms.push(performance.now() - t0);
      await sleep(100);
    }
  })();
  return async () => {
    running = false;
    await loop;
    const sorted = ms.sort((a, b) => a - b);
    return {
      probes: sorted.length,
      p50Ms: round(percentile(sorted, 50)),
      p99Ms: round(percentile(sorted, 99)),
      maxMs: round(sorted.at(-1) ?? 0),
      over1s: sorted.filter((x) => x > 1000).length,
    };
  };
}

/**
 * The nats-server's "Slow Consumer Detected" lines for this client name since `sinceMs` (its log
 * is in local time): each is a cut-off connection. Null where the log is not readable here.
 */
function slowConsumerCutoffs(client: string, sinceMs: number): string[] | null {
  if (!existsSync(NATS_LOG)) return null;
  try {
    return readFileSync(NATS_LOG, 'utf8')
      .split('\n')
      .filter((line) => line.includes('Slow Consumer') && line.includes(`:${client}"`))
      .filter((line) => {
        const m = /(\d{4})\/(\d\d)\/(\d\d) (\d\d:\d\d:\d\d\.\d{3})/.exec(line);
        return m !== null && new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}`).getTime() >= sinceMs;
      })
      .map((line) => line.slice(line.indexOf(' - ') + 3));
  } catch {
    return null;
  }
}

/**
 * A script the measured replica preloads (NODE_OPTIONS --require; node refuses --cpu-prof there):
 * it profiles the whole process and writes DIR/<name>.cpuprofile when the process exits.
 */
function profilerPreload(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'profile-preload.cjs');
  const out = JSON.stringify(join(dir, `${MEASURED}.cpuprofile`));
  writeFileSync(
    file,
    `const { Session } = require('node:inspector');
const session = new Session();
session.connect();
session.post('Profiler.enable');
session.post('Profiler.start');
// An in-process session answers at once, so this works inside the exit handler.
process.on('exit', () => session.post('Profiler.stop', (err, r) => err || require('node:fs').writeFileSync(${out}, JSON.stringify(r.profile))));
`,
  );
  return file;
}

/** Samples a process's resident memory every second from /proc until asked: the most seen, MiB (null: unreadable). */
function rssSampler(pid: number): () => number | null {
  let most: number | null = null;
  const read = () => {
    try {
      const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (kb) most = Math.max(most ?? 0, Number(kb[1]) / 1024);
    } catch {
      // Gone, or not Linux.
    }
  };
  read();
  const timer = setInterval(read, 1000);
  return () => {
    clearInterval(timer);
    read();
    return most === null ? null : round(most);
  };
}

/** CPU seconds (user + system) of a process from /proc (Linux); null where unreadable. */
function cpuSeconds(pid: number | null): number | null {
  if (pid === null) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
    // utime and stime: fields 14 and 15 of the line, in clock ticks (100 a second on Linux).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

/** The nats-server process serving natsUrl's port, found in /proc (shared with whatever else uses it). */
function natsServerPid(natsUrl: string): number | null {
  const port = new URL(natsUrl).port || '4222';
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (argv[0]?.endsWith('nats-server') && argv[argv.indexOf('-p') + 1] === port) return Number(entry);
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return null;
}
