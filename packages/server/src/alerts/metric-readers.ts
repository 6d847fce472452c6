import type { GpuSample, HostSample } from '@gpufleet/protocol';

/**
 * The metrics a `metric` alert rule may watch, read from the latest sample of a node
 * (MetricStore.latest). Names follow the metric store's series names; the `_pct` ones
 * that are ratios are computed here. A reader returns null when the agent did not report it.
 */
export type MetricReader =
  | { scope: 'gpu'; unit: string; read: (gpu: GpuSample) => number | null }
  | { scope: 'node'; unit: string; read: (host: HostSample) => number | null };

const n = (v: number | null | undefined): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const pct = (used: number | null | undefined, total: number | null | undefined): number | null => {
  const u = n(used);
  const t = n(total);
  return u === null || t === null || t <= 0 ? null : (u / t) * 100;
};

export const METRIC_READERS: Readonly<Record<string, MetricReader>> = {
  gpu_temp_c: { scope: 'gpu', unit: '°C', read: (g) => n(g.temperatureC) },
  gpu_mem_temp_c: { scope: 'gpu', unit: '°C', read: (g) => n(g.memoryTemperatureC) },
  gpu_util_pct: { scope: 'gpu', unit: '%', read: (g) => n(g.utilizationPct) },
  mem_copy_util_pct: { scope: 'gpu', unit: '%', read: (g) => n(g.memoryUtilizationPct) },
  power_w: { scope: 'gpu', unit: 'W', read: (g) => n(g.powerDrawW) },
  power_pct_of_limit: { scope: 'gpu', unit: '%', read: (g) => pct(g.powerDrawW, g.powerLimitW) },
  fb_used_bytes: { scope: 'gpu', unit: 'B', read: (g) => n(g.memoryUsedBytes) },
  fb_used_pct: { scope: 'gpu', unit: '%', read: (g) => pct(g.memoryUsedBytes, g.memoryTotalBytes) },
  fan_pct: { scope: 'gpu', unit: '%', read: (g) => n(g.fanPct) },
  sm_clock_mhz: { scope: 'gpu', unit: 'MHz', read: (g) => n(g.smClockMhz) },
  ecc_corrected_volatile: { scope: 'gpu', unit: '', read: (g) => n(g.eccCorrectedVolatile) },
  ecc_uncorrected_volatile: { scope: 'gpu', unit: '', read: (g) => n(g.eccUncorrectedVolatile) },
  ecc_corrected_aggregate: { scope: 'gpu', unit: '', read: (g) => n(g.eccCorrectedAggregate) },
  ecc_uncorrected_aggregate: { scope: 'gpu', unit: '', read: (g) => n(g.eccUncorrectedAggregate) },
  /** 1 while the driver reports pending row remaps or retired pages (a reset is due). */
  remap_pending: {
    scope: 'gpu',
    unit: '',
    read: (g) => (g.remappedRowsPending === null && g.retiredPagesPending === null ? null : g.remappedRowsPending || g.retiredPagesPending ? 1 : 0),
  },
  cpu_pct: { scope: 'node', unit: '%', read: (h) => n(h.cpuPct) },
  load1: { scope: 'node', unit: '', read: (h) => n(h.load1) },
  mem_used_pct: { scope: 'node', unit: '%', read: (h) => pct(h.memoryUsedBytes, h.memoryTotalBytes) },
  /** The fullest disk of the node. */
  disk_used_pct: {
    scope: 'node',
    unit: '%',
    read: (h) => {
      let worst: number | null = null;
      for (const d of h.disks ?? []) {
        const p = pct(d.usedBytes, d.totalBytes);
        if (p !== null && (worst === null || p > worst)) worst = p;
      }
      return worst;
    },
  },
};

export const METRIC_NAMES = Object.keys(METRIC_READERS);
