import type { FleetHeatmap, NodeView, ReportedVerdict } from '@gpufleet/protocol';
import { formatRelative, shortModel } from './format.js';
import type { AllocMarks } from './heatmap-allocs.js';

/** One heatmap cell: a GPU with what its colour, outline and hover text are made of. */
export interface HeatCell {
  hostname: string;
  nodeId: string;
  index: number;
  model: string;
  util: number | null;
  temp: number | null;
  power: number | null;
  health: ReportedVerdict;
  state: string;
  offline: boolean;
  /** The node's status: a GPU on a cordoned, draining, drained or unhealthy node takes no new work either. */
  nodeStatus: string;
  /** When the node was last heard from (epoch ms; null: never): an offline node's readings are that old. */
  lastSeen: number | null;
}

/** Node statuses under which none of the node's GPUs takes new work. */
export const NODE_NOT_TAKING_WORK: ReadonlySet<string> = new Set(['CORDONED', 'DRAINING', 'DRAINED', 'UNHEALTHY']);

/** Whether a GPU takes no new work: its own state, or its node's, says so. */
export function notTakingWork(c: Pick<HeatCell, 'state' | 'nodeStatus'>): boolean {
  return c.state !== 'READY' || NODE_NOT_TAKING_WORK.has(c.nodeStatus);
}

/** One node's cells, in GPU index order. */
export interface HeatNode {
  id: string;
  hostname: string;
  cells: HeatCell[];
}

/**
 * Every GPU of the fleet in drawing order (hostname, numeric-aware, then GPU index). Replaced,
 * never changed, on each update; `position` and `start` are shared while the nodes stay the same.
 */
export interface HeatmapModel {
  nodes: readonly HeatNode[];
  cells: readonly HeatCell[];
  /** Node id -> its place in `nodes`. */
  position: ReadonlyMap<string, number>;
  /** Index in `cells` of each node's first cell. */
  start: readonly number[];
  /** The GPUs held by workload allocations (heatmap-allocs.ts); absent: none known. */
  allocs?: AllocMarks;
}

/** The react-query key of the overview's heatmap model (the live stream patches it). */
export const HEATMAP_QUERY_KEY = ['fleet', 'heatmap'] as const;

// Colour stops of the ramp: hue 210 (blue, idle) -> 45 (amber) at 70% -> 0 (red, saturated).
function utilHsl(u: number): string {
  const hue = u < 0.7 ? 210 - (u / 0.7) * 165 : 45 - ((u - 0.7) / 0.3) * 45;
  const light = 62 - u * 14;
  // Comma syntax: canvas fillStyle and every CSS engine read it.
  return `hsl(${Math.round(hue)}, 80%, ${Math.round(light)}%)`;
}
const RAMP = Array.from({ length: 101 }, (_, i) => utilHsl(i / 100));

/**
 * Utilization as a colour on a blue -> amber -> red ramp that reads in both themes; null (no
 * reading) and offline GPUs are grey so an idle GPU (0%) is never mistaken for a silent one.
 */
export function utilColor(util: number | null | undefined, offline = false): string {
  if (offline || typeof util !== 'number' || !Number.isFinite(util)) return 'var(--heat-none)';
  return RAMP[Math.round(Math.min(100, Math.max(0, util)))]!;
}

/** The outline for a verdict: healthy GPUs get none, the rest an unmistakable ring. */
export function healthOutline(health: ReportedVerdict | string | null | undefined): 'none' | 'degraded' | 'unhealthy' | 'unknown' {
  switch (health) {
    case 'healthy':
      return 'none';
    case 'degraded':
      return 'degraded';
    case 'unhealthy':
      return 'unhealthy';
    default:
      return 'unknown';
  }
}

/**
 * Hover text: node, GPU, model, then the readings, then health and state. An offline node's
 * readings are history: they are said to be stale and how old, never shown as if live.
 */
export function cellLines(c: HeatCell, now: number = Date.now()): [string, string, string] {
  const fmt = (v: number | null, unit: string) => (v === null ? '—' : `${Math.round(v)}${unit}`);
  const values = `util ${fmt(c.util, '%')} · ${fmt(c.temp, ' °C')} · ${fmt(c.power, ' W')}`;
  const seen = c.lastSeen === null ? 'never seen' : `last seen ${formatRelative(c.lastSeen, now)}`;
  const hasReading = c.util !== null || c.temp !== null || c.power !== null;
  const nodeState = NODE_NOT_TAKING_WORK.has(c.nodeStatus) ? ` · node ${c.nodeStatus}` : '';
  return [
    `${c.hostname} · GPU ${c.index} · ${c.model}`,
    c.offline ? (hasReading ? `stale, ${seen}: ${values}` : `no reading, ${seen}`) : values,
    `health ${c.health}${c.state !== 'READY' ? ` · ${c.state}` : ''}${nodeState}${c.offline ? ' · node offline' : ''}`,
  ];
}

/** The hover text on one line, for screen readers. */
export function cellTitle(c: HeatCell, now: number = Date.now()): string {
  return cellLines(c, now).join(', ');
}

const VERDICT_SET = new Set<string>(['healthy', 'degraded', 'unhealthy', 'unknown']);
const verdictOf = (v: unknown): ReportedVerdict => (typeof v === 'string' && VERDICT_SET.has(v) ? (v as ReportedVerdict) : 'unknown');
const reading = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
/** An ISO time (or epoch ms) as epoch ms; null for none or garbage. */
export function toEpoch(t: string | number | null | undefined): number | null {
  const ms = typeof t === 'number' ? t : typeof t === 'string' ? Date.parse(t) : NaN;
  return Number.isFinite(ms) ? ms : null;
}

/** A node view as heatmap cells; null for a decommissioned node (not drawn). */
export function heatNodeFromView(n: NodeView): HeatNode | null {
  if (n.status === 'DECOMMISSIONED') return null;
  const offline = n.status === 'OFFLINE' || !n.connected;
  const cells = [...n.gpus]
    .sort((a, b) => a.index - b.index)
    .map((g) => ({
      hostname: n.hostname,
      nodeId: n.id,
      index: g.index,
      model: shortModel(g.name),
      util: reading(g.sample?.utilizationPct),
      temp: reading(g.sample?.temperatureC),
      power: reading(g.sample?.powerDrawW),
      health: verdictOf(g.health?.verdict),
      state: g.state,
      offline,
      nodeStatus: n.status,
      lastSeen: toEpoch(n.lastSeenAt),
    }));
  return { id: n.id, hostname: n.hostname, cells };
}

/** The nodes of GET /api/v1/fleet/heatmap as heatmap nodes (parallel arrays unpacked). */
export function heatNodesFromResponse(r: FleetHeatmap): HeatNode[] {
  const out: HeatNode[] = [];
  const models = r.models.map((m) => shortModel(m));
  let at = 0;
  for (let i = 0; i < r.nodes.id.length; i++) {
    const id = r.nodes.id[i]!;
    const hostname = r.nodes.hostname[i]!;
    const status = r.nodes.status[i];
    const count = r.nodes.gpuCount[i] ?? 0;
    const offline = status === 'OFFLINE' || !r.nodes.connected[i];
    const lastSeen = reading(r.lastSeen?.[i]);
    const cells: HeatCell[] = [];
    for (let k = 0; k < count; k++, at++) {
      cells.push({
        hostname,
        nodeId: id,
        index: r.gpus.index[at]!,
        model: models[r.gpus.model[at]!] ?? 'unknown',
        util: reading(r.gpus.util[at]),
        temp: reading(r.gpus.temp[at]),
        power: reading(r.gpus.power[at]),
        health: verdictOf(r.verdicts[r.gpus.health[at]!]),
        state: r.states[r.gpus.state[at]!] ?? 'READY',
        offline,
        nodeStatus: status ?? 'READY',
        lastSeen,
      });
    }
    cells.sort((a, b) => a.index - b.index);
    if (status !== 'DECOMMISSIONED') out.push({ id, hostname, cells });
  }
  return out;
}

// One collator for all comparisons: localeCompare with options builds one per call.
const byHostname = new Intl.Collator('en', { numeric: true }).compare;

/** The model of the given nodes, in drawing order. */
export function buildHeatmap(nodes: readonly HeatNode[]): HeatmapModel {
  const sorted = [...nodes].sort((a, b) => byHostname(a.hostname, b.hostname) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const cells: HeatCell[] = [];
  const position = new Map<string, number>();
  const start: number[] = [];
  sorted.forEach((n, i) => {
    position.set(n.id, i);
    start.push(cells.length);
    for (const c of n.cells) cells.push(c);
  });
  return { nodes: sorted, cells, position, start };
}

/**
 * The model with changed node views put in and removed ids taken out. When only readings,
 * health or states changed (the usual live update) the cells are copied and overwritten in
 * place of a rebuild; a new, renamed, removed or resized node re-sorts the whole model.
 */
export function patchHeatmap(m: HeatmapModel, views: readonly NodeView[], removed: readonly string[] = []): HeatmapModel {
  if (views.length === 0 && removed.length === 0) return m;
  const changed = views.map((v) => ({ id: v.id, node: heatNodeFromView(v) }));
  const sameShape =
    removed.every((id) => !m.position.has(id)) &&
    changed.every(({ id, node }) => {
      const at = m.position.get(id);
      if (at === undefined) return node === null;
      const old = m.nodes[at]!;
      return node !== null && old.hostname === node.hostname && old.cells.length === node.cells.length;
    });
  if (sameShape) {
    const nodes = m.nodes.slice();
    const cells = m.cells.slice();
    for (const { id, node } of changed) {
      const at = m.position.get(id);
      if (at === undefined || node === null) continue;
      nodes[at] = node;
      node.cells.forEach((c, k) => (cells[m.start[at]! + k] = c));
    }
    return { nodes, cells, position: m.position, start: m.start };
  }
  const byId = new Map(m.nodes.map((n) => [n.id, n]));
  for (const id of removed) byId.delete(id);
  for (const { id, node } of changed) {
    if (node === null) byId.delete(id);
    else byId.set(id, node);
  }
  return buildHeatmap([...byId.values()]);
}

/** Utilization bands of the summary, upper bound excluded but for the last. */
export const UTIL_BANDS = [
  { label: '0–24%', min: 0, max: 25 },
  { label: '25–49%', min: 25, max: 50 },
  { label: '50–74%', min: 50, max: 75 },
  { label: '75–100%', min: 75, max: Infinity },
] as const;

/** What the heatmap shows, in words and numbers (the accessible alternative to the picture). */
export interface HeatSummary {
  gpus: number;
  nodes: number;
  /** GPUs per utilization band (UTIL_BANDS order); offline GPUs and those without a reading are in `noReading`. */
  byBand: number[];
  noReading: number;
  byHealth: Record<ReportedVerdict, number>;
  /** GPUs that take no new work: their own state is not READY, or their node is cordoned, draining, drained or unhealthy. */
  outOfService: number;
  /** Unhealthy GPUs first, then degraded, each in drawing order. */
  attention: HeatCell[];
  /** GPUs held by a workload allocation. */
  allocated: number;
}

// Models are never changed, only replaced: one summary per model, however many readers.
const summaries = new WeakMap<HeatmapModel, HeatSummary>();

/** Counts and the GPUs needing attention; computed once per model. */
export function summarizeHeatmap(m: HeatmapModel): HeatSummary {
  let s = summaries.get(m);
  if (!s) summaries.set(m, (s = summarize(m)));
  return s;
}

function summarize(m: HeatmapModel): HeatSummary {
  const byBand = UTIL_BANDS.map(() => 0);
  const byHealth: Record<ReportedVerdict, number> = { healthy: 0, degraded: 0, unhealthy: 0, unknown: 0 };
  const unhealthy: HeatCell[] = [];
  const degraded: HeatCell[] = [];
  let noReading = 0;
  let outOfService = 0;
  let allocated = 0;
  for (const c of m.cells) {
    if (m.allocs?.get(c.nodeId)?.has(c.index)) allocated++;
    if (c.offline || c.util === null) noReading++;
    else byBand[UTIL_BANDS.findIndex((b) => c.util! < b.max)]!++;
    byHealth[c.health]++;
    if (notTakingWork(c)) outOfService++;
    if (c.health === 'unhealthy') unhealthy.push(c);
    else if (c.health === 'degraded') degraded.push(c);
  }
  return { gpus: m.cells.length, nodes: m.nodes.length, byBand, noReading, byHealth, outOfService, attention: [...unhealthy, ...degraded], allocated };
}
