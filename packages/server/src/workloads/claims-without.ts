import type { ClaimTable } from './claims/claim-table.js';
import type { ClaimView } from './scheduler/scheduler-types.js';

/**
 * The claim table as it would be without some allocations: what `jobs plan` places a changed job
 * against, since the job's own allocations are the ones its new version replaces.
 */
export class ClaimsWithout implements ClaimView {
  constructor(
    private readonly base: ClaimTable,
    private readonly without: ReadonlySet<string>,
  ) {}

  gpuHolder(nodeId: string, gpuIndex: number): string | null {
    const holder = this.base.gpuHolder(nodeId, gpuIndex);
    return holder !== null && this.without.has(holder) ? null : holder;
  }

  cpuReserved(nodeId: string): number {
    return Math.max(0, this.base.cpuReserved(nodeId) - this.sum(nodeId, 'cpu'));
  }

  memoryReserved(nodeId: string): number {
    return Math.max(0, this.base.memoryReserved(nodeId) - this.sum(nodeId, 'memory'));
  }

  jobAllocsOnNode(job: string, nodeId: string): number {
    let n = this.base.jobAllocsOnNode(job, nodeId);
    for (const id of this.without) {
      const hold = this.base.held(id);
      if (hold?.nodeId === nodeId && hold.job === job) n--;
    }
    return Math.max(0, n);
  }

  jobNodes(job: string): ReadonlyMap<string, number> {
    const out = new Map(this.base.jobNodes(job));
    for (const id of this.without) {
      const hold = this.base.held(id);
      if (!hold || hold.job !== job) continue;
      const n = (out.get(hold.nodeId) ?? 0) - 1;
      if (n > 0) out.set(hold.nodeId, n);
      else out.delete(hold.nodeId);
    }
    return out;
  }

  private sum(nodeId: string, pick: 'cpu' | 'memory'): number {
    let total = 0;
    for (const id of this.without) {
      const hold = this.base.held(id);
      if (hold?.nodeId === nodeId) total += hold[pick];
    }
    return total;
  }
}
