/** An allocation of a purged job that its host had not confirmed stopped when the job was forgotten. */
export interface Leftover {
  allocId: string;
  nodeId: string;
  specHash: string;
  reason: string;
  since: number;
}

/**
 * Allocations of purged jobs still running on their hosts, by id. A purge forgets the job at once,
 * but the GPUs those allocations hold on their hosts are not free until the hosts confirm the stop:
 * the claim table keeps them until then (or until the wait for a confirmation runs out), so nothing
 * new is placed on a GPU the host would refuse as held. Kept in memory only: after a restart, a
 * host that still runs one is told to stop it when it reports it.
 */
export class PurgedLeftovers {
  private readonly byId = new Map<string, Leftover>();

  add(l: Leftover): void {
    this.byId.set(l.allocId, l);
  }

  get(allocId: string): Leftover | undefined {
    return this.byId.get(allocId);
  }

  delete(allocId: string): boolean {
    return this.byId.delete(allocId);
  }

  onNode(nodeId: string): Leftover[] {
    return [...this.byId.values()].filter((l) => l.nodeId === nodeId);
  }

  /** Those that waited longer than `ms` for their host. */
  olderThan(ms: number, now: number): Leftover[] {
    return [...this.byId.values()].filter((l) => now - l.since > ms);
  }

  get size(): number {
    return this.byId.size;
  }
}
