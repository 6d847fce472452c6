import { type Labels, matchesSelector, type Selector } from '@gpufleet/protocol';
import type { GpuKind, IndexedNode } from './fleet-index.js';
import { type GpuNeed, modelFits, vendorFits } from './gpu-need.js';
import { pickGpus } from './pci-locality.js';
import { rejection } from './rejections.js';
import type { ClaimView } from './scheduler-types.js';

/** What one allocation group asks of a node, prepared once per batch. */
export interface GroupNeeds {
  /** Parsed job constraints, with their text for messages. */
  constraints: ReadonlyArray<{ source: string; selector: Selector }>;
  gpu: GpuNeed;
  /** The GPU kinds in the fleet that the need accepts. */
  kinds: ReadonlySet<GpuKind>;
  cpu: number | null;
  memory: number | null;
}

/** A node that can take the allocation, with the GPUs it would get. */
export interface Fit {
  entry: IndexedNode;
  /** Positions in node.gpus. */
  positions: number[];
  locality: number;
  /** Free READY GPUs (any kind) left on the node after this allocation. */
  freeAfter: number;
  /** Spread only, filled in by the scheduler: allocations of the job where this node counts (its label value, or itself). */
  spread: number;
  /** Spread only: allocations of the job on this very node. */
  onNode: number;
}

// Rejection keys without a detail are built once.
const GPU_VENDOR = rejection('gpu_vendor');
const GPU_MODEL = rejection('gpu_model');
const GPU_MEMORY = rejection('gpu_memory');
const GPU_COUNT = rejection('gpu_count');
const GPUS_UNHEALTHY = rejection('gpus_unhealthy');
const GPUS_BUSY = rejection('gpus_busy');
const CPU = rejection('cpu');
const CPU_UNKNOWN = rejection('cpu', 'unknown');
const MEMORY = rejection('memory');
const MEMORY_UNKNOWN = rejection('memory', 'unknown');
const AVOIDED = rejection('avoided');

/** The first constraint the labels fail, or null. */
export function failingConstraint(needs: GroupNeeds, labels: Labels): string | null {
  for (const c of needs.constraints) if (!matchesSelector(c.selector, labels)) return c.source;
  return null;
}

/** When no GPU of the node is of an accepted kind: which of vendor, model and memory rules it out. */
function noMatchingGpu(entry: IndexedNode, need: GpuNeed): string {
  const gpus = entry.node.gpus;
  if (!gpus.some((g) => vendorFits(g.vendor, need))) return GPU_VENDOR;
  if (!entry.kinds.some((k) => vendorFits(k.vendor, need) && modelFits(k.nameLower, need))) return GPU_MODEL;
  return GPU_MEMORY;
}

/**
 * Whether the node can take one allocation of the group now, given `claims` (which include what
 * the batch took so far): the node READY, not avoided, every constraint met, enough free READY
 * GPUs of an accepted kind, CPU and memory left. Returns the fit, or a rejection key naming the
 * first check it fails (in the order people read them: state, constraints, GPUs, CPU, memory).
 */
export function fitNode(entry: IndexedNode, needs: GroupNeeds, avoid: readonly string[] | undefined, claims: ClaimView): Fit | string {
  const { node } = entry;
  if (avoid && (avoid.includes(node.id) || avoid.includes(node.hostname))) return AVOIDED;
  if (node.state !== 'READY') return rejection('not_ready', node.state);
  if (needs.constraints.length > 0) {
    const failing = failingConstraint(needs, node.labels);
    if (failing !== null) return rejection('constraint', failing);
  }
  const want = needs.gpu.count;
  // Positions of free accepted GPUs, by index; only a multi-GPU allocation needs them all.
  const free: number[] = [];
  let freeAccepted = 0;
  let totalFree = 0;
  let matching = 0;
  let ready = 0;
  for (let i = 0; i < node.gpus.length; i++) {
    const gpu = node.gpus[i]!;
    const accepted = needs.kinds.has(entry.kinds[i]!);
    if (accepted) matching++;
    if (gpu.state !== 'READY') continue;
    if (accepted) ready++;
    if (claims.gpuHolder(node.id, gpu.index) !== null) continue;
    totalFree++;
    if (accepted && (want > 1 || freeAccepted === 0)) free.push(i);
    if (accepted) freeAccepted++;
  }
  if (want > 0) {
    if (matching === 0) return noMatchingGpu(entry, needs.gpu);
    if (matching < want) return GPU_COUNT;
    if (ready < want) return GPUS_UNHEALTHY;
    if (freeAccepted < want) return GPUS_BUSY;
  }
  if (needs.cpu !== null) {
    if (node.cpuCores === null) return CPU_UNKNOWN;
    // A little slack so fractional cores that add up exactly are not refused by rounding.
    if (node.cpuCores - claims.cpuReserved(node.id) < needs.cpu - 1e-9) return CPU;
  }
  if (needs.memory !== null) {
    if (node.memoryBytes === null) return MEMORY_UNKNOWN;
    if (node.memoryBytes - claims.memoryReserved(node.id) < needs.memory) return MEMORY;
  }
  if (want === 0) return { entry, positions: [], locality: 1, freeAfter: totalFree, spread: 0, onNode: 0 };
  if (want === 1) return { entry, positions: free, locality: 1, freeAfter: totalFree - 1, spread: 0, onNode: 0 };
  const pick = pickGpus(entry, free, want);
  return { entry, positions: pick.positions, locality: pick.locality, freeAfter: totalFree - want, spread: 0, onNode: 0 };
}
