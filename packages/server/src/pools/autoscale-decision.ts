import type { PoolSpec } from '@gpufleet/protocol';
import { formatMs } from '../health/causes.js';

/** What the autoscaler sees of one pool at one moment (pool-facts.ts gathers it). */
export interface AutoscaleInput {
  spec: Pick<PoolSpec, 'minNodes' | 'maxNodes' | 'cooldownMs' | 'autoscaling'>;
  desired: number;
  desiredSource: 'min' | 'manual' | 'autoscale';
  lastScaleUpAt: number | null;
  lastScaleDownAt: number | null;
  now: number;
  /** Nodes the pool counts: live members not being removed or replaced, and provisions not yet sent. */
  size: number;
  /** Of those, nodes on their way (provisioning, joining): capacity already coming. */
  coming: number;
  /** Pending slots a new node of this pool would take: how many, and how many new nodes they fill. */
  pending: { slots: number; nodes: number; gpuModel: string | null };
  allocatedGpus: number;
  totalGpus: number;
  /** Members idle (no allocation, no run in flight) for at least idle_for. */
  idleNodes: number;
  /** GPUs of one node of the pool; null: not known yet. */
  gpusPerNode: number | null;
}

export interface ScaleDecision {
  direction: 'up' | 'down';
  /** The new desired size. */
  desired: number;
  /** Nodes added or removed. */
  by: number;
  /** One sentence: "scale up 2: 5 allocations pending, no free H100". */
  reason: string;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
const pct = (allocated: number, total: number) => (total > 0 ? (allocated * 100) / total : 0);

/**
 * The autoscaler's decision for one pool, or null to leave it as it is. Grows for pending work a
 * new node would take (by the nodes that work fills, less those already coming) or for a busy
 * pool (+1); shrinks by idle nodes while the pool is quiet; both capped by max_step and the
 * pool's range and held by each direction's cooldown. A size an operator set (`pools scale`) is
 * never shrunk by the autoscaler; it may still grow it when work waits.
 */
export function decideScale(input: AutoscaleInput): ScaleDecision | null {
  const auto = input.spec.autoscaling;
  if (auto === null) return null;
  return scaleUp(input, auto) ?? scaleDown(input, auto);
}

function scaleUp(input: AutoscaleInput, auto: NonNullable<PoolSpec['autoscaling']>): ScaleDecision | null {
  const { spec, now } = input;
  if (input.lastScaleUpAt !== null && now - input.lastScaleUpAt < spec.cooldownMs) return null;
  const base = Math.max(input.desired, input.size);
  // Provisions asked for but not yet counted (desired above size) are coming too.
  const onTheWay = input.coming + Math.max(0, input.desired - input.size);
  const reasons: string[] = [];
  let add = 0;
  if (auto.pendingAllocations && input.pending.slots > 0) {
    const forPending = input.pending.nodes - onTheWay;
    if (forPending > 0) {
      add = forPending;
      const model = input.pending.gpuModel;
      reasons.push(`${plural(input.pending.slots, 'allocation')} pending${model ? `, no free ${model}` : ''}`);
    }
  }
  const share = pct(input.allocatedGpus, input.totalGpus);
  if (auto.scaleUpAtPct !== null && input.totalGpus > 0 && share >= auto.scaleUpAtPct && onTheWay === 0) {
    add = Math.max(add, 1);
    reasons.push(`${Math.round(share)}% of ${input.totalGpus} GPUs allocated (scale_up_at ${auto.scaleUpAtPct}%)`);
  }
  add = Math.min(add, auto.maxStep, spec.maxNodes - base);
  if (add <= 0) return null;
  return { direction: 'up', desired: base + add, by: add, reason: `scale up ${add}: ${reasons.join('; ')}` };
}

function scaleDown(input: AutoscaleInput, auto: NonNullable<PoolSpec['autoscaling']>): ScaleDecision | null {
  const { spec, now } = input;
  if (auto.scaleDownAtPct === null || input.desiredSource === 'manual') return null;
  if (input.pending.slots > 0 || input.coming > 0 || input.idleNodes === 0) return null;
  if (input.lastScaleDownAt !== null && now - input.lastScaleDownAt < spec.cooldownMs) return null;
  const share = pct(input.allocatedGpus, input.totalGpus);
  if (share > auto.scaleDownAtPct) return null;
  let remove = Math.min(input.idleNodes, auto.maxStep, input.desired - spec.minNodes, input.size - spec.minNodes);
  // Never shrink so far that the rest crosses scale_up_at: that would only grow it back (flapping).
  const perNode = input.gpusPerNode ?? (input.size > 0 ? input.totalGpus / input.size : 0);
  while (remove > 0 && auto.scaleUpAtPct !== null && input.allocatedGpus > 0) {
    const left = input.totalGpus - remove * perNode;
    if (left > 0 && pct(input.allocatedGpus, left) < auto.scaleUpAtPct) break;
    remove--;
  }
  if (remove <= 0) return null;
  return {
    direction: 'down',
    desired: input.desired - remove,
    by: remove,
    reason: `scale down ${remove}: ${plural(input.idleNodes, 'node')} idle for ${formatMs(auto.idleForMs)}, ${Math.round(share)}% of ${input.totalGpus} GPUs allocated (scale_down_at ${auto.scaleDownAtPct}%)`,
  };
}

/**
 * Why waiting work does not grow the pool right now, when decideScale made no decision: the pool
 * is at max_nodes, or the scale-up cooldown runs. null when nothing waits or nodes are on the way.
 */
export function heldScaleUp(input: AutoscaleInput): string | null {
  const auto = input.spec.autoscaling;
  if (auto === null || !auto.pendingAllocations || input.pending.slots === 0) return null;
  const onTheWay = input.coming + Math.max(0, input.desired - input.size);
  if (input.pending.nodes - onTheWay <= 0) return null;
  const waiting = `${plural(input.pending.slots, 'allocation')} pending`;
  if (Math.max(input.desired, input.size) >= input.spec.maxNodes) return `${waiting}; the pool is at max_nodes ${input.spec.maxNodes}`;
  if (input.lastScaleUpAt !== null && input.now - input.lastScaleUpAt < input.spec.cooldownMs) {
    return `${waiting}; the next scale up waits for the cooldown (${formatMs(input.spec.cooldownMs - (input.now - input.lastScaleUpAt))} left)`;
  }
  return null;
}
