import type { GpuSample, NodeMetrics } from '@gpufleet/protocol';

/** The per-GPU metrics the node page charts, with the sample field each is read from live. */
export const CHART_METRICS = [
  { name: 'gpu_util_pct', title: 'Utilization', unit: '%', pick: (s: GpuSample) => s.utilizationPct },
  {
    name: 'fb_used_bytes',
    title: 'Memory used',
    unit: 'GiB',
    pick: (s: GpuSample) => (s.memoryUsedBytes === null ? null : s.memoryUsedBytes / 1024 ** 3),
    scale: 1 / 1024 ** 3,
  },
  { name: 'gpu_temp_c', title: 'Temperature', unit: '°C', pick: (s: GpuSample) => s.temperatureC },
  { name: 'power_w', title: 'Power', unit: 'W', pick: (s: GpuSample) => s.powerDrawW },
] as const;
export type ChartMetric = (typeof CHART_METRICS)[number]['name'];

/** Chart data of one node: shared timestamps (epoch s) and, per metric, one column per GPU. */
export interface NodeSeries {
  gpus: number[];
  times: number[];
  values: Record<ChartMetric, Array<Array<number | null>>>;
}

type GpuId = { index: number; uuid: string | null; pciBusId: string | null };

/** "00000000:3B:00.0", "0000:3b:00.0" and "3b:00.0" are the same bus id. */
function pciTail(id: string | null | undefined): string | null {
  if (!id) return null;
  const m = /([0-9a-f]{1,2}):([0-9a-f]{1,2})\.?([0-7])?$/i.exec(id.trim());
  return m ? `${m[1]!.toLowerCase().padStart(2, '0')}:${m[2]!.toLowerCase().padStart(2, '0')}.${m[3] ?? '0'}` : null;
}

/** Whether a series or sample key names this GPU (UUID, PCI bus id in any spelling, or #index). */
export function gpuMatches(key: { uuid?: string | null; pciBusId?: string | null; gpu?: string | null; index?: number }, g: GpuId): boolean {
  if (key.uuid && g.uuid && key.uuid === g.uuid) return true;
  const k = key.gpu ?? null;
  if (k !== null) {
    if (g.uuid && k === g.uuid) return true;
    if (k === `#${g.index}`) return true;
    const a = pciTail(k);
    if (a !== null && a === pciTail(g.pciBusId)) return true;
  }
  if (key.pciBusId && pciTail(key.pciBusId) !== null && pciTail(key.pciBusId) === pciTail(g.pciBusId)) return true;
  if (!key.uuid && !key.pciBusId && k === null && key.index !== undefined) return key.index === g.index;
  return false;
}

function emptyValues(n: number): NodeSeries['values'] {
  const v = {} as NodeSeries['values'];
  for (const m of CHART_METRICS) v[m.name] = Array.from({ length: n }, () => []);
  return v;
}

/** Builds chart data from GET /api/v1/nodes/{ref}/metrics for the node's GPUs (index order). */
export function seriesFromMetrics(metrics: NodeMetrics, gpus: readonly GpuId[]): NodeSeries {
  const ordered = [...gpus].sort((a, b) => a.index - b.index);
  const stamps = new Set<number>();
  for (const s of metrics.series) if (s.gpu !== null) for (const [t] of s.points) stamps.add(t);
  const timesMs = [...stamps].sort((a, b) => a - b);
  const at = new Map(timesMs.map((t, i) => [t, i]));
  const out: NodeSeries = { gpus: ordered.map((g) => g.index), times: timesMs.map((t) => t / 1000), values: emptyValues(ordered.length) };
  for (const m of CHART_METRICS) for (const col of out.values[m.name]) (col.length = timesMs.length), col.fill(null);
  for (const s of metrics.series) {
    const metric = CHART_METRICS.find((m) => m.name === s.name);
    if (!metric || s.gpu === null) continue;
    const gi = ordered.findIndex((g) => gpuMatches({ gpu: s.gpu }, g));
    if (gi < 0) continue;
    const col = out.values[metric.name][gi]!;
    const scale = 'scale' in metric ? metric.scale : 1;
    for (const [t, v] of s.points) {
      const i = at.get(t);
      if (i !== undefined) col[i] = v === null ? null : v * scale;
    }
  }
  return out;
}

/** Adds one live sample (the node stream's `metrics` event) and drops points older than the window. */
export function appendSample(series: NodeSeries, ts: number, samples: readonly GpuSample[], gpus: readonly GpuId[], windowMs: number): NodeSeries {
  const tSec = ts / 1000;
  const last = series.times[series.times.length - 1];
  if (last !== undefined && tSec <= last) return series; // Already have it (history and live overlap).
  const ordered = series.gpus.map((idx) => gpus.find((g) => g.index === idx) ?? { index: idx, uuid: null, pciBusId: null });
  const cutoff = tSec - windowMs / 1000;
  let drop = 0;
  while (drop < series.times.length && series.times[drop]! < cutoff) drop++;
  const values = emptyValues(ordered.length);
  for (const m of CHART_METRICS) {
    ordered.forEach((g, gi) => {
      const sample = samples.find((s) => gpuMatches({ uuid: s.uuid, pciBusId: s.pciBusId, index: s.index }, g)) ?? samples.find((s) => s.index === g.index);
      const v = sample ? m.pick(sample) : null;
      values[m.name][gi] = [...(series.values[m.name][gi] ?? []).slice(drop), typeof v === 'number' && Number.isFinite(v) ? v : null];
    });
  }
  return { gpus: series.gpus, times: [...series.times.slice(drop), tSec], values };
}
