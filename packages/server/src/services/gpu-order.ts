import { sortInSlices } from './loop-slices.js';
import { parseGpuSort, type GpuSort, type GpuSortKey, type GpuState, type NodeStatus, type ReportedVerdict } from '@gpufleet/protocol';

/** What filtering and sorting need to know of one GPU: small, so 80,000 of them cost little. */
export interface GpuRowFacts {
  nodeId: string;
  hostname: string;
  nodeStatus: NodeStatus;
  /** The GPU's place in its node's inventory (not its index: indexes may repeat after a re-enumeration). */
  position: number;
  index: number;
  /** Short model as people select by: H100, MI300X. */
  model: string;
  state: GpuState;
  health: ReportedVerdict;
  util: number | null;
  temp: number | null;
  power: number | null;
  memoryUsed: number | null;
}

/** The filters of GET /api/v1/gpus beyond the label selector (which picks nodes first). */
export interface GpuFilter {
  /** Short model, any case: `h100` matches H100 GPUs. */
  model?: string;
  state?: GpuState;
  health?: ReportedVerdict;
  /** Part of the node's hostname (any case), or its whole id. */
  node?: string;
}

/** A filter as one predicate, with the text fields lower-cased once rather than per GPU. */
export function gpuFilter(f: GpuFilter): (g: GpuRowFacts) => boolean {
  const model = f.model?.trim().toLowerCase() || undefined;
  const node = f.node?.trim() || undefined;
  const nodeLower = node?.toLowerCase();
  return (g) =>
    (model === undefined || g.model.toLowerCase() === model) &&
    (f.state === undefined || g.state === f.state) &&
    (f.health === undefined || g.health === f.health) &&
    (node === undefined || g.nodeId === node || g.hostname.toLowerCase().includes(nodeLower!));
}

const collator = new Intl.Collator('en');
const byCodeUnits = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function sortValue(g: GpuRowFacts, key: GpuSortKey): number | string | null {
  switch (key) {
    case 'node':
      return g.hostname;
    case 'model':
      return g.model;
    case 'memory':
      return g.memoryUsed;
    default:
      return g[key];
  }
}

/**
 * GPUs in `sort` order (default node). Missing readings sort last both ways; ties fall back to
 * hostname, node id and GPU index, so the order is total and paging with offset/limit never shows
 * a GPU twice or skips one while readings stand still (as node-order.ts does for nodes).
 */
export async function sortGpus<T extends GpuRowFacts>(rows: readonly T[], sort: GpuSort | undefined): Promise<T[]> {
  const { key, descending } = parseGpuSort(sort ?? 'node');
  const values = rows.map((row) => sortValue(row, key));
  // Strings (hostnames, models) are ranked once, so the sort compares numbers: 800,000 rows
  // compared through the collator were seconds of work.
  const ranks = await collationRanks(values);
  const keyed = rows.map((row, i) => {
    const v = values[i]!;
    return { row, value: typeof v === 'string' ? ranks.get(v)! : v };
  });
  const dir = descending ? -1 : 1;
  const sorted = await sortInSlices(keyed, (a, b) => {
    const av = a.value;
    const bv = b.value;
    if (av !== bv) {
      if (av === null) return 1;
      if (bv === null) return -1;
      return dir * (av - bv);
    }
    return (
      byCodeUnits(a.row.hostname, b.row.hostname) || byCodeUnits(a.row.nodeId, b.row.nodeId) || a.row.index - b.row.index || a.row.position - b.row.position
    );
  });
  return sorted.map((k) => k.row);
}

/** Each distinct string's place in collation order (equal under the collator: equal rank). */
async function collationRanks(values: ReadonlyArray<number | string | null>): Promise<Map<string, number>> {
  const distinct = [...new Set(values.filter((v): v is string => typeof v === 'string'))];
  const ordered = await sortInSlices(distinct, (a, b) => collator.compare(a, b));
  const ranks = new Map<string, number>();
  let rank = 0;
  ordered.forEach((v, i) => {
    if (i > 0 && collator.compare(ordered[i - 1]!, v) !== 0) rank++;
    ranks.set(v, rank);
  });
  return ranks;
}
