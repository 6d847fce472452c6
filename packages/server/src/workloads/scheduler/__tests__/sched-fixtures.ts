import { JobSpec, type ResourceSpec } from '@gpufleet/protocol';
import { ClaimTable } from '../../claims/claim-table.js';
import { FleetIndex } from '../fleet-index.js';
import { PlacementScheduler, type PlacementSchedulerOptions } from '../placement-scheduler.js';
import type { PlacementRequest, SchedGpu, SchedNode } from '../scheduler-types.js';

export const GiB = 2 ** 30;

/** mulberry32: seeded randomness, so every test run draws the same nodes. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface JobOptions {
  name?: string;
  count?: number;
  resources?: Partial<ResourceSpec>;
  constraints?: string[];
  strategy?: 'binpack' | 'spread';
  spread?: string;
  pin?: Record<string, string>;
  /** Extra groups beside `web`. */
  groups?: Record<string, { count: number; resources: Partial<ResourceSpec> }>;
}

function group(count: number, resources: Partial<ResourceSpec>) {
  return {
    count,
    executor: 'process' as const,
    command: ['sleep', '60'],
    env: {},
    resources: { gpus: 1, ...resources },
    restart: { attempts: 3, within: 600_000, delay: 5000 },
    stop_grace: 10_000,
  };
}

/** A normalized, valid job spec: one group `web` (count 1, 1 GPU) unless told otherwise. */
export function testJob(options: JobOptions = {}): JobSpec {
  const allocations: Record<string, ReturnType<typeof group>> = { web: group(options.count ?? 1, options.resources ?? {}) };
  for (const [name, g] of Object.entries(options.groups ?? {})) allocations[name] = group(g.count, g.resources);
  return JobSpec.parse({
    name: options.name ?? 'llama',
    kind: 'service',
    allocations,
    constraints: options.constraints ?? [],
    strategy: options.strategy ?? 'binpack',
    ...(options.spread ? { spread: options.spread } : {}),
    pin: options.pin ?? {},
    update: { max_parallel: 1, canary: 0, healthy_for: 30_000, auto_revert: true, deadline: 300_000 },
    reschedule: { offline_grace: 120_000 },
  });
}

/** Every allocation of every group of the job, in order. */
export function requestsFor(job: JobSpec, avoid?: string[]): PlacementRequest[] {
  const out: PlacementRequest[] = [];
  for (const [name, g] of Object.entries(job.allocations)) {
    for (let index = 0; index < g.count; index++) out.push({ job, group: name, index, ...(avoid ? { avoid } : {}) });
  }
  return out;
}

export interface NodeOptions {
  state?: string;
  labels?: Record<string, string>;
  gpus?: number;
  model?: string | null;
  vendor?: SchedGpu['vendor'];
  memoryGiB?: number | null;
  cpuCores?: number | null;
  memoryBytes?: number | null;
  /** PCI bus id per GPU index; default `0000:<0x17 + i>:00.0`. */
  pci?: (i: number) => string | null;
  gpuState?: (i: number) => SchedGpu['state'];
}

/** A READY node `id` (hostname `host-<id>`) with 8 H100s, 64 cores and 512 GiB unless told otherwise. */
export function testNode(id: string, options: NodeOptions = {}): SchedNode {
  const count = options.gpus ?? 8;
  const memory = options.memoryGiB === undefined ? 80 : options.memoryGiB;
  return {
    id,
    hostname: `host-${id}`,
    labels: options.labels ?? {},
    state: options.state ?? 'READY',
    cpuCores: options.cpuCores === undefined ? 64 : options.cpuCores,
    memoryBytes: options.memoryBytes === undefined ? 512 * GiB : options.memoryBytes,
    gpus: Array.from({ length: count }, (_, i) => ({
      index: i,
      uuid: `GPU-${id}-${i}`,
      vendor: options.vendor ?? 'nvidia',
      name: options.model === undefined ? 'NVIDIA H100 80GB HBM3' : options.model,
      memoryTotalBytes: memory === null ? null : memory * GiB,
      pciBusId: options.pci ? options.pci(i) : `0000:${(0x17 + i).toString(16)}:00.0`,
      state: options.gpuState?.(i) ?? 'READY',
    })),
  };
}

/** A claim table, an index following it, and a scheduler over both. */
export function testFleet(nodes: SchedNode[], options: PlacementSchedulerOptions = {}) {
  const claims = new ClaimTable();
  const fleet = new FleetIndex({ claims });
  for (const n of nodes) fleet.upsert(n);
  const scheduler = new PlacementScheduler(fleet, { random: seeded(7), ...options });
  return { claims, fleet, scheduler };
}

/** Claims GPUs of a node for an allocation of `job` (default some other job). */
export function hold(
  claims: ClaimTable,
  nodeId: string,
  gpuIndexes: number[],
  id = `held-${nodeId}-${gpuIndexes.join('-')}`,
  job = 'other',
  cpu: number | null = null,
  memory: number | null = null,
): void {
  claims.claim({ id, job, nodeId, gpus: gpuIndexes.map((index) => ({ index, uuid: null })), cpu, memory });
}
