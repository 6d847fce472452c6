import { matchesSelector, parseSelector } from '@gpufleet/protocol';
import type { PendingSlots } from './pools-api.js';

/** What a new node of a pool would look like to the scheduler. */
export interface NodeTemplate {
  gpus: number;
  /** GPU name as the node reports it ("NVIDIA H100 80GB HBM3"); null: unknown. */
  gpuModel: string | null;
  /** Memory of one GPU, bytes; null: unknown (a memory floor is then taken as met). */
  gpuMemoryBytes: number | null;
  /** The labels it would carry (pool labels, `pool`, and built-in ones seen on a member). */
  labels: Record<string, string>;
}

/** Whether one slot of a pending group would fit on an empty node made from `t`. */
export function slotFits(slot: PendingSlots, t: NodeTemplate): boolean {
  if (slot.gpusPerSlot > t.gpus) return false;
  if (slot.gpuModels.length > 0) {
    const name = t.gpuModel?.toLowerCase();
    if (!name || !slot.gpuModels.some((m) => name.includes(m.toLowerCase()))) return false;
  }
  if (slot.gpuMemoryMinBytes > 0 && t.gpuMemoryBytes !== null && t.gpuMemoryBytes < slot.gpuMemoryMinBytes) return false;
  for (const text of slot.constraints) {
    try {
      if (!matchesSelector(parseSelector(text), t.labels)) return false;
    } catch {
      return false;
    }
  }
  return true;
}

/** New nodes of `gpusPerNode` GPUs the slots fill, each group packed on its own nodes. */
export function nodesFor(slots: readonly PendingSlots[], gpusPerNode: number): number {
  let nodes = 0;
  for (const s of slots) {
    const perNode = s.gpusPerSlot === 0 ? s.count : Math.floor(gpusPerNode / s.gpusPerSlot);
    if (perNode > 0) nodes += Math.ceil(s.count / perNode);
  }
  return nodes;
}

/** A pool as demand is shared out: its template (null: not known yet) and whether it can grow. */
export interface DemandTaker {
  pool: string;
  template: NodeTemplate | null;
  canGrow: boolean;
}

/**
 * Shares pending slots out: each group goes to the first pool (by name) whose new nodes would
 * take it and that can still grow, so two pools never grow for the same waiting work.
 */
export function assignDemand(slots: readonly PendingSlots[], pools: readonly DemandTaker[]): Map<string, PendingSlots[]> {
  const out = new Map<string, PendingSlots[]>();
  const ordered = [...pools].sort((a, b) => a.pool.localeCompare(b.pool));
  for (const slot of slots) {
    const taker = ordered.find((p) => p.canGrow && p.template !== null && slotFits(slot, p.template));
    if (!taker) continue;
    const list = out.get(taker.pool);
    if (list) list.push(slot);
    else out.set(taker.pool, [slot]);
  }
  return out;
}
