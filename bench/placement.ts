// Placement benchmark (issue 10): how many allocations per second the scheduler places on one
// core, with the claim table and the plan applier in the loop (the commit is in memory, with the
// database's conflict check), on a synthetic fleet of N nodes x G GPUs of mixed models:
//   npm run bench -- placement --nodes 10000 --gpus 8 [--allocs 10000] [--batch 10] [--seed 1]
//     [--phases binpack1,binpack4,spread1]
// Three phases on a fresh fleet each: 1-GPU binpack, 4-GPU binpack, 1-GPU spread over racks.
// Prints a table and one JSON line, writes bench/results/placement-<nodes>.json.
// With --e2e (or --hosts N) it then runs the end-to-end part in bench/placement-e2e.ts.
// Target (DESIGN.md §9): 10,000 placements/s on one core (Nomad C1M: ~3,750/s on 5 servers).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { JobSpec } from '@gpufleet/protocol';
import { ClaimTable } from '../packages/server/src/workloads/claims/claim-table.js';
import { PlanApplier } from '../packages/server/src/workloads/claims/plan-applier.js';
import { FleetIndex } from '../packages/server/src/workloads/scheduler/fleet-index.js';
import { PlacementScheduler } from '../packages/server/src/workloads/scheduler/placement-scheduler.js';
import type { PlacementRequest, SchedNode } from '../packages/server/src/workloads/scheduler/scheduler-types.js';
import type { AllocationRecord, PlanCommit, PlanConflict } from '../packages/server/src/store/workload-records.js';
import { machineInfo, percentile, round } from './support.js';

const here = dirname(fileURLToPath(import.meta.url));
const GiB = 2 ** 30;

/** The GPU models of the synthetic fleet, with the share of nodes that carry each. */
const MODELS = [
  { vendor: 'nvidia', name: 'NVIDIA H100 80GB HBM3', memoryGiB: 80, share: 0.4 },
  { vendor: 'nvidia', name: 'NVIDIA A100-SXM4-80GB', memoryGiB: 80, share: 0.3 },
  { vendor: 'nvidia', name: 'NVIDIA L40S', memoryGiB: 48, share: 0.2 },
  { vendor: 'amd', name: 'AMD Instinct MI300X', memoryGiB: 192, share: 0.1 },
] as const;

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function syntheticFleet(nodes: number, gpus: number, random: () => number): SchedNode[] {
  return Array.from({ length: nodes }, (_, i) => {
    let r = random();
    const model = MODELS.find((m) => (r -= m.share) < 0) ?? MODELS[0];
    return {
      id: `node-${i}`,
      hostname: `gpu-${String(i).padStart(5, '0')}`,
      labels: { rack: `r${i % 100}`, region: i % 3 === 0 ? 'us' : 'eu', ...(random() < 0.1 ? { spot: 'true' } : {}) },
      state: random() < 0.02 ? 'CORDONED' : 'READY',
      cpuCores: 128,
      memoryBytes: 1024 * GiB,
      gpus: Array.from({ length: gpus }, (_, g) => ({
        index: g,
        uuid: `GPU-${i}-${g}`,
        vendor: model.vendor,
        name: model.name,
        memoryTotalBytes: model.memoryGiB * GiB,
        // Two PCI roots of gpus/2 GPUs each, as on most 8-GPU servers.
        pciBusId: `0000:${(g < gpus / 2 ? 0x17 + g : 0x97 + g).toString(16)}:00.0`,
        state: random() < 0.005 ? ('UNHEALTHY' as const) : ('READY' as const),
      })),
    };
  });
}

function benchJob(name: string, gpus: number, batch: number, strategy: 'binpack' | 'spread', random: () => number): JobSpec {
  const models = random() < 0.5 ? { gpu_model: [random() < 0.6 ? 'H100' : 'A100'] } : {};
  return JobSpec.parse({
    name,
    kind: 'service',
    allocations: {
      web: {
        count: batch,
        executor: 'container',
        image: 'busybox',
        env: {},
        resources: { gpus, cpu: 4, memory: 32 * GiB, ...models },
        restart: { attempts: 3, within: 600_000, delay: 5000 },
        stop_grace: 10_000,
      },
    },
    constraints: random() < 0.3 ? ['!spot'] : [],
    strategy,
    ...(strategy === 'spread' ? { spread: 'rack' } : {}),
    pin: {},
    update: { max_parallel: 1, canary: 0, healthy_for: 30_000, auto_revert: true, deadline: 300_000 },
    reschedule: { offline_grace: 120_000 },
  });
}

/** The store's commitPlan as far as placement needs it: claims keyed by GPU, refused on conflict. */
function memoryCommit() {
  const claims = new Map<string, string>();
  return async (plan: PlanCommit): Promise<{ ok: true } | { ok: false; conflicts: PlanConflict[] }> => {
    const conflicts: PlanConflict[] = [];
    for (const a of plan.inserts) {
      for (const g of a.gpus) {
        const holder = claims.get(`${a.nodeId}/${g.index}`);
        if (holder !== undefined) conflicts.push({ nodeId: a.nodeId, gpuIndex: g.index, heldBy: holder });
      }
    }
    if (conflicts.length > 0) return { ok: false, conflicts };
    for (const a of plan.inserts) for (const g of a.gpus) claims.set(`${a.nodeId}/${g.index}`, a.id);
    return { ok: true };
  };
}

interface PhaseResult {
  phase: string;
  gpusPerAlloc: number;
  strategy: 'binpack' | 'spread';
  requested: number;
  placed: number;
  unplaced: number;
  seconds: number;
  /** Scheduler + claim table + plan applier (in-memory commit), per second. */
  placementsPerSecond: number;
  /** The scheduler's share alone. */
  schedulerPlacementsPerSecond: number;
  /** The same, per second of this process's CPU time (user + system): what one core does, whatever else the machine runs. */
  placementsPerCpuSecond: number;
  /** Per batch of `batch` allocations, scheduler + apply. */
  batchMs: { p50: number; p99: number };
  /** Plans whose scheduler fell back to scanning the whole fleet (a sample found nothing, or nothing fits). */
  fullScans: number;
  nodesEvaluatedPerPlacement: number;
  gpusAllocatedPct: number;
}

async function runPhase(
  phase: string,
  fleetNodes: SchedNode[],
  options: { gpus: number; strategy: 'binpack' | 'spread'; allocs: number; batch: number; seed: number },
): Promise<PhaseResult> {
  const random = mulberry32(options.seed);
  const claims = new ClaimTable();
  const fleet = new FleetIndex({ claims });
  for (const n of fleetNodes) fleet.upsert(n);
  const scheduler = new PlacementScheduler(fleet, { random });
  const applier = new PlanApplier({ claims, commit: memoryCommit(), fleet });
  const jobs = Array.from({ length: 20 }, (_, j) =>
    benchJob(`bench-${phase.replace(/[^a-z0-9]/g, '')}-${j}`, options.gpus, options.batch, options.strategy, random),
  );
  let placed = 0;
  let unplaced = 0;
  let evaluated = 0;
  let schedulerMs = 0;
  let ids = 0;
  let fullScans = 0;
  const batches: number[] = [];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let done = 0; done < options.allocs; done += options.batch) {
    const job = jobs[Math.floor(random() * jobs.length)]!;
    const count = Math.min(options.batch, options.allocs - done);
    const requests: PlacementRequest[] = Array.from({ length: count }, (_, index) => ({ job, group: 'web', index }));
    const b0 = performance.now();
    const result = scheduler.schedule(requests, claims);
    schedulerMs += performance.now() - b0;
    evaluated += result.nodesEvaluated;
    if (result.nodesEvaluated >= fleet.size) fullScans++;
    const now = Date.now();
    const inserts: AllocationRecord[] = result.placements.map((p) => ({
      id: `alloc-${ids++}`,
      job: job.name,
      jobVersion: 1,
      group: p.request.group,
      index: p.request.index,
      nodeId: p.nodeId,
      hostname: p.hostname,
      desired: 'run',
      status: 'pending',
      healthy: null,
      healthySince: null,
      restarts: 0,
      exitCode: null,
      message: '',
      gpus: p.gpus,
      cpu: p.cpu,
      memory: p.memory,
      replaces: null,
      replacedBy: null,
      stopCause: null,
      createdAt: now,
      updatedAt: now,
    }));
    const applied = await applier.apply({ inserts, updates: [], release: [] });
    batches.push(performance.now() - b0);
    placed += applied.committed.length;
    unplaced += count - applied.committed.length;
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const totalGpus = fleetNodes.reduce((s, n) => s + n.gpus.length, 0);
  batches.sort((a, b) => a - b);
  return {
    phase,
    gpusPerAlloc: options.gpus,
    strategy: options.strategy,
    requested: options.allocs,
    placed,
    unplaced,
    seconds: Math.round(seconds * 1000) / 1000,
    placementsPerSecond: Math.round(placed / seconds),
    schedulerPlacementsPerSecond: Math.round(placed / (schedulerMs / 1000)),
    placementsPerCpuSecond: Math.round(placed / cpuSeconds),
    batchMs: { p50: Math.round(percentile(batches, 50) * 100) / 100, p99: Math.round(percentile(batches, 99) * 100) / 100 },
    fullScans,
    nodesEvaluatedPerPlacement: round(evaluated / Math.max(1, options.allocs)),
    gpusAllocatedPct: round(((placed * options.gpus) / totalGpus) * 100),
  };
}

export async function runPlacementBench(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    strict: false,
    options: {
      nodes: { type: 'string', default: '10000' },
      gpus: { type: 'string', default: '8' },
      allocs: { type: 'string', default: '10000' },
      batch: { type: 'string', default: '10' },
      seed: { type: 'string', default: '1' },
      phases: { type: 'string', default: 'binpack1,binpack4,spread1' },
      e2e: { type: 'boolean', default: false },
      hosts: { type: 'string' },
    },
  });
  const nodes = Number(values.nodes);
  const gpus = Number(values.gpus);
  const allocs = Number(values.allocs);
  const batch = Number(values.batch);
  const seed = Number(values.seed);
  if (!Number.isInteger(nodes) || nodes < 1) throw new Error(`--nodes must be a positive whole number, got '${values.nodes}'`);
  if (!Number.isInteger(gpus) || gpus < 4 || gpus > 64) throw new Error(`--gpus must be from 4 to 64 (the 4-GPU phase needs 4), got '${values.gpus}'`);
  if (!Number.isInteger(allocs) || allocs < 1) throw new Error(`--allocs must be a positive whole number, got '${values.allocs}'`);
  if (!Number.isInteger(batch) || batch < 1 || batch > 10_000)
    throw new Error(`--batch must be from 1 to 10000 (allocations per job plan), got '${values.batch}'`);
  if (!Number.isInteger(seed)) throw new Error(`--seed must be a whole number, got '${values.seed}'`);
  const known = { binpack1: '1-GPU binpack', binpack4: '4-GPU binpack', spread1: '1-GPU spread (rack)' } as const;
  const wanted = String(values.phases).split(',');
  const unknown = wanted.filter((p) => !(p in known));
  if (unknown.length > 0) throw new Error(`--phases is a comma list of ${Object.keys(known).join(', ')}; got '${unknown.join(',')}'`);

  console.log(`placement bench: ${nodes} nodes x ${gpus} GPUs (mixed models), ${allocs} allocations per phase in plans of ${batch}, one core`);
  const fleetNodes = syntheticFleet(nodes, gpus, mulberry32(seed));
  // Warm the JIT on a small fleet so the first phase does not pay for it.
  await runPhase('warm-up', fleetNodes.slice(0, Math.min(nodes, 500)), { gpus: 1, strategy: 'binpack', allocs: 2000, batch, seed });
  const phases: PhaseResult[] = [];
  if (wanted.includes('binpack1')) phases.push(await runPhase(known.binpack1, fleetNodes, { gpus: 1, strategy: 'binpack', allocs, batch, seed }));
  if (wanted.includes('binpack4')) phases.push(await runPhase(known.binpack4, fleetNodes, { gpus: 4, strategy: 'binpack', allocs, batch, seed }));
  if (wanted.includes('spread1')) phases.push(await runPhase(known.spread1, fleetNodes, { gpus: 1, strategy: 'spread', allocs, batch, seed }));

  const result = {
    bench: 'placement',
    at: new Date().toISOString(),
    machine: machineInfo(),
    nodes,
    gpusPerNode: gpus,
    allocsPerPhase: allocs,
    batch,
    seed,
    phases,
  };
  console.table(
    Object.fromEntries(
      phases.map((p) => [
        p.phase,
        {
          'placed / asked': `${p.placed} / ${p.requested}`,
          'placements/s (with apply)': p.placementsPerSecond,
          'placements/s (scheduler)': p.schedulerPlacementsPerSecond,
          'placements per CPU-s': p.placementsPerCpuSecond,
          'plan p50 / p99 ms': `${p.batchMs.p50} / ${p.batchMs.p99}`,
          'nodes evaluated each': p.nodesEvaluatedPerPlacement,
          'full scans': p.fullScans,
          'GPUs allocated': `${p.gpusAllocatedPct}%`,
        },
      ]),
    ),
  );
  console.log(JSON.stringify(result));
  mkdirSync(join(here, 'results'), { recursive: true });
  const file = join(here, 'results', `placement-${nodes}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`written ${file}`);

  if (values.e2e === true || values.hosts !== undefined) {
    // Written by the simulator's side; imported by name so this bench runs before it exists.
    const e2ePath = './placement-e2e.js';
    let e2e: { runPlacementE2e(argv: string[]): Promise<void> };
    try {
      e2e = await import(e2ePath);
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_MODULE_NOT_FOUND')
        throw new Error('--e2e needs bench/placement-e2e.ts (the simulated-host part), which this tree does not have');
      throw err;
    }
    await e2e.runPlacementE2e(argv);
  }
}
