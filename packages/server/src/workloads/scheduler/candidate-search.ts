import type { GpuKind, IndexedNode } from './fleet-index.js';
import type { IndexedSet } from './indexed-set.js';

/**
 * How the scheduler draws candidate nodes without scanning the fleet (the idea of Nomad's limit
 * iterator, "power of k choices"): from the sets of READY nodes that have enough free GPUs of an
 * accepted kind, it draws at most `maxProbes` nodes at random and hands each to `visit`, which
 * says when it has seen enough. A population no bigger than the budget is walked whole, from a
 * random start, so small fleets are placed exactly.
 */
export interface Draw {
  random: () => number;
  maxProbes: number;
  /** Evaluates one node; returns true to stop drawing. */
  visit: (entry: IndexedNode) => boolean;
}

/** Walks or samples one population made of several sets; returns the probes used, or -1 when visit stopped it. */
function drawFrom(sets: readonly IndexedSet<IndexedNode>[], total: number, budget: number, draw: Draw): number {
  const at = (i: number): IndexedNode => {
    for (const set of sets) {
      if (i < set.size) return set.at(i);
      i -= set.size;
    }
    throw new Error('candidate index out of range');
  };
  if (total <= budget) {
    const start = Math.floor(draw.random() * total);
    for (let j = 0; j < total; j++) if (draw.visit(at((start + j) % total))) return -1;
    return total;
  }
  for (let j = 0; j < budget; j++) if (draw.visit(at(Math.floor(draw.random() * total)))) return -1;
  return budget;
}

function tierSets(kinds: readonly GpuKind[], tier: number): { sets: IndexedSet<IndexedNode>[]; total: number } {
  const sets: IndexedSet<IndexedNode>[] = [];
  let total = 0;
  for (const kind of kinds) {
    const set = kind.tiers[tier];
    if (set && set.size > 0) {
      sets.push(set);
      total += set.size;
    }
  }
  return { sets, total };
}

function maxTier(kinds: readonly GpuKind[]): number {
  let max = 0;
  for (const kind of kinds) max = Math.max(max, kind.tiers.length - 1);
  return max;
}

/**
 * Binpack's order: the nodes with the fewest free GPUs that still have `want` first, tier by
 * tier; it stops after the first tier where `found()` reports a candidate, since every later
 * tier leaves more GPUs idle.
 */
export function drawFullestFirst(kinds: readonly GpuKind[], want: number, found: () => number, draw: Draw): void {
  let left = draw.maxProbes;
  const top = maxTier(kinds);
  for (let tier = Math.max(1, want); tier <= top && left > 0; tier++) {
    const { sets, total } = tierSets(kinds, tier);
    if (total === 0) continue;
    const used = drawFrom(sets, total, left, draw);
    if (used < 0 || found() > 0) return;
    left -= used;
  }
}

/** Spread's order: any node with `want` free GPUs of an accepted kind, uniformly. */
export function drawAnywhere(kinds: readonly GpuKind[], want: number, draw: Draw): void {
  const sets: IndexedSet<IndexedNode>[] = [];
  let total = 0;
  const top = maxTier(kinds);
  for (let tier = Math.max(1, want); tier <= top; tier++) {
    const t = tierSets(kinds, tier);
    sets.push(...t.sets);
    total += t.total;
  }
  if (total > 0) drawFrom(sets, total, draw.maxProbes, draw);
}

/** Allocations that want no GPU: any READY node. */
export function drawReady(ready: IndexedSet<IndexedNode>, draw: Draw): void {
  if (ready.size > 0) drawFrom([ready], ready.size, draw.maxProbes, draw);
}
