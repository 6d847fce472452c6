import type { ClaimView } from './scheduler-types.js';

/** What one tentative placement takes on its node. */
export interface TentativeClaim {
  /** Who holds the GPUs until the plan is applied (e.g. `llama/web-0`). */
  holder: string;
  job: string;
  nodeId: string;
  gpuIndexes: readonly number[];
  cpu: number | null;
  memory: number | null;
}

interface NodeTaken {
  gpus: Map<number, string>;
  cpu: number;
  memory: number;
}

/**
 * Claims as they will be once a batch's placements are applied: the base view plus what the
 * batch took so far. The scheduler places every request of a batch against one of these, so
 * two requests of a batch never get the same GPU or the same spare CPU.
 */
export class ClaimOverlay implements ClaimView {
  private readonly taken = new Map<string, NodeTaken>();
  private readonly jobCounts = new Map<string, Map<string, number>>();

  constructor(private readonly base: ClaimView) {}

  take(claim: TentativeClaim): void {
    let node = this.taken.get(claim.nodeId);
    if (!node) {
      node = { gpus: new Map(), cpu: 0, memory: 0 };
      this.taken.set(claim.nodeId, node);
    }
    for (const index of claim.gpuIndexes) node.gpus.set(index, claim.holder);
    node.cpu += claim.cpu ?? 0;
    node.memory += claim.memory ?? 0;
    let perNode = this.jobCounts.get(claim.job);
    if (!perNode) {
      perNode = new Map();
      this.jobCounts.set(claim.job, perNode);
    }
    perNode.set(claim.nodeId, (perNode.get(claim.nodeId) ?? 0) + 1);
  }

  gpuHolder(nodeId: string, gpuIndex: number): string | null {
    return this.taken.get(nodeId)?.gpus.get(gpuIndex) ?? this.base.gpuHolder(nodeId, gpuIndex);
  }

  cpuReserved(nodeId: string): number {
    return this.base.cpuReserved(nodeId) + (this.taken.get(nodeId)?.cpu ?? 0);
  }

  memoryReserved(nodeId: string): number {
    return this.base.memoryReserved(nodeId) + (this.taken.get(nodeId)?.memory ?? 0);
  }

  jobAllocsOnNode(job: string, nodeId: string): number {
    return this.base.jobAllocsOnNode(job, nodeId) + (this.jobCounts.get(job)?.get(nodeId) ?? 0);
  }

  /** Only when the base view can say; the scheduler asks every node otherwise. */
  get jobNodes(): ((job: string) => ReadonlyMap<string, number>) | undefined {
    const baseJobNodes = this.base.jobNodes?.bind(this.base);
    if (!baseJobNodes) return undefined;
    return (job) => {
      const added = this.jobCounts.get(job);
      if (!added) return baseJobNodes(job);
      const merged = new Map(baseJobNodes(job));
      for (const [nodeId, n] of added) merged.set(nodeId, (merged.get(nodeId) ?? 0) + n);
      return merged;
    };
  }

  /** The nodes this overlay took something on. */
  touchedNodes(): IterableIterator<string> {
    return this.taken.keys();
  }
}
