import type { ClaimView, SchedNode } from './scheduler-types.js';

/** Nodes without the label count as one value of their own. */
const UNLABELED = '\u0000unlabeled';

/** The value a node counts under for `spread: <label>`: its label's value, or the one value of all nodes without it. */
export function spreadValue(labels: Readonly<Record<string, string>>, label: string): string {
  return labels[label] ?? UNLABELED;
}

/** Where the counts read node labels from. */
export interface LabelSource {
  get(id: string): SchedNode | undefined;
  entries(): Iterable<{ node: SchedNode }>;
}

/** Counts a job's allocations per value of a label, from the claims (every node asked when they cannot list the job's nodes). */
export function countJobByLabel(fleet: LabelSource, claims: ClaimView, job: string, label: string): Map<string, number> {
  const table = new Map<string, number>();
  const bump = (labels: Readonly<Record<string, string>>, n: number) => {
    const value = spreadValue(labels, label);
    table.set(value, (table.get(value) ?? 0) + n);
  };
  const jobNodes = claims.jobNodes?.(job);
  if (jobNodes) {
    for (const [nodeId, n] of jobNodes) {
      const node = fleet.get(nodeId);
      if (node && n > 0) bump(node.labels, n);
    }
  } else {
    for (const { node } of fleet.entries()) {
      const n = claims.jobAllocsOnNode(job, node.id);
      if (n > 0) bump(node.labels, n);
    }
  }
  return table;
}

/**
 * Spread-over-a-label counts that outlive a plan: built the first time a job spreads over a
 * label, then moved by one on every claim or release of the job (the claim table says which),
 * so a plan reads them in O(1) instead of recounting the job's allocations. A change of any
 * node's labels, or a node the counts may not have seen, drops them all (rare; rebuilt on use).
 */
export class JobLabelCounts {
  private readonly tables = new Map<string, Map<string, Map<string, number>>>();

  constructor(
    private readonly fleet: LabelSource,
    private readonly claims: ClaimView,
  ) {}

  table(job: string, label: string): ReadonlyMap<string, number> {
    let byLabel = this.tables.get(job);
    if (!byLabel) {
      byLabel = new Map();
      this.tables.set(job, byLabel);
    }
    let table = byLabel.get(label);
    if (!table) {
      table = countJobByLabel(this.fleet, this.claims, job, label);
      byLabel.set(label, table);
    }
    return table;
  }

  jobChanged(job: string, nodeId: string, delta: number): void {
    const byLabel = this.tables.get(job);
    if (!byLabel) return;
    const node = this.fleet.get(nodeId);
    // The build skips nodes the fleet does not know; so does the update.
    if (!node) return;
    for (const [label, table] of byLabel) {
      const value = spreadValue(node.labels, label);
      const n = (table.get(value) ?? 0) + delta;
      if (n > 0) table.set(value, n);
      else table.delete(value);
    }
  }

  clear(): void {
    this.tables.clear();
  }
}
