// Pools benchmark (issue 11): `npm run bench -- pools [--nodes 1000] [--fail-pct 5] [--window 10m]
// [--scale 20] [--boot 2m] [--replace-after 1m] [--parallel 20] [--seed 1]`.
//
// A pool of --nodes simulated hosts (the sim provider, inside this process, each host enrolled with
// the join token minted for its provision) on a real in-process server. Once the pool is at
// min_nodes READY, --fail-pct of its nodes get a fatal XID 79, one after another, evenly over
// --window of simulated time. Simulated time runs --scale times faster than the clock: the window,
// the hosts' boot and replace_after are divided by it; heartbeats, the agents' kernel log reads and
// the server's own work are not. Reports time from UNHEALTHY to the replacement READY (p50/p99,
// seconds of the clock and scaled back), the lowest READY count and the lowest capacity (members
// up, faulted or not) seen, and the instance-hours paid while not usable (replacements booting,
// faulted nodes waiting for their replacement and drain), scaled back to real time. Writes
// bench/results/pools-<nodes>.json.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseDurationMs, type NodeView, type PoolDetailView, type PoolEventView, type PoolView } from '@gpufleet/protocol';
import { resolveServerConfig, startServer } from '@gpufleet/server';
import { FaultInjector, hashString, makeSimProviderFactory, mulberry32, poolCapacity, SimProviderHosts } from '@gpufleet/sim';
import { machineInfo, percentile, round, sleep } from './support.js';

const here = dirname(fileURLToPath(import.meta.url));
// 1,000 agents read their kernel logs in this one process: twice a second each is enough.
const KERNEL_LOG_POLL_MS = 500;

interface Victim {
  hostname: string;
  nodeId: string;
  instanceId: string;
  injectedAt: number;
  unhealthyAt: number | null;
  /** The replacement's `joined` event (its node READY), from the pool's events. */
  replacementReadyAt: number | null;
  replacementProvisionAt: number | null;
  terminatedAt: number | null;
}

export async function runPoolsBench(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      nodes: { type: 'string', default: '1000' },
      'fail-pct': { type: 'string', default: '5' },
      window: { type: 'string', default: '10m' },
      scale: { type: 'string', default: '20' },
      boot: { type: 'string', default: '2m' },
      'replace-after': { type: 'string', default: '1m' },
      parallel: { type: 'string', default: '20' },
      seed: { type: 'string', default: '1' },
    },
  });
  const nodes = Number(values.nodes);
  const failPct = Number(values['fail-pct']);
  const scale = Number(values.scale);
  const parallel = Number(values.parallel);
  const seed = Number(values.seed);
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > 5000) throw new Error(`--nodes must be from 1 to 5000, got '${values.nodes}'`);
  if (!Number.isFinite(failPct) || failPct <= 0 || failPct > 50) throw new Error(`--fail-pct must be above 0 and at most 50, got '${values['fail-pct']}'`);
  if (!Number.isFinite(scale) || scale < 1 || scale > 1000) throw new Error(`--scale must be from 1 to 1000, got '${values.scale}'`);
  if (!Number.isInteger(parallel) || parallel < 1 || parallel > 1000) throw new Error(`--parallel must be from 1 to 1000, got '${values.parallel}'`);
  if (!Number.isInteger(seed)) throw new Error(`--seed must be a whole number, got '${values.seed}'`);
  const simulated = (flag: 'window' | 'boot' | 'replace-after') => {
    try {
      return parseDurationMs(values[flag]!);
    } catch (err) {
      throw new Error(`--${flag}: ${(err as Error).message}`);
    }
  };
  const windowMs = simulated('window') / scale;
  const bootMs = Math.round(simulated('boot') / scale);
  const replaceAfterMs = Math.round(simulated('replace-after') / scale);
  const failures = Math.max(1, Math.round((nodes * failPct) / 100));

  const dataDir = mkdtempSync(join(tmpdir(), 'gpufleet-bench-pools-'));
  const config = resolveServerConfig({ flags: { listen: '127.0.0.1:0', dataDir, logLevel: 'warn', poolReconcile: '500ms', offlineAfter: 6 } });
  // No link proxies: 1,000 hosts in this process save 2,000 sockets; a terminate then closes the agent's session cleanly.
  const hosts = new SimProviderHosts({ seed });
  const sim = makeSimProviderFactory({ hosts, linkProxy: false, kernelLogPollMs: KERNEL_LOG_POLL_MS, agentVersion: 'bench' });
  const server = await startServer(config, { logger: false, providers: { sim } });
  const adminToken = server.adminToken;
  if (!adminToken) throw new Error('the fresh server made no admin token');
  const api = async <T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: T }> => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
  };
  const injector = new FaultInjector({ fleet: hosts, seed });

  try {
    console.log(
      `pools bench: ${nodes} sim hosts (8 x H100), ${failures} fatal XIDs over ${values.window} simulated (${(windowMs / 1000).toFixed(1)} s at x${scale}); boot ${values.boot} (${bootMs} ms), replace_after ${values['replace-after']} (${replaceAfterMs} ms), ${parallel} replacements at once`,
    );
    const poolsFile = `
providers:
  sim: { type: sim, boot: ${bootMs}ms, seed: ${seed}, instance_types: { sim.h100x8: { gpu_model: H100, gpus: 8, price_per_hour: 24.5 } } }
pools:
  train:
    provider: sim
    instance_type: sim.h100x8
    zones: [sim-a, sim-b]
    min_nodes: ${nodes}
    max_nodes: ${nodes + parallel}
    cooldown: 0s
    health: { replace_after: ${replaceAfterMs}ms, max_parallel_replacements: ${parallel}, max_unavailable: ${Math.max(failPct, 1)}%, join_timeout: 5m }
`;
    const applied = await api('POST', '/api/v1/pools/apply', { source: poolsFile, filename: 'bench-pools.yaml' });
    if (applied.status !== 200) throw new Error(`pools apply answered ${applied.status}: ${JSON.stringify(applied.body)}`);
    const setupStart = Date.now();
    let lastPrint = Date.now();
    for (;;) {
      const p = (await api<PoolView>('GET', '/api/v1/pools/train')).body;
      if (p.ready >= nodes && p.inFlight === 0) break;
      if (Date.now() - lastPrint > 5000) {
        lastPrint = Date.now();
        console.log(`  filling: ${p.ready}/${nodes} READY, ${p.inFlight} in flight (${((Date.now() - setupStart) / 1000).toFixed(0)} s)`);
      }
      if (Date.now() - setupStart > 20 * 60_000) throw new Error(`the pool did not fill within 20 minutes (${p.ready}/${nodes} READY)`);
      await sleep(500);
    }
    const setupSeconds = (Date.now() - setupStart) / 1000;
    console.log(`  pool full: ${nodes} READY in ${setupSeconds.toFixed(1)} s`);
    await sleep(3000);

    // Other work on the machine shows in these figures: say how busy it was.
    const loadBefore = loadavg()[0]!;
    const victims: Victim[] = [];
    const rng = mulberry32(hashString(`${seed}:victims`));
    const members = hosts.list('train');
    for (let i = members.length - 1; i > 0; i--) {
      const j = Math.floor(rng() * (i + 1));
      [members[i], members[j]] = [members[j]!, members[i]!];
    }
    let lowestReady = Number.POSITIVE_INFINITY;
    let lowestCapacity = Number.POSITIVE_INFINITY;
    let watching = true;
    // READY from the cheap list every 250 ms; capacity (members up, faulted or not) from the detail every 2 s.
    const readyWatch = (async () => {
      while (watching) {
        const r = await api<{ items: PoolView[] }>('GET', '/api/v1/pools');
        const p = r.body.items.find((x) => x.name === 'train');
        if (p) lowestReady = Math.min(lowestReady, p.ready);
        await sleep(250);
      }
    })();
    const capacityWatch = (async () => {
      while (watching) {
        const d = (await api<PoolDetailView>('GET', '/api/v1/pools/train')).body;
        lowestCapacity = Math.min(lowestCapacity, poolCapacity(d.members));
        await sleep(2000);
      }
    })();
    // Each victim's node polled until its verdict is unhealthy (the moment replace_after counts from).
    const unhealthyWatches: Promise<void>[] = [];
    const windowStart = Date.now();
    for (let k = 0; k < failures; k++) {
      await sleep(windowStart + (k * windowMs) / failures - Date.now());
      const h = members[k]!;
      const v: Victim = {
        hostname: h.hostname,
        nodeId: h.nodeId,
        instanceId: h.instanceId,
        injectedAt: Date.now(),
        unhealthyAt: null,
        replacementReadyAt: null,
        replacementProvisionAt: null,
        terminatedAt: null,
      };
      victims.push(v);
      injector.xid(h.hostname, Math.floor(rng() * 8), 79);
      unhealthyWatches.push(
        (async () => {
          while (v.unhealthyAt === null && Date.now() - v.injectedAt < 120_000) {
            const n = await api<NodeView>('GET', `/api/v1/nodes/${encodeURIComponent(v.nodeId)}`);
            if (n.body?.health?.verdict === 'unhealthy') v.unhealthyAt = Date.now();
            else await sleep(100);
          }
        })(),
      );
    }
    await Promise.all(unhealthyWatches);
    console.log(`  ${failures} faults injected over ${((Date.now() - windowStart) / 1000).toFixed(1)} s; waiting for the replacements`);
    const endBy = Date.now() + 10 * 60_000;
    let events: PoolEventView[] = [];
    for (;;) {
      events = await allEvents(api);
      matchEvents(victims, events);
      const pending = victims.filter((v) => v.replacementReadyAt === null || v.terminatedAt === null).length;
      const p = (await api<PoolView>('GET', '/api/v1/pools/train')).body;
      if (pending === 0 && p.ready >= nodes && p.inFlight === 0) break;
      if (Date.now() > endBy) throw new Error(`replacements not done within 10 minutes (${pending} pending, ${p.ready} READY, ${p.inFlight} in flight)`);
      if (Date.now() - lastPrint > 5000) {
        lastPrint = Date.now();
        console.log(`  replacing: ${failures - pending}/${failures} done, ${p.ready} READY, ${p.inFlight} in flight`);
      }
      await sleep(500);
    }
    const windowEnd = Date.now();
    watching = false;
    await Promise.all([readyWatch, capacityWatch]);
    const loadAfter = loadavg()[0]!;

    const toReady = victims
      .filter((v) => v.unhealthyAt !== null && v.replacementReadyAt !== null)
      .map((v) => (v.replacementReadyAt! - v.unhealthyAt!) / 1000)
      .sort((a, b) => a - b);
    // Paid while not usable: a replacement from its provision to READY, a faulted node from UNHEALTHY to terminated.
    const bootingS = victims.reduce((a, v) => a + (v.replacementReadyAt! - (v.replacementProvisionAt ?? v.replacementReadyAt!)) / 1000, 0);
    const faultedS = victims.reduce((a, v) => a + (v.terminatedAt! - (v.unhealthyAt ?? v.injectedAt)) / 1000, 0);
    const hours = (seconds: number) => Math.round((seconds * scale) / 36) / 100;
    const poolHours = (nodes * (windowEnd - windowStart) * scale) / 3_600_000;
    const result = {
      bench: 'pools',
      date: new Date().toISOString(),
      machine: machineInfo(),
      loadAverage1m: { before: round(loadBefore), after: round(loadAfter) },
      settings: {
        nodes,
        gpusPerNode: 8,
        failures,
        scale,
        simulated: { window: values.window, boot: values.boot, replaceAfter: values['replace-after'] },
        real: { windowMs: Math.round(windowMs), bootMs, replaceAfterMs },
        maxParallelReplacements: parallel,
        linkProxies: false,
        poolReconcileMs: 500,
        heartbeatMs: config.heartbeatIntervalMs,
        offlineAfterBeats: config.offlineAfterBeats,
        kernelLogPollMs: KERNEL_LOG_POLL_MS,
      },
      setupSeconds: round(setupSeconds),
      unhealthyToReplacementReady: {
        count: toReady.length,
        realSeconds: { p50: round(percentile(toReady, 50)), p99: round(percentile(toReady, 99)), max: round(toReady.at(-1) ?? Number.NaN) },
        simulatedSeconds: { p50: round(percentile(toReady, 50) * scale), p99: round(percentile(toReady, 99) * scale) },
        // What the manager adds to the wait it is told to make (replace_after) and the boot: detection, reconcile passes, enrollment.
        realSecondsBeyondReplaceAfterAndBoot: {
          p50: round(percentile(toReady, 50) - (replaceAfterMs + bootMs) / 1000),
          p99: round(percentile(toReady, 99) - (replaceAfterMs + bootMs) / 1000),
        },
      },
      lowestReady: lowestReady,
      lowestCapacity: lowestCapacity,
      wastedInstanceHours: {
        total: hours(bootingS + faultedS),
        replacementsBooting: hours(bootingS),
        faultedWaiting: hours(faultedS),
        poolInstanceHoursInWindow: Math.round(poolHours * 100) / 100,
      },
      victims: victims.map((v) => ({
        host: v.hostname,
        unhealthyAfterMs: v.unhealthyAt === null ? null : v.unhealthyAt - v.injectedAt,
        replacementReadyAfterMs: v.unhealthyAt === null || v.replacementReadyAt === null ? null : v.replacementReadyAt - v.unhealthyAt,
        terminatedAfterMs: v.unhealthyAt === null || v.terminatedAt === null ? null : v.terminatedAt - v.unhealthyAt,
      })),
    };
    console.log(
      [
        '',
        `  UNHEALTHY -> replacement READY: p50 ${result.unhealthyToReplacementReady.realSeconds.p50} s, p99 ${result.unhealthyToReplacementReady.realSeconds.p99} s of the clock (x${scale}: p50 ${result.unhealthyToReplacementReady.simulatedSeconds.p50} s, p99 ${result.unhealthyToReplacementReady.simulatedSeconds.p99} s simulated)`,
        `  lowest READY ${lowestReady} of ${nodes}; lowest capacity (members up, faulted or not) ${lowestCapacity}`,
        `  wasted instance-hours (scaled back): ${result.wastedInstanceHours.total} (booting ${result.wastedInstanceHours.replacementsBooting}, faulted and waiting ${result.wastedInstanceHours.faultedWaiting}) of ${result.wastedInstanceHours.poolInstanceHoursInWindow} in the window`,
        `  load average (1 min) ${result.loadAverage1m.before} before, ${result.loadAverage1m.after} after`,
      ].join('\n'),
    );
    console.log(JSON.stringify({ ...result, victims: undefined }));
    mkdirSync(join(here, 'results'), { recursive: true });
    const file = join(here, 'results', `pools-${nodes}.json`);
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`  written to ${file}`);
  } finally {
    await injector.dispose();
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Every pool event, oldest first. */
async function allEvents(api: <T>(m: 'GET', p: string) => Promise<{ status: number; body: T }>): Promise<PoolEventView[]> {
  const out: PoolEventView[] = [];
  let after = 0;
  for (;;) {
    const r = await api<{ items: PoolEventView[] }>('GET', `/api/v1/pools/train/events?after=${after}&limit=1000`);
    if (r.status !== 200) throw new Error(`pool events answered ${r.status}`);
    out.push(...r.body.items);
    if (r.body.items.length < 1000) return out;
    after = r.body.items.at(-1)!.id;
  }
}

/** Finds each victim's replace operation in the events: its provision, the new node joined, the old instance terminated. */
function matchEvents(victims: Victim[], events: PoolEventView[]): void {
  for (const v of victims) {
    const started = events.find((e) => e.kind === 'replace-started' && (e.nodeId === v.nodeId || e.instanceId === v.instanceId));
    if (!started?.operationId) continue;
    const ofOp = events.filter((e) => e.operationId === started.operationId);
    const at = (e: PoolEventView | undefined) => (e ? Date.parse(e.at) : null);
    v.replacementProvisionAt ??= at(ofOp.find((e) => e.kind === 'provision-started') ?? ofOp.find((e) => e.kind === 'provisioned'));
    v.replacementReadyAt ??= at(ofOp.find((e) => e.kind === 'joined'));
    v.terminatedAt ??= at(ofOp.find((e) => e.kind === 'terminated'));
  }
}
