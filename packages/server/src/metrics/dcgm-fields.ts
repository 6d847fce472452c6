/**
 * GPU series under dcgm-exporter's field names, types, help texts and units, so dashboards
 * built for dcgm-exporter work on gpufleet's /metrics unchanged. Help texts follow
 * dcgm-exporter's default-counters.csv (../shared/fixtures/exporters/).
 */
import type { GpuSample, GpuVendor, ThrottleReason } from '@gpufleet/protocol';
import type { MetricType } from './exposition.js';

/** One GPU as rendered: its label block (built once) and its latest readings. */
export interface GpuRow {
  labels: string;
  sample: GpuSample;
  vendor: GpuVendor | null;
  /** Last XID code seen on this GPU, 0 when none. */
  lastXid: number;
}

export interface DcgmField {
  name: string;
  type: MetricType;
  help: string;
  /** null or undefined: the GPU has no reading, and no line is written (never a made-up 0). */
  value(row: GpuRow): number | null | undefined;
}

const MIB = 1024 * 1024;

/** Bytes to whole MiB, as dcgm reports framebuffer sizes. */
function mib(bytes: number | null): number | null {
  return bytes === null ? null : Math.round(bytes / MIB);
}

/**
 * NVML's clocks-event reason bits (nvmlClocksEventReason*, formerly ClocksThrottleReason*),
 * which is what DCGM_FI_DEV_CLOCK_THROTTLE_REASONS carries.
 */
export const THROTTLE_REASON_BITS: Readonly<Record<ThrottleReason, number>> = {
  gpu_idle: 0x1,
  applications_clocks_setting: 0x2,
  sw_power_cap: 0x4,
  hw_slowdown: 0x8,
  sync_boost: 0x10,
  sw_thermal_slowdown: 0x20,
  hw_thermal_slowdown: 0x40,
  hw_power_brake_slowdown: 0x80,
  display_clock_setting: 0x100,
};

export function throttleBitmask(reasons: readonly string[] | null | undefined): number {
  let mask = 0;
  if (!Array.isArray(reasons)) return mask;
  for (const r of reasons) mask |= (THROTTLE_REASON_BITS as Record<string, number>)[r] ?? 0;
  return mask;
}

function bool(v: boolean | null | undefined): number | null {
  return v === null || v === undefined ? null : v ? 1 : 0;
}

/**
 * The DCGM families gpufleet exports, in output order. Only what the vendor tools report: the
 * DCGM_FI_PROF_* families (SM / tensor / DRAM activity, PCIe and NVLink byte rates) need
 * DCGM's profiling module, nvidia-smi gives no total energy counter and no NVLink traffic
 * counters, so DCGM_FI_PROF_*, DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION and
 * DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL are not written at all rather than written as zeros
 * (docs/grafana/README.md says which panels that leaves out).
 */
export const DCGM_FIELDS: readonly DcgmField[] = [
  { name: 'DCGM_FI_DEV_SM_CLOCK', type: 'gauge', help: 'SM clock frequency (in MHz).', value: (r) => r.sample.smClockMhz },
  { name: 'DCGM_FI_DEV_MEM_CLOCK', type: 'gauge', help: 'Memory clock frequency (in MHz).', value: (r) => r.sample.memClockMhz },
  { name: 'DCGM_FI_DEV_MEMORY_TEMP', type: 'gauge', help: 'Memory temperature (in C).', value: (r) => r.sample.memoryTemperatureC },
  { name: 'DCGM_FI_DEV_GPU_TEMP', type: 'gauge', help: 'GPU temperature (in C).', value: (r) => r.sample.temperatureC },
  { name: 'DCGM_FI_DEV_POWER_USAGE', type: 'gauge', help: 'Power draw (in W).', value: (r) => r.sample.powerDrawW },
  { name: 'DCGM_FI_DEV_POWER_MGMT_LIMIT', type: 'gauge', help: 'Power management limit (in W).', value: (r) => r.sample.powerLimitW },
  { name: 'DCGM_FI_DEV_GPU_UTIL', type: 'gauge', help: 'GPU utilization (in %).', value: (r) => r.sample.utilizationPct },
  { name: 'DCGM_FI_DEV_MEM_COPY_UTIL', type: 'gauge', help: 'Memory utilization (in %).', value: (r) => r.sample.memoryUtilizationPct },
  { name: 'DCGM_FI_DEV_FAN_SPEED', type: 'gauge', help: 'Fan speed (in %).', value: (r) => r.sample.fanPct },
  { name: 'DCGM_FI_DEV_XID_ERRORS', type: 'gauge', help: 'Value of the last XID error encountered.', value: (r) => r.lastXid },
  {
    name: 'DCGM_FI_DEV_FB_FREE',
    type: 'gauge',
    // dcgm's FB_FREE also subtracts reserved memory, which agents do not report.
    help: 'Framebuffer memory free (in MiB).',
    value: (r) =>
      r.sample.memoryTotalBytes === null || r.sample.memoryUsedBytes === null ? null : mib(Math.max(0, r.sample.memoryTotalBytes - r.sample.memoryUsedBytes)),
  },
  { name: 'DCGM_FI_DEV_FB_USED', type: 'gauge', help: 'Framebuffer memory used (in MiB).', value: (r) => mib(r.sample.memoryUsedBytes) },
  { name: 'DCGM_FI_DEV_FB_TOTAL', type: 'gauge', help: 'Framebuffer memory total (in MiB).', value: (r) => mib(r.sample.memoryTotalBytes) },
  {
    name: 'DCGM_FI_DEV_ECC_SBE_VOL_TOTAL',
    type: 'counter',
    help: 'Total number of single-bit volatile ECC errors.',
    value: (r) => r.sample.eccCorrectedVolatile,
  },
  {
    name: 'DCGM_FI_DEV_ECC_DBE_VOL_TOTAL',
    type: 'counter',
    help: 'Total number of double-bit volatile ECC errors.',
    value: (r) => r.sample.eccUncorrectedVolatile,
  },
  {
    name: 'DCGM_FI_DEV_ECC_SBE_AGG_TOTAL',
    type: 'counter',
    help: 'Total number of single-bit persistent ECC errors.',
    value: (r) => r.sample.eccCorrectedAggregate,
  },
  {
    name: 'DCGM_FI_DEV_ECC_DBE_AGG_TOTAL',
    type: 'counter',
    help: 'Total number of double-bit persistent ECC errors.',
    value: (r) => r.sample.eccUncorrectedAggregate,
  },
  {
    name: 'DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS',
    type: 'counter',
    help: 'Number of remapped rows for correctable errors',
    value: (r) => r.sample.remappedRowsCorrectable,
  },
  {
    name: 'DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS',
    type: 'counter',
    help: 'Number of remapped rows for uncorrectable errors',
    value: (r) => r.sample.remappedRowsUncorrectable,
  },
  { name: 'DCGM_FI_DEV_ROW_REMAP_FAILURE', type: 'gauge', help: 'Whether remapping of rows has failed', value: (r) => bool(r.sample.remappedRowsFailure) },
  // From nvidia-smi -q, which the agent runs once a minute by default: the counter moves in steps.
  { name: 'DCGM_FI_DEV_PCIE_REPLAY_COUNTER', type: 'counter', help: 'Total number of PCIe retries.', value: (r) => r.sample.pcieReplayCount },
  {
    name: 'DCGM_FI_DEV_CLOCK_THROTTLE_REASONS',
    type: 'gauge',
    help: 'Current clock throttle reasons (bitmask of NVML clocks event reasons).',
    value: (r) => throttleBitmask(r.sample.throttleReasons),
  },
];
