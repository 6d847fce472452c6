import { parseNodeSort, type MetricsBody, type NodeSort, type NodeSortKey, type NodeStatus } from '@gpufleet/protocol';
import type { NodeRecord } from '../store/store.js';
import { FLEET_SLICE, forEachInSlices, sortInSlices } from './loop-slices.js';

/** What sorting needs to know about a node beyond its record. */
export interface NodeFacts {
  status(node: NodeRecord): NodeStatus;
  latestMetrics(nodeId: string): MetricsBody | null;
  lastSeen(nodeId: string): number | null;
}

// One collator reused by every comparison, with a fixed locale so the order does not depend on
// the server's environment.
const collator = new Intl.Collator('en');

/** Ties need only a total order, not a linguistic one: plain comparison is several times cheaper. */
const byCodeUnits = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Mean of the GPUs' latest utilization, hottest GPU, summed draw; null when no GPU reported. */
function gpuReading(latest: MetricsBody | null, key: 'util' | 'temp' | 'power'): number | null {
  const gpus = latest?.gpus;
  if (!gpus) return null;
  let sum = 0;
  let max = -Infinity;
  let n = 0;
  for (const g of gpus) {
    const v = key === 'util' ? g.utilizationPct : key === 'temp' ? g.temperatureC : g.powerDrawW;
    if (typeof v !== 'number' || !Number.isFinite(v)) continue;
    sum += v;
    if (v > max) max = v;
    n++;
  }
  if (n === 0) return null;
  return key === 'util' ? sum / n : key === 'temp' ? max : sum;
}

/** The value a node sorts by; null for "no reading", which sorts last either way. */
function sortValue(node: NodeRecord, key: NodeSortKey, facts: NodeFacts): number | string | null {
  switch (key) {
    case 'hostname':
      return node.hostname;
    case 'status':
      return facts.status(node);
    case 'gpus':
      return node.gpus.length;
    case 'lastSeen':
      return facts.lastSeen(node.id);
    default:
      return gpuReading(facts.latestMetrics(node.id), key);
  }
}

/** A node with the value it sorts by. */
interface Keyed {
  node: NodeRecord;
  value: number | string | null;
}

/** How two keyed nodes compare: by value (none last, either way), then hostname, then id. */
function keyedOrder(descending: boolean): (a: Keyed, b: Keyed) => number {
  const dir = descending ? -1 : 1;
  return (a, b) => {
    const av = a.value;
    const bv = b.value;
    if (av !== bv) {
      if (av === null) return 1;
      if (bv === null) return -1;
      const c = typeof av === 'number' && typeof bv === 'number' ? av - bv : collator.compare(String(av), String(bv));
      if (c !== 0) return dir * c;
    }
    return byCodeUnits(a.node.hostname, b.node.hostname) || byCodeUnits(a.node.id, b.node.id);
  };
}

/**
 * Nodes in `sort` order (default hostname). Ties fall back to hostname then id, so an order is
 * total and paging through it with offset/limit never shows a node twice or skips one while
 * readings stand still. Each node's value is read once up front, not in the comparator (at
 * 10,000 nodes a comparator runs ~130,000 times), and the event loop is given back while it
 * works: at 100,000 nodes one sort was about a second in one piece.
 */
export async function sortNodes(nodes: readonly NodeRecord[], sort: NodeSort | undefined, facts: NodeFacts): Promise<NodeRecord[]> {
  const { key, descending } = parseNodeSort(sort ?? 'hostname');
  const keyed: Keyed[] = [];
  await forEachInSlices(nodes, FLEET_SLICE, (node) => keyed.push({ node, value: sortValue(node, key, facts) }));
  return (await sortInSlices(keyed, keyedOrder(descending))).map((k) => k.node);
}
