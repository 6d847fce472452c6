import { describe, expect, it } from 'vitest';
import { emptyGpuSnapshot, gpuSampleOf, NodeMetrics, type GpuSample, type MetricsBody } from '@gpufleet/protocol';
import { GPU_SERIES, HOST_SERIES, MetricStore, gpuKey } from './metric-store.js';

const T0 = 1_767_000_000_000;
const GB = 1024 ** 3;

function gpu(index: number, patch: Partial<GpuSample> = {}): GpuSample {
  return {
    ...gpuSampleOf(emptyGpuSnapshot('nvidia', index)),
    uuid: `GPU-0000000${index}-aaaa-bbbb-cccc-dddddddddddd`,
    pciBusId: `00000000:${(0x17 + index).toString(16).toUpperCase()}:00.0`,
    utilizationPct: 10 + index,
    memoryUtilizationPct: 5,
    memoryUsedBytes: 20 * GB,
    memoryTotalBytes: 80 * GB,
    temperatureC: 40 + index,
    powerDrawW: 300.5,
    smClockMhz: 1980,
    memClockMhz: 2619,
    fanPct: null,
    eccCorrectedVolatile: 0,
    eccUncorrectedVolatile: 0,
    ...patch,
  };
}

function body(ts: number, gpus: GpuSample[] = [gpu(0), gpu(1)], cpuPct = 12.5): MetricsBody {
  return {
    ts,
    host: { cpuPct, load1: 1.5, load5: 1, load15: 0.5, memoryUsedBytes: 8 * GB, memoryTotalBytes: 64 * GB, disks: [], net: [] },
    gpus,
  };
}

function series(m: NodeMetrics, name: string, gpuId: string | null = null): Array<[number, number | null]> {
  const s = m.series.find((x) => x.name === name && x.gpu === gpuId);
  if (!s) throw new Error(`no series ${name} ${gpuId}`);
  return s.points;
}

const U0 = gpu(0).uuid!;
const U1 = gpu(1).uuid!;

describe('MetricStore', () => {
  it('keeps host and per-GPU series with the sample values, valid per the REST schema', () => {
    const store = new MetricStore();
    store.ingest('n1', body(T0));
    store.ingest('n1', body(T0 + 10_000, [gpu(0, { utilizationPct: 99 }), gpu(1)], 50));
    const m = store.query('n1');
    expect(() => NodeMetrics.parse(m)).not.toThrow();
    expect(m.nodeId).toBe('n1');
    expect(m.series).toHaveLength(HOST_SERIES.length + 2 * GPU_SERIES.length);
    expect(series(m, 'cpu_pct')).toEqual([
      [T0, 12.5],
      [T0 + 10_000, 50],
    ]);
    expect(series(m, 'load1')).toEqual([
      [T0, 1.5],
      [T0 + 10_000, 1.5],
    ]);
    expect(series(m, 'mem_total_bytes')[0]![1]).toBe(64 * GB);
    expect(series(m, 'gpu_util_pct', U0)).toEqual([
      [T0, 10],
      [T0 + 10_000, 99],
    ]);
    expect(series(m, 'gpu_util_pct', U1)).toEqual([
      [T0, 11],
      [T0 + 10_000, 11],
    ]);
    expect(series(m, 'gpu_temp_c', U1)[1]![1]).toBe(41);
    expect(series(m, 'fb_used_bytes', U0)[0]![1]).toBe(20 * GB);
    expect(series(m, 'power_w', U0)[0]![1]).toBe(300.5);
    expect(series(m, 'sm_clock_mhz', U0)[0]![1]).toBe(1980);
    expect(series(m, 'mem_clock_mhz', U0)[0]![1]).toBe(2619);
    expect(series(m, 'mem_copy_util_pct', U0)[0]![1]).toBe(5);
    expect(series(m, 'ecc_corrected_volatile', U0)[0]![1]).toBe(0);
    expect(series(m, 'fan_pct', U0)[0]![1]).toBeNull();
    // Float32 storage: large byte counts come back within a millionth.
    const odd = 85_899_345_921;
    store.ingest('n1', body(T0 + 20_000, [gpu(0, { memoryTotalBytes: odd })]));
    const total = series(store.query('n1'), 'fb_total_bytes', U0)[2]![1]!;
    expect(Math.abs(total - odd) / odd).toBeLessThan(1e-6);
  });

  it('returns the latest body as the agent sent it', () => {
    const store = new MetricStore();
    expect(store.latest('n1')).toBeNull();
    const a = body(T0);
    const b = body(T0 + 10_000);
    store.ingest('n1', a);
    store.ingest('n1', b);
    expect(store.latest('n1')).toBe(b);
  });

  it('wraps its rings, keeping the newest points in time order', () => {
    const store = new MetricStore({ retentionMs: 60_000, intervalMs: 10_000 });
    const cap = store.capacity;
    expect(cap).toBeGreaterThanOrEqual(6);
    for (let i = 0; i < cap * 3 + 2; i++) store.ingest('n1', body(T0 + i * 10_000, [gpu(0, { utilizationPct: i % 100 })], i % 100));
    const last = cap * 3 + 1;
    const cpu = series(store.query('n1'), 'cpu_pct');
    expect(cpu).toHaveLength(cap);
    expect(cpu.map((p) => p[0])).toEqual(Array.from({ length: cap }, (_, k) => T0 + (last - cap + 1 + k) * 10_000));
    expect(cpu.map((p) => p[1])).toEqual(Array.from({ length: cap }, (_, k) => (last - cap + 1 + k) % 100));
    expect(series(store.query('n1'), 'gpu_util_pct', U0).map((p) => p[1])).toEqual(cpu.map((p) => p[1]));
  });

  it('never holds more than capacity points per series, however much arrives', () => {
    const store = new MetricStore({ retentionMs: 120_000, intervalMs: 10_000 });
    const eight = Array.from({ length: 8 }, (_, i) => gpu(i));
    store.ingest('n1', body(T0, eight));
    const bytesAfterFirst = store.stats().bytes;
    for (let i = 1; i < store.capacity * 10; i++) store.ingest('n1', body(T0 + i * 1000, eight));
    const stats = store.stats();
    expect(stats.nodes).toBe(1);
    expect(stats.series).toBe(HOST_SERIES.length + 8 * GPU_SERIES.length);
    expect(stats.points).toBe(stats.series * store.capacity);
    expect(stats.bytes).toBe(bytesAfterFirst);
    for (const s of store.query('n1').series) expect(s.points.length).toBe(store.capacity);

    // A node whose GPU keys keep changing is capped too.
    for (let i = 0; i < 300; i++) store.ingest('n2', body(T0 + i * 1000, [gpu(0, { uuid: `GPU-churn-${i}` })]));
    expect(store.stats().series).toBeLessThanOrEqual(2 * HOST_SERIES.length + (8 + 128) * GPU_SERIES.length);
  });

  it('sizes rings from retention and interval, with a cap', () => {
    expect(new MetricStore().capacity).toBeGreaterThanOrEqual(360);
    expect(new MetricStore().capacity).toBeLessThan(400);
    expect(new MetricStore({ retentionMs: 7 * 86_400_000, intervalMs: 100 }).capacity).toBe(10_000);
    expect(() => new MetricStore({ retentionMs: 0 })).toThrow(RangeError);
    expect(() => new MetricStore({ intervalMs: Number.NaN })).toThrow(RangeError);
  });

  it('prunes points past retention, GPUs not seen in it and empty nodes', () => {
    const store = new MetricStore({ retentionMs: 60_000, intervalMs: 10_000 });
    for (let i = 0; i < 6; i++) store.ingest('n1', body(T0 + i * 10_000, i < 2 ? [gpu(0), gpu(1)] : [gpu(0)]));
    store.ingest('old', body(T0));
    store.prune(T0 + 90_000); // cutoff T0 + 30 s
    const m = store.query('n1');
    expect(series(m, 'cpu_pct').map((p) => p[0])).toEqual([T0 + 30_000, T0 + 40_000, T0 + 50_000]);
    expect(m.series.some((s) => s.gpu === U1)).toBe(false);
    expect(m.series.some((s) => s.gpu === U0)).toBe(true);
    expect(store.latest('old')).toBeNull();
    expect(store.stats().nodes).toBe(1);
  });

  it('filters by time and by series name', () => {
    const store = new MetricStore();
    for (let i = 0; i < 5; i++) store.ingest('n1', body(T0 + i * 10_000));
    const since = store.query('n1', { since: T0 + 25_000 });
    expect(series(since, 'cpu_pct').map((p) => p[0])).toEqual([T0 + 30_000, T0 + 40_000]);
    expect(series(since, 'gpu_temp_c', U0)).toHaveLength(2);
    expect(store.query('n1', { since: T0 + 40_000 }).series[0]!.points).toEqual([[T0 + 40_000, 12.5]]);
    expect(store.query('n1', { since: T0 + 50_000 }).series.every((s) => s.points.length === 0)).toBe(true);

    const named = store.query('n1', { names: ['cpu_pct', 'gpu_util_pct'] });
    expect(named.series.map((s) => `${s.name}/${s.gpu}`)).toEqual(['cpu_pct/null', `gpu_util_pct/${U0}`, `gpu_util_pct/${U1}`]);
    expect(store.query('n1', { names: ['no_such_series'] }).series).toEqual([]);
    expect(store.query('n1', { names: [] }).series).toEqual([]);
    expect(store.query('unknown-node')).toEqual({ nodeId: 'unknown-node', series: [] });
  });

  it('keys GPUs by UUID, else by canonical PCI bus id, whatever their order in the sample', () => {
    const store = new MetricStore();
    const noUuid = (pciBusId: string, utilizationPct: number): GpuSample => gpu(5, { uuid: null, pciBusId, utilizationPct });
    store.ingest('n1', body(T0, [gpu(0), gpu(1), noUuid('00000000:3B:00.0', 30)]));
    // Next sample: order changed, indices changed, PCI id spelled the sysfs way.
    store.ingest('n1', body(T0 + 10_000, [noUuid('0000:3b:00.0', 31), gpu(1, { index: 0 }), gpu(0, { index: 1, utilizationPct: 77 })]));
    const m = store.query('n1', { names: ['gpu_util_pct'] });
    expect(m.series.map((s) => s.gpu)).toEqual([U0, U1, '0000:3b:00.0']);
    expect(series(m, 'gpu_util_pct', U0).map((p) => p[1])).toEqual([10, 77]);
    expect(series(m, 'gpu_util_pct', '0000:3b:00.0').map((p) => p[1])).toEqual([30, 31]);
    expect(gpuKey({ uuid: null, pciBusId: 'garbage' })).toBeNull();

    store.ingest('n1', body(T0 + 20_000, [gpu(0), { ...gpu(2), uuid: null, pciBusId: null }]));
    expect(store.stats().droppedUnkeyedGpus).toBe(1);
  });

  it('leaves a gap for a GPU missing from a sample, even after the ring wraps', () => {
    const store = new MetricStore({ retentionMs: 30_000, intervalMs: 10_000 });
    for (let i = 0; i < store.capacity; i++) store.ingest('n1', body(T0 + i * 10_000));
    store.ingest('n1', body(T0 + 1_000_000, [gpu(0)])); // GPU 1 fell off the bus
    const points = series(store.query('n1'), 'gpu_util_pct', U1);
    expect(points[points.length - 1]).toEqual([T0 + 1_000_000, null]);
    expect(points[points.length - 2]![1]).toBe(11);
    // A GPU that appears later has gaps before it appeared.
    store.ingest('n1', body(T0 + 1_010_000, [gpu(0), gpu(1), gpu(3)]));
    const late = series(store.query('n1'), 'gpu_util_pct', gpu(3).uuid);
    expect(late.slice(0, -1).every((p) => p[1] === null)).toBe(true);
    expect(late[late.length - 1]).toEqual([T0 + 1_010_000, 13]);
  });

  it('drops and counts samples not newer than the newest, without changing latest', () => {
    const store = new MetricStore();
    const newest = body(T0 + 20_000);
    store.ingest('n1', body(T0));
    store.ingest('n1', newest);
    store.ingest('n1', body(T0 + 10_000, undefined, 99)); // replayed late
    store.ingest('n1', body(T0 + 20_000, undefined, 99)); // duplicate
    expect(store.stats().droppedOutOfOrder).toBe(2);
    expect(store.latest('n1')).toBe(newest);
    expect(series(store.query('n1'), 'cpu_pct')).toEqual([
      [T0, 12.5],
      [T0 + 20_000, 12.5],
    ]);
  });

  it('turns garbage readings into null points and refuses garbage samples', () => {
    const store = new MetricStore();
    const junk = { ...body(T0, [gpu(0, { utilizationPct: Number.NaN, temperatureC: Number.POSITIVE_INFINITY, powerDrawW: 'hot' as unknown as number })]) };
    (junk.host as unknown as Record<string, unknown>).cpuPct = Number.NaN;
    delete (junk.host as unknown as Record<string, unknown>).load1;
    store.ingest('n1', junk);
    const m = store.query('n1');
    expect(series(m, 'cpu_pct')).toEqual([[T0, null]]);
    expect(series(m, 'load1')).toEqual([[T0, null]]);
    expect(series(m, 'gpu_util_pct', U0)).toEqual([[T0, null]]);
    expect(series(m, 'gpu_temp_c', U0)).toEqual([[T0, null]]);
    expect(series(m, 'power_w', U0)).toEqual([[T0, null]]);
    expect(series(m, 'sm_clock_mhz', U0)).toEqual([[T0, 1980]]);

    for (const bad of [null, 42, {}, { ts: Number.NaN, host: {}, gpus: [] }, { ts: 'now', host: {}, gpus: [] }]) {
      expect(() => store.ingest('n2', bad as unknown as MetricsBody)).not.toThrow();
    }
    expect(store.stats().droppedInvalid).toBe(5);
    expect(store.latest('n2')).toBeNull();
    // A sample without host or GPU arrays is stored as nulls rather than crashing.
    expect(() => store.ingest('n3', { ts: T0 } as unknown as MetricsBody)).not.toThrow();
    expect(series(store.query('n3'), 'mem_used_bytes')).toEqual([[T0, null]]);
    expect(() => store.ingest('n3', { ts: T0 + 1, host: null, gpus: [null, 7] } as unknown as MetricsBody)).not.toThrow();
    expect(store.stats().droppedUnkeyedGpus).toBe(2);
    expect(store.query('n1', { since: Number.NaN, names: 'cpu_pct' as unknown as string[] }).series.length).toBeGreaterThan(1);
  });

  it('forgets a dropped node', () => {
    const store = new MetricStore();
    store.ingest('n1', body(T0));
    store.ingest('n2', body(T0));
    store.dropNode('n1');
    expect(store.latest('n1')).toBeNull();
    expect(store.query('n1').series).toEqual([]);
    expect(store.stats().nodes).toBe(1);
    // A node that comes back starts afresh, older timestamps included.
    store.ingest('n1', body(T0 - 5000));
    expect(series(store.query('n1'), 'cpu_pct')).toEqual([[T0 - 5000, 12.5]]);
  });
});
