// The phantom replica of the replica-fleet bench (bench/replica-fleet.ts): it plays every other
// control-plane replica of a large fleet, in a child process of its own so that its CPU is not the
// measured replica's. It joins the replica set as a live replica (the real ReplicaDirectory,
// beating as a server does), claims every node's agent session in the session-owners bucket (what
// SessionOwners.claim writes), then sends each node's latest sample every metrics interval, spread
// evenly over it, as the replicas holding the sessions do: batches every 500 ms with their codec
// (metric-relay.ts, metric-batch.ts), or one message per sample (the relay before batches).
// Forked with one argument, a PhantomConfig as JSON; talks to its parent over IPC (startPhantom
// below is the parent's side).
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import { gpuSampleOf } from '@gpufleet/protocol';
import { FakeHardwareBackend, type SimGpuModel } from '@gpufleet/sim';
import { SERVER_VERSION } from '../packages/server/src/app/replica-services.js';
import { type Bus, DEFAULT_MAX_PAYLOAD_BYTES } from '../packages/server/src/bus/bus.js';
import { NatsBus } from '../packages/server/src/bus/nats-bus.js';
import { buckets, idToken, kvKeys, subjects } from '../packages/server/src/bus/subjects.js';
import { systemClock } from '../packages/server/src/clock.js';
import { decodeBatch, encodeSampleItem, packBatches, parseRelayedBody } from '../packages/server/src/replicas/metric-batch.js';
import { ReplicaDirectory } from '../packages/server/src/replicas/replica-directory.js';
import { sleep } from './support.js';

/** One host of the fleet, as the parent stored it: the phantom's samples must match its GPUs. */
export interface PhantomHost {
  id: string;
  hostname: string;
  model: SimGpuModel;
}

export interface PhantomConfig {
  natsUrl: string;
  namespace: string;
  /** JSON array of PhantomHost, in publishing order. */
  fleetFile: string;
  /** The seed the parent gave the fake hardware (GPU UUIDs and readings follow from it). */
  seed: string;
  gpus: number;
  intervalMs: number;
  /** The server's replica beat for its heartbeat interval (replicaBeatMs): the replicas bucket's TTL is 3 beats. */
  beatMs: number;
  /** batch: as the replicas relay samples now (metric-batch.ts); per-node: one message per sample, as before commit 201bcc3. */
  relay: 'per-node' | 'batch';
  name: string;
}

/** What the phantom tells its parent. */
export type PhantomReport =
  | { type: 'ready'; instance: string; buildSeconds: number; claimSeconds: number; bytesPerSample: number }
  /**
   * Samples taken so far (node i's k-th is sample k * n + i), of them handed to the bus (batches
   * gather up to 500 ms first), batch messages sent, samples overdue.
   */
  | { type: 'stats'; sent: number; published: number; batches: number; behind: number; at: number }
  | { type: 'error'; message: string };

/** What the parent asks: the publish count now, or to stop. */
export type PhantomRequest = { type: 'stats' } | { type: 'stop' };

/**
 * The first GPU's utilization marks the sample's cycle (10 + cycle mod 90), so the parent can tell
 * which of a node's samples the measured replica shows (a node view, the heatmap).
 */
const MARK_BASE = 10;
const MARK_MODULUS = 90;

/**
 * How many cycles the sample a replica shows (the first GPU's utilization) is behind the node's
 * last published cycle `expected`: 0 current, 1 the newest is on its way, negative a newer one
 * published since `expected` was read. Within half the mark's modulus (45 cycles).
 */
export function cycleLag(expected: number, firstGpuUtil: number): number {
  const lag = (((expected - (firstGpuUtil - MARK_BASE)) % MARK_MODULUS) + MARK_MODULUS) % MARK_MODULUS;
  return lag > MARK_MODULUS / 2 ? lag - MARK_MODULUS : lag;
}

/** The last cycle of node i of n once `sent` samples were taken (-1: none yet). */
export function lastCycle(sent: number, i: number, n: number): number {
  return sent <= i ? -1 : Math.floor((sent - 1 - i) / n);
}

const CLAIMS_IN_FLIGHT = 64;

/** A node's latest sample, encoded once: per sample only the digits of its time and readings change. */
interface Template {
  nodeId: string;
  /** Where a per-node message goes (the relay before batches). */
  subject: string;
  /** The per-node message (`{origin, body}`), or the batch item (metric-batch.ts encodeSampleItem). */
  bytes: Buffer;
  /** Where the body's 13 ts digits are, and a batch item's f64 sample time (null: per-node). */
  tsDigitsAt: number;
  tsFloatAt: number | null;
  /** Offsets of each GPU's two utilization digits, and the readings they move around. */
  utilAt: number[];
  utilBase: number[];
}

/** What a holder's MetricRelay does: gathers samples this long, packs them under the bus limit. */
const BATCH_FLUSH_MS = 500;
const BATCH_MAX_BYTES = DEFAULT_MAX_PAYLOAD_BYTES - 1024;
const UTIL = '"utilizationPct":';

const send = (report: PhantomReport) => process.send?.(report);

async function main(config: PhantomConfig): Promise<void> {
  const hosts = JSON.parse(readFileSync(config.fleetFile, 'utf8')) as PhantomHost[];
  const instance = randomUUID();
  const log = { warn: (obj: object, msg: string) => console.error(`phantom: ${msg} ${JSON.stringify(obj)}`) };
  const connect = (name: string) => NatsBus.connect({ servers: config.natsUrl, namespace: config.namespace, name, log });
  // Two connections: the phantom sends what several replicas would, each on its own connection,
  // and NATS stalls a connection that feeds a slow subscriber; its beats must not stall with it.
  const bus = await connect(`gpufleet-${config.name}`);
  const wire = await connect(`gpufleet-${config.name}-metrics`);
  const directory = new ReplicaDirectory({
    bus,
    name: config.name,
    instance,
    clock: systemClock,
    beatMs: config.beatMs,
    // No URL: no agent dials the phantom, and the measured replica lists it without one.
    url: () => '',
    agents: () => hosts.length,
    leases: () => [],
    version: SERVER_VERSION,
    log,
  });
  await directory.start();

  const built = performance.now();
  const templates: Template[] = [];
  for (let i = 0; i < hosts.length; i++) {
    templates.push(await template(hosts[i]!, instance, config));
    // Let the directory beat: building 100,000 templates takes longer than its entry's TTL.
    if (i % 500 === 499) await new Promise((r) => setImmediate(r));
  }
  const buildSeconds = (performance.now() - built) / 1000;
  if (config.relay === 'batch' && templates[0]) checkBatchItem(templates[0], instance);

  const claimed = performance.now();
  const owners = await bus.kv(buckets.sessionOwners);
  let next = 0;
  await Promise.all(
    Array.from({ length: CLAIMS_IN_FLIGHT }, async () => {
      while (next < hosts.length) {
        const nodeId = hosts[next++]!.id;
        await owners.create(kvKeys.sessionOwner(nodeId), { replica: config.name, instance, at: Date.now() });
      }
    }),
  );
  const claimSeconds = (performance.now() - claimed) / 1000;

  const publisher = startPublishing(wire, instance, templates, config);
  send({ type: 'ready', instance, buildSeconds, claimSeconds, bytesPerSample: templates[0]?.bytes.length ?? 0 });

  process.on('message', (m: PhantomRequest) => {
    if (m.type === 'stats') send({ type: 'stats', ...publisher.progress(), at: Date.now() });
    if (m.type === 'stop')
      void (async () => {
        publisher.stop();
        await directory.stop();
        await Promise.all([wire.close(), bus.close()]);
        process.exit(0);
      })();
  });
  // An orphan must not go on publishing: the parent gone, stop.
  process.on('disconnect', () => process.exit(0));
}

/** The node's latest sample from the fake hardware, framed as the replica bridge sends it. */
async function template(host: PhantomHost, origin: string, config: PhantomConfig): Promise<Template> {
  const backend = new FakeHardwareBackend({ hostname: host.hostname, model: host.model, gpuCount: config.gpus, seed: config.seed, clock: systemClock });
  const readout = await backend.gpus();
  // Two digits each, so a sample rewrites them in place.
  const gpus = readout.snapshots.map(gpuSampleOf).map((s) => ({ ...s, utilizationPct: twoDigits(s.utilizationPct ?? 50) }));
  // ts first in the body and 13 digits (until the year 2286): its place never moves.
  const body = { ts: Date.now(), host: await backend.hostSample(), gpus };
  const json = JSON.stringify(body);
  if (Buffer.byteLength(json) !== json.length) throw new Error(`the sample of ${host.hostname} is not ASCII: offsets would be wrong`);
  let bytes: Buffer;
  let bodyAt: number;
  let tsFloatAt: number | null = null;
  if (config.relay === 'batch') {
    const item = encodeSampleItem(host.id, body);
    bytes = Buffer.from(item.buffer, item.byteOffset, item.byteLength);
    bodyAt = item.length - json.length;
    // The item's layout (metric-batch.ts): u16 id length, id, f64 sample time, u32 body length, body.
    tsFloatAt = 2 + Buffer.byteLength(host.id);
  } else {
    const prefix = `{"origin":${JSON.stringify(origin)},"body":`;
    bytes = Buffer.from(`${prefix}${json}}`);
    bodyAt = prefix.length;
  }
  const utilAt: number[] = [];
  for (let at = json.indexOf(UTIL); at !== -1; at = json.indexOf(UTIL, at + 1)) utilAt.push(bodyAt + at + UTIL.length);
  return {
    nodeId: host.id,
    // The subject before batches (commit 201bcc3): for a server built from before it.
    subject: `node.${idToken(host.id)}.metrics`,
    bytes,
    tsDigitsAt: bodyAt + '{"ts":'.length,
    tsFloatAt,
    utilAt,
    utilBase: gpus.map((g) => g.utilizationPct),
  };
}

const twoDigits = (v: number) => Math.min(99, Math.max(10, Math.round(v)));

/** A new sample: ts now, the readings moved a little, the first GPU carrying the cycle mark. */
function refresh(t: Template, cycle: number, now: number): void {
  t.bytes.write(String(now), t.tsDigitsAt, 'latin1');
  if (t.tsFloatAt !== null) t.bytes.writeDoubleBE(now, t.tsFloatAt);
  t.utilAt.forEach((at, g) => {
    const v = g === 0 ? MARK_BASE + (cycle % MARK_MODULUS) : twoDigits(t.utilBase[g]! + (((cycle * 7 + g * 13) % 7) - 3));
    t.bytes[at] = 48 + Math.floor(v / 10);
    t.bytes[at + 1] = 48 + (v % 10);
  });
}

/** Refuses to start when a batch of the phantom's would not read back as its sample (the codec moved on). */
function checkBatchItem(t: Template, origin: string): void {
  const now = Date.now();
  refresh(t, 0, now);
  const item = decodeBatch(packBatches(origin, [t.bytes], BATCH_MAX_BYTES).batches[0]!).items[0]!;
  const body = parseRelayedBody(item);
  if (item.nodeId !== t.nodeId || item.ts !== now || body === null || body.ts !== now || body.gpus[0]?.utilizationPct !== MARK_BASE) {
    throw new Error('a batch item of the phantom does not read back as its sample: metric-batch.ts changed its layout');
  }
}

/**
 * Takes node i of n's sample at i/n of each interval, on a 5 ms tick, catching up when the loop
 * was late (at most a tenth of the fleet per tick, so IPC questions are still answered). Per-node:
 * each sample is a message at once; batch: what gathered goes out every 500 ms, as a holder does.
 */
function startPublishing(bus: Bus, origin: string, templates: Template[], config: PhantomConfig) {
  const n = templates.length;
  const started = performance.now();
  let sent = 0;
  let published = 0;
  let batches = 0;
  let gathered: Template[] = [];
  let flushedAt = started;
  let timer: NodeJS.Timeout | null = null;
  const due = () => Math.floor(((performance.now() - started) / config.intervalMs) * n);
  const publishDue = () => {
    const until = Math.min(due(), sent + Math.max(1, Math.ceil(n / 10)));
    const now = Date.now();
    for (; sent < until; sent++) {
      const t = templates[sent % n]!;
      refresh(t, Math.floor(sent / n), now);
      if (config.relay === 'per-node') {
        bus.publish(t.subject, t.bytes);
        published++;
      } else gathered.push(t);
    }
    if (config.relay === 'batch' && performance.now() - flushedAt >= BATCH_FLUSH_MS) {
      batches += publishBatch(bus, origin, gathered);
      published += gathered.length;
      gathered = [];
      flushedAt = performance.now();
    }
  };
  const tick = () => {
    try {
      publishDue();
    } catch (err) {
      send({ type: 'error', message: (err as Error).message });
      setTimeout(() => process.exit(1), 100);
      return;
    }
    timer = setTimeout(tick, 5);
  };
  tick();
  return {
    progress: () => ({ sent, published, batches, behind: Math.max(0, due() - sent) }),
    stop: () => {
      if (timer) clearTimeout(timer);
    },
  };
}

/**
 * `--relay batch`: the samples gathered since the last flush, packed with the replicas' own codec
 * (metric-batch.ts) into messages under the bus limit, on the subject the bridge listens to.
 * Returns how many messages went out.
 */
function publishBatch(bus: Bus, origin: string, items: readonly Template[]): number {
  if (items.length === 0) return 0;
  const { batches } = packBatches(
    origin,
    items.map((t) => t.bytes),
    BATCH_MAX_BYTES,
  );
  for (const batch of batches) bus.publish(subjects.metricBatches, batch);
  return batches.length;
}

/** The parent's handle on the phantom child. */
export interface Phantom {
  ready: Extract<PhantomReport, { type: 'ready' }>;
  pid: number | null;
  /** Messages published so far (node i's k-th sample is message k * n + i). */
  stats(): Promise<Extract<PhantomReport, { type: 'stats' }>>;
  stop(): Promise<void>;
}

/** Forks the phantom replica and waits until it publishes. */
export async function startPhantom(config: PhantomConfig): Promise<Phantom> {
  const child = fork(fileURLToPath(import.meta.url), [JSON.stringify(config)], {
    execArgv: ['--import', 'tsx', '--max-old-space-size=4096'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  // It stands for other machines: on a small box the measured replica gets the CPU first (its
  // stats say when the phantom falls behind its schedule for it).
  try {
    if (child.pid !== undefined) setPriority(child.pid, 10);
  } catch {
    // Not allowed here: it runs at the same priority.
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  type Stats = Extract<PhantomReport, { type: 'stats' }>;
  const waiting: Array<{ resolve: (r: Stats) => void; reject: (err: Error) => void }> = [];
  const ready = new Promise<Extract<PhantomReport, { type: 'ready' }>>((resolve, reject) => {
    child.on('message', (r: PhantomReport) => {
      if (r.type === 'ready') resolve(r);
      else if (r.type === 'stats') waiting.shift()?.resolve(r);
      else reject(new Error(`phantom replica: ${r.message}`));
    });
    void exited.then(() => {
      const gone = new Error(`phantom replica exited with code ${child.exitCode}`);
      reject(gone);
      for (const w of waiting.splice(0)) w.reject(gone);
    });
  });
  const ask = (m: PhantomRequest) => child.connected && child.send(m);
  const stop = async () => {
    ask({ type: 'stop' });
    await Promise.race([exited, sleep(15_000)]);
    child.kill('SIGKILL');
  };
  try {
    return {
      ready: await ready,
      pid: child.pid ?? null,
      stats: () =>
        new Promise((resolve, reject) => {
          if (!ask({ type: 'stats' })) return reject(new Error('phantom replica is gone'));
          waiting.push({ resolve, reject });
        }),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

// Run as the forked script only: the parent imports this file for its types and constants.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(JSON.parse(process.argv[2]!) as PhantomConfig).catch((err: Error) => {
    send({ type: 'error', message: err.stack ?? err.message });
    setTimeout(() => process.exit(1), 100);
  });
}
