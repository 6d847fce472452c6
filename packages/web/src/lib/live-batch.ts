import type { QueryClient } from '@tanstack/react-query';
import type { GpuDelta, GpuHealthView, GpuReadings, GpuSample, GpuView, NodeDelta, NodeView, ReportedVerdict } from '@gpufleet/protocol';
import { HEATMAP_QUERY_KEY, patchHeatmap, toEpoch, type HeatCell, type HeatmapModel, type HeatNode } from './heatmap.js';
import type { NodeList } from './types.js';

/**
 * How one `nodes` event of the fleet stream (protocol fleet-stream.ts) lands in the query cache:
 * full views replace what is cached, deltas patch readings, liveness and verdicts into it, removed
 * ids go. Pure over a QueryClient, so it is tested without a page.
 */

/** What a delta's left-out `health` stands for (protocol PLAIN_HEALTHY; the browser imports types only). */
const PLAIN_HEALTHY: GpuHealthView = { verdict: 'healthy', rule: null, cause: null, since: null };
const VERDICTS = new Set<string>(['healthy', 'degraded', 'unhealthy', 'unknown']);

/** A sample for a GPU that had none: the delta's readings, the GPU's own limits, the rest unknown. */
function emptySample(g: GpuView): GpuSample {
  return {
    uuid: g.uuid,
    pciBusId: g.pciBusId,
    index: g.index,
    temperatureC: null,
    memoryTemperatureC: null,
    utilizationPct: null,
    memoryUtilizationPct: null,
    memoryUsedBytes: null,
    memoryTotalBytes: g.memoryTotalBytes,
    powerDrawW: null,
    powerLimitW: g.powerLimitW,
    smClockMhz: null,
    memClockMhz: null,
    fanPct: null,
    eccCorrectedVolatile: null,
    eccUncorrectedVolatile: null,
    eccCorrectedAggregate: null,
    eccUncorrectedAggregate: null,
    retiredPagesPending: null,
    remappedRowsPending: null,
    remappedRowsFailure: null,
    throttleReasons: [],
  };
}

/** The sample with a delta's readings put in (protocol GpuReadings: a tuple, in this order). */
function withReadings(sample: GpuSample, r: GpuReadings): GpuSample {
  const [utilizationPct, memoryUsedBytes, temperatureC, powerDrawW] = r;
  return { ...sample, utilizationPct, memoryUsedBytes, temperatureC, powerDrawW };
}

function gpuWithDelta(g: GpuView, d: GpuDelta): GpuView {
  const state = d.state ?? 'READY';
  return {
    ...g,
    sample: Array.isArray(d.readings) ? withReadings(g.sample ?? emptySample(g), d.readings) : null,
    state,
    // Who set a state comes with the full view that announced it; a state that moved on without one is stale.
    stateChange: state === g.state ? g.stateChange : null,
    health: d.health ?? PLAIN_HEALTHY,
  };
}

/** Whether a delta lists the same GPUs as a view (one the delta does not fit waits for a full view). */
function fits(v: NodeView, d: NodeDelta): boolean {
  return Array.isArray(d.gpus) && d.gpus.length === v.gpus.length && d.gpus.every((g, k) => g.index === v.gpus[k]!.index);
}

/**
 * A node view with a delta put in. Fields a delta does not carry (facts, labels, disks, findings)
 * keep their values; GPUs are only touched when the delta lists the same ones as the view.
 */
export function applyNodeDelta(v: NodeView, d: NodeDelta): NodeView {
  const h = d.health ?? PLAIN_HEALTHY;
  return {
    ...v,
    status: d.status,
    connected: d.connected,
    lastSeenAt: d.lastSeenAt,
    host: d.host ? { ...(v.host ?? { disks: [], net: [] }), ...d.host } : null,
    health: { verdict: h.verdict, rule: h.rule, cause: h.cause, since: h.since, findings: v.health.findings },
    gpus: fits(v, d) ? v.gpus.map((g, k) => gpuWithDelta(g, d.gpus[k]!)) : v.gpus,
  };
}

const reading = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const verdictOf = (v: unknown): ReportedVerdict => (typeof v === 'string' && VERDICTS.has(v) ? (v as ReportedVerdict) : 'unknown');

/**
 * The heatmap with deltas' readings, verdicts, states and liveness put in its cells. The model
 * holds every node, so every delta patches it; `stale` says one did not fit (a node or GPUs the
 * model does not have yet), and the model should be fetched again.
 */
export function patchHeatmapDeltas(m: HeatmapModel, deltas: readonly NodeDelta[]): { model: HeatmapModel; stale: boolean } {
  let stale = false;
  let nodes: HeatNode[] | null = null;
  let cells: HeatCell[] | null = null;
  for (const d of deltas) {
    const at = m.position.get(d.id);
    const old = at === undefined ? undefined : m.nodes[at];
    if (at === undefined || !old || !Array.isArray(d.gpus) || old.cells.length !== d.gpus.length) {
      stale = true;
      continue;
    }
    // Cells are in GPU index order (a stable sort of the view's order), the delta in the view's.
    const order = d.gpus.map((_, k) => k).sort((a, b) => d.gpus[a]!.index - d.gpus[b]!.index);
    if (order.some((k, c) => d.gpus[k]!.index !== old.cells[c]!.index)) {
      stale = true;
      continue;
    }
    const offline = d.status === 'OFFLINE' || !d.connected;
    const next = order.map((k, c): HeatCell => {
      const g = d.gpus[k]!;
      const r = Array.isArray(g.readings) ? g.readings : null;
      return {
        ...old.cells[c]!,
        util: reading(r?.[0]),
        temp: reading(r?.[2]),
        power: reading(r?.[3]),
        health: verdictOf((g.health ?? PLAIN_HEALTHY).verdict),
        state: g.state ?? 'READY',
        offline,
        nodeStatus: d.status,
        lastSeen: toEpoch(d.lastSeenAt),
      };
    });
    nodes ??= m.nodes.slice();
    cells ??= m.cells.slice();
    nodes[at] = { ...old, cells: next };
    next.forEach((c, k) => (cells![m.start[at]! + k] = c));
  }
  if (!nodes || !cells) return { model: m, stale };
  return { model: { nodes, cells, position: m.position, start: m.start }, stale };
}

/** One `nodes` event, checked for shape (a malformed part is left out, never thrown on). */
export interface NodeBatch {
  items: NodeView[];
  deltas: NodeDelta[];
  removed: string[];
}

export function nodeBatchOf(data: unknown): NodeBatch {
  const d = (data ?? {}) as Partial<Record<keyof NodeBatch, unknown>>;
  // biome-ignore lint/suspicious/noExplicitAny: the predicates probe untyped JSON from the stream
  const list = <T>(v: unknown, ok: (x: any) => boolean): T[] => (Array.isArray(v) ? (v.filter(ok) as T[]) : []);
  return {
    items: list<NodeView>(d.items, (n) => typeof n?.id === 'string' && Array.isArray(n.gpus)),
    deltas: list<NodeDelta>(d.deltas, (n) => typeof n?.id === 'string' && Array.isArray(n.gpus)),
    removed: list<string>(d.removed, (id) => typeof id === 'string'),
  };
}

/** A list with the batch applied; the same object when nothing in it changed. */
function patchList(
  list: NodeList | undefined,
  byId: Map<string, NodeView>,
  deltas: Map<string, NodeDelta>,
  gone: Set<string>,
  appendNew: boolean,
): NodeList | undefined {
  if (!list) return list;
  let touched = false;
  const seen = new Set<string>();
  const next: NodeView[] = [];
  for (const n of list.items) {
    if (gone.has(n.id)) {
      touched = true;
      continue;
    }
    seen.add(n.id);
    const full = byId.get(n.id);
    const delta = full ? undefined : deltas.get(n.id);
    if (full || delta) touched = true;
    next.push(full ?? (delta ? applyNodeDelta(n, delta) : n));
  }
  // Only the whole-fleet list can take nodes it did not have: a filtered page cannot know they match.
  if (appendNew) {
    for (const n of byId.values()) {
      if (seen.has(n.id)) continue;
      next.push(n);
      touched = true;
    }
  }
  return touched ? { items: next, total: list.total + (next.length - list.items.length) } : list;
}

/**
 * Puts one batch into every cache that holds nodes: the whole-fleet list and list pages, the node
 * pages open (by id or hostname), and the heatmap model. A delta for a node no list or page has is
 * dropped (there is nothing to patch it into); the heatmap takes every one. Returns whether the
 * heatmap model missed a node a delta named (the caller refetches it, not too often).
 */
export function applyNodeBatch(qc: QueryClient, batch: NodeBatch): { heatmapStale: boolean } {
  const { items, deltas, removed } = batch;
  if (items.length === 0 && deltas.length === 0 && removed.length === 0) return { heatmapStale: false };
  const byId = new Map(items.map((n) => [n.id, n]));
  const deltaById = new Map(deltas.filter((d) => !byId.has(d.id)).map((d) => [d.id, d]));
  const gone = new Set(removed);
  qc.setQueryData<NodeList>(['nodes', 'all'], (l) => patchList(l, byId, deltaById, gone, true));
  qc.setQueriesData<NodeList>({ queryKey: ['nodes', 'page'] }, (l) => patchList(l, byId, deltaById, gone, false));

  let heatmapStale = false;
  qc.setQueryData<HeatmapModel>(HEATMAP_QUERY_KEY, (m) => {
    if (!m) return m;
    const withViews = patchHeatmap(m, items, removed);
    const patched = patchHeatmapDeltas(withViews, [...deltaById.values()]);
    heatmapStale = patched.stale;
    return patched.model;
  });

  // Only nodes someone has open (one cache entry by id, maybe one by hostname): creating entries
  // for every changed node would keep a 10,000-node fleet's views in memory.
  if (byId.size > 0 || deltaById.size > 0) {
    for (const [key, cached] of qc.getQueriesData<NodeView>({ queryKey: ['node'] })) {
      if (!cached || typeof cached.id !== 'string' || key.length !== 2) continue;
      const full = byId.get(cached.id);
      const delta = deltaById.get(cached.id);
      if (full) qc.setQueryData(key, full);
      else if (delta) qc.setQueryData(key, applyNodeDelta(cached, delta));
    }
  }
  return { heatmapStale };
}
