import type { GpuSample, ThrottleReason } from '@gpufleet/protocol';

/** Reads one number from a GPU sample; null when the tool did not report it. */
export type MetricReader = (s: GpuSample) => number | null;

const flag = (v: boolean | null): number | null => (v === null ? null : v ? 1 : 0);
// A throttle reason is a flag that is 1 while the reason is active; the list is always reported.
const throttle =
  (reason: ThrottleReason): MetricReader =>
  (s) =>
    s.throttleReasons.includes(reason) ? 1 : 0;

/**
 * The metrics a health rule can watch, by the name used in policy files. Flags (remapped rows,
 * throttle reasons) read as 1 while set and 0 otherwise. Readers allocate nothing: they run for
 * every GPU of every metrics frame.
 */
export const HEALTH_METRICS = {
  temperature_c: (s) => s.temperatureC,
  memory_temperature_c: (s) => s.memoryTemperatureC,
  power_w: (s) => s.powerDrawW,
  power_pct_of_limit: (s) => (s.powerDrawW === null || !s.powerLimitW ? null : (s.powerDrawW / s.powerLimitW) * 100),
  utilization_pct: (s) => s.utilizationPct,
  memory_utilization_pct: (s) => s.memoryUtilizationPct,
  fan_pct: (s) => s.fanPct,
  sm_clock_mhz: (s) => s.smClockMhz,
  ecc_corrected_volatile: (s) => s.eccCorrectedVolatile,
  ecc_uncorrected_volatile: (s) => s.eccUncorrectedVolatile,
  ecc_corrected_aggregate: (s) => s.eccCorrectedAggregate,
  ecc_uncorrected_aggregate: (s) => s.eccUncorrectedAggregate,
  remapped_rows_pending: (s) => flag(s.remappedRowsPending),
  remapped_rows_failure: (s) => flag(s.remappedRowsFailure),
  retired_pages_pending: (s) => flag(s.retiredPagesPending),
  throttle_hw_slowdown: throttle('hw_slowdown'),
  throttle_hw_thermal_slowdown: throttle('hw_thermal_slowdown'),
  throttle_hw_power_brake_slowdown: throttle('hw_power_brake_slowdown'),
  throttle_sw_thermal_slowdown: throttle('sw_thermal_slowdown'),
  throttle_sw_power_cap: throttle('sw_power_cap'),
} as const satisfies Record<string, MetricReader>;

export type HealthMetricName = keyof typeof HEALTH_METRICS;
export const HEALTH_METRIC_NAMES = Object.keys(HEALTH_METRICS) as HealthMetricName[];
