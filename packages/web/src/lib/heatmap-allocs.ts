import type { AllocationView } from './workloads.js';
import { allocLabel, isFinalAlloc } from './workloads.js';
import type { HeatCell, HeatmapModel } from './heatmap.js';

/*
 * Which GPUs of the heatmap are held by workload allocations. Kept beside the model rather than
 * in its cells: the cells are rebuilt from every live node update, the allocations come from
 * their own poll (GET /allocations?active=true), and putting one on the other is a Map lookup
 * per drawn cell instead of a copy of 80,000 cells per poll.
 */

/** The allocation holding one GPU, as the heatmap shows it. */
export interface AllocMark {
  id: string;
  /** `llama/web-0`. */
  label: string;
  status: string;
}

/** Node id -> GPU index -> the allocation holding it. */
export type AllocMarks = ReadonlyMap<string, ReadonlyMap<number, AllocMark>>;

export const NO_ALLOCS: AllocMarks = new Map();

/**
 * The marks of the allocations that hold GPUs now: those wanted running and not over. Where two
 * claim one GPU (a replacement placed while the old one still stops) the one wanted running wins.
 */
export function allocMarksFrom(items: readonly AllocationView[]): AllocMarks {
  const out = new Map<string, Map<number, AllocMark>>();
  for (const a of items) {
    if (isFinalAlloc(a)) continue;
    let gpus = out.get(a.nodeId);
    if (!gpus) out.set(a.nodeId, (gpus = new Map()));
    for (const g of a.gpus) {
      const held = gpus.get(g.index);
      if (held && a.desired !== 'run') continue;
      gpus.set(g.index, { id: a.id, label: allocLabel(a), status: a.status });
    }
  }
  return out;
}

/** The allocation holding this cell's GPU, or null when it is free. */
export function allocMarkOf(marks: AllocMarks | undefined, c: Pick<HeatCell, 'nodeId' | 'index'>): AllocMark | null {
  return marks?.get(c.nodeId)?.get(c.index) ?? null;
}

/** The model with these allocation marks (the same model when they are already its marks). */
export function withAllocations(m: HeatmapModel, marks: AllocMarks): HeatmapModel {
  return m.allocs === marks ? m : { ...m, allocs: marks };
}

/** The hover line of an allocated GPU. */
export function allocLine(mark: AllocMark): string {
  return `allocation ${mark.label} (${mark.status})`;
}

/** Whether two sets of marks hold the same GPUs for the same allocations in the same status. */
export function sameAllocMarks(a: AllocMarks, b: AllocMarks): boolean {
  if (a === b) return true;
  if (a.size !== b.size) return false;
  for (const [node, gpus] of a) {
    const other = b.get(node);
    if (!other || other.size !== gpus.size) return false;
    for (const [index, m] of gpus) {
      const o = other.get(index);
      if (!o || o.id !== m.id || o.status !== m.status || o.label !== m.label) return false;
    }
  }
  return true;
}
