import type { IndexedNode, PciPlace } from './fleet-index.js';

export interface GpuPick {
  /** Positions in node.gpus, by GPU index. */
  positions: number[];
  /**
   * How close the picked GPUs are: 1 on one PCI root (same domain and bus), between 0 and 0.5 on
   * one domain (less the farther apart their bus numbers), 0 across domains or when the
   * inventory does not say. A single GPU is 1.
   */
  locality: number;
}

/**
 * Chooses `count` of the free GPUs (`free`: positions in node.gpus, by GPU index), keeping a
 * multi-GPU allocation as close together on the PCI tree as the node allows (peer-to-peer
 * traffic between GPUs on one root or switch does not cross the CPU interconnect). Sorted by
 * domain and bus, the closest group of `count` is a window of consecutive GPUs, so the best one
 * is found in one pass.
 */
export function pickGpus(entry: IndexedNode, free: readonly number[], count: number): GpuPick {
  if (count <= 0) return { positions: [], locality: 1 };
  if (count === 1) return { positions: [free[0]!], locality: 1 };
  const placed = free.filter((p) => entry.pci[p] !== null);
  if (placed.length >= count) {
    const place = (p: number) => entry.pci[p] as PciPlace;
    // Positions follow GPU index, so comparing positions orders equal buses by index.
    placed.sort((a, b) => {
      const pa = place(a);
      const pb = place(b);
      if (pa.domain !== pb.domain) return pa.domain < pb.domain ? -1 : 1;
      return pa.bus - pb.bus || a - b;
    });
    let best = -1;
    let bestSpan = Number.POSITIVE_INFINITY;
    for (let i = 0; i + count <= placed.length; i++) {
      const first = place(placed[i]!);
      const last = place(placed[i + count - 1]!);
      if (first.domain !== last.domain) continue;
      const span = last.bus - first.bus;
      if (span < bestSpan) {
        best = i;
        bestSpan = span;
      }
    }
    if (best >= 0) {
      const positions = placed.slice(best, best + count).sort((a, b) => a - b);
      return { positions, locality: bestSpan === 0 ? 1 : 0.5 * (1 - bestSpan / 256) };
    }
  }
  return { positions: free.slice(0, count), locality: 0 };
}
