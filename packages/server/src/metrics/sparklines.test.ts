import { describe, expect, it } from 'vitest';
import { emptyGpuSnapshot, gpuSampleOf, type MetricsBody } from '@gpufleet/protocol';
import { MetricStore } from './metric-store.js';
import { nodeSparkline, sparklineWindow } from './sparklines.js';

const MIN = 60_000;
const T = 1_800_000_000_000; // a multiple of 30 s and of 60 s

function body(ts: number, gpus: Array<[string, number | null, number | null]>): MetricsBody {
  return {
    ts,
    host: { cpuPct: 1, load1: 0, load5: 0, load15: 0, memoryUsedBytes: 1, memoryTotalBytes: 2, disks: [], net: [] },
    gpus: gpus.map(([uuid, util, temp], i) => ({ ...gpuSampleOf(emptyGpuSnapshot('nvidia', i)), uuid, utilizationPct: util, temperatureC: temp })),
  };
}

describe('sparklineWindow', () => {
  it('puts bucket edges on multiples of the bucket, the newest bucket holding now', () => {
    const w = sparklineWindow(T + 12_345, 15 * MIN, 30);
    expect(w).toEqual({ start: T + 30_000 - 30 * 30_000, bucketMs: 30_000, points: 30 });
    expect(T + 12_345).toBeGreaterThanOrEqual(w.start + 29 * w.bucketMs);
    expect(T + 12_345).toBeLessThan(w.start + 30 * w.bucketMs);
  });

  it('moves by whole buckets between refreshes, so shared buckets keep their values', () => {
    const store = new MetricStore({ retentionMs: 60 * MIN });
    for (let t = T - 20 * MIN; t <= T + 60_000; t += 10_000) store.ingest('n', body(t, [['a', (t / 10_000) % 97, 50 + ((t / 10_000) % 7)]]));
    const at = (now: number) => nodeSparkline(store, 'n', sparklineWindow(now, 15 * MIN, 30));
    const before = at(T + 5_000);
    // 20 s later, still inside the same bucket: the very same line (edges do not follow now).
    expect(at(T + 25_000)).toEqual(before);
    // 30 s later: one bucket on. The store already holds samples past both, so all shared buckets match.
    const after = at(T + 35_000);
    expect(after.util.slice(0, 29)).toEqual(before.util.slice(1));
    expect(after.temp.slice(0, 29)).toEqual(before.temp.slice(1));
  });
});

describe('nodeSparkline', () => {
  it('averages over the GPUs that reported: a GPU gone missing is not a zero', () => {
    const store = new MetricStore();
    const w = sparklineWindow(T + 29_999, 60_000, 2); // buckets [T-30s, T) and [T, T+30s)
    store.ingest(
      'n',
      body(T - 20_000, [
        ['a', 40, 60],
        ['b', 80, 70],
      ]),
    );
    store.ingest('n', body(T - 10_000, [['a', 60, 62]])); // b silent: mean is a's alone
    store.ingest(
      'n',
      body(T + 5_000, [
        ['a', null, null],
        ['b', null, null],
      ]),
    );
    const s = nodeSparkline(store, 'n', w);
    expect(w.start).toBe(T - 30_000);
    expect(s.util).toEqual([(60 + 60) / 2, null]);
    expect(s.temp).toEqual([(70 + 62) / 2, null]);
  });

  it('gives a line of gaps for a node the store does not know', () => {
    const s = nodeSparkline(new MetricStore(), 'nobody', sparklineWindow(T, 15 * MIN, 5));
    expect(s).toEqual({ id: 'nobody', util: [null, null, null, null, null], temp: [null, null, null, null, null] });
  });
});
