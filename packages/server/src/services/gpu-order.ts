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
export function sortGpus<T extends GpuRowFacts>(rows: readonly T[], sort: GpuSort | undefined): T[] {
  const { key, descending } = parseGpuSort(sort ?? 'node');
  const keyed = rows.map((row) => ({ row, value: sortValue(row, key) }));
  const dir = descending ? -1 : 1;
  keyed.sort((a, b) => {
    const av = a.value;
    const bv = b.value;
    if (av !== bv) {
      if (av === null) return 1;
      if (bv === null) return -1;
      const c = typeof av === 'number' && typeof bv === 'number' ? av - bv : collator.compare(String(av), String(bv));
      if (c !== 0) return dir * c;
    }
    return (
      byCodeUnits(a.row.hostname, b.row.hostname) || byCodeUnits(a.row.nodeId, b.row.nodeId) || a.row.index - b.row.index || a.row.position - b.row.position
    );
  });
  return keyed.map((k) => k.row);
}
