import { describe, expect, it } from 'vitest';
import { GPU_COLUMN_SCALES, NO_VALUE, pack, unpack } from './packed-column.js';
import { GPU_SERIES, MetricStore } from './metric-store.js';

describe('16-bit packed GPU columns', () => {
  it('has one scale per GPU series', () => {
    expect(GPU_COLUMN_SCALES).toHaveLength(GPU_SERIES.length);
  });

  it.each([
    ['gpu_util_pct', 87.25, 87.25],
    ['gpu_temp_c', 41.3, 41.3],
    ['power_w', 699.87, 699.9],
    ['sm_clock_mhz', 1980, 1980],
    ['fb_used_bytes', 81_559 * 2 ** 20, 81_560 * 2 ** 20],
    ['fb_total_bytes', 192 * 2 ** 30, 192 * 2 ** 30],
  ])('%s keeps %d as %d', (name, value, expected) => {
    const scale = GPU_COLUMN_SCALES[GPU_SERIES.indexOf(name as (typeof GPU_SERIES)[number])]!;
    expect(unpack(pack(value, scale), scale)).toBeCloseTo(expected, 6);
  });

  it('stores missing, negative and non-finite readings as no value, and saturates large ones', () => {
    for (const v of [Number.NaN, -1, Infinity, -Infinity]) expect(pack(v, 1)).toBe(NO_VALUE);
    expect(unpack(NO_VALUE, 1)).toBeNull();
    expect(unpack(pack(1e9, 1), 1)).toBe(0xfffe);
  });

  it('halves what the store holds per GPU point compared with Float32', () => {
    const store = new MetricStore({ retentionMs: 3_600_000, intervalMs: 10_000 });
    const gpu = {
      uuid: 'GPU-1',
      pciBusId: null,
      index: 0,
      utilizationPct: 50,
      memoryUtilizationPct: null,
      memoryUsedBytes: 1,
      memoryTotalBytes: 2,
      temperatureC: 40,
      memoryTemperatureC: null,
      powerDrawW: 100,
      powerLimitW: 700,
      smClockMhz: 1,
      memClockMhz: 1,
      fanPct: null,
      eccCorrectedVolatile: 0,
      eccUncorrectedVolatile: 0,
      eccCorrectedAggregate: 0,
      eccUncorrectedAggregate: 0,
      retiredPagesPending: null,
      remappedRowsPending: null,
      remappedRowsFailure: null,
      throttleReasons: [],
    };
    store.ingest('n', {
      ts: 1,
      host: { cpuPct: 1, load1: 0, load5: 0, load15: 0, memoryUsedBytes: 1, memoryTotalBytes: 2, disks: [], net: [] },
      gpus: Array.from({ length: 8 }, (_, i) => ({ ...gpu, uuid: `GPU-${i}` })),
    });
    // 8 GPUs x 11 columns x 2 bytes + 4 host columns x 4 bytes + 8 bytes of time, per slot.
    expect(store.stats().bytes).toBe(store.capacity * (8 + 16 + 8 * 11 * 2));
  });
});
