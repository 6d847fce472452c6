import { afterEach, describe, expect, it } from 'vitest';
import { emptyGpuSnapshot, gpuSampleOf, type MetricsBody } from '@gpufleet/protocol';
import { subjects } from '../bus/subjects.js';
import { MetricStore } from '../metrics/metric-store.js';
import { sparklineWindow } from '../metrics/sparklines.js';
import { MetricReads, splitSeries } from './metric-reads.js';
import { BACKENDS, openBackend, type Backend } from './__tests__/replica-test-kit.js';

const T0 = 1_767_000_000_000;
const body = (ts: number, util: number, gpus = 1): MetricsBody => ({
  ts,
  host: { cpuPct: 10, load1: 1, load5: 1, load15: 1, memoryUsedBytes: 1, memoryTotalBytes: 2, disks: [], net: [] },
  gpus: Array.from({ length: gpus }, (_, i) => ({ ...gpuSampleOf(emptyGpuSnapshot('nvidia', i)), uuid: `GPU-${i}`, utilizationPct: util, temperatureC: 40 })),
});
const quiet = { warn: () => {} };
const points = (m: { series: Array<{ name: string; gpu: string | null; points: Array<[number, number | null]> }> }, name: string, gpu: string | null) =>
  m.series.find((s) => s.name === name && s.gpu === gpu)?.points ?? [];

for (const kind of BACKENDS) {
  describe(`MetricReads (${kind} bus)`, () => {
    let backend: Backend;
    const started: MetricReads[] = [];
    afterEach(async () => {
      for (const r of started.splice(0)) r.stop();
      await backend?.cleanup();
    });

    /** Two replicas a and b; `holders` says who holds which node. */
    async function twoReplicas(holders: Record<string, string>, timeoutMs = 2000) {
      backend = await openBackend(kind);
      const make = async (name: string) => {
        const metrics = new MetricStore({ intervalMs: 10_000 });
        const reads = new MetricReads({
          bus: await backend.open(),
          replica: { name, instance: `${name}-instance` },
          metrics,
          owners: { holderOf: (id) => holders[id] ?? null },
          log: quiet,
          timeoutMs,
        });
        await reads.start();
        started.push(reads);
        return { metrics, reads };
      };
      return { a: await make('a'), b: await make('b') };
    }

    it('answers the series of a node held elsewhere from the holder, with its own older points in front', async () => {
      const { a, b } = await twoReplicas({ n1: 'b', n2: 'a' });
      // a held n1 first (two samples), then n1 moved to b (three samples there).
      a.metrics.ingest('n1', body(T0, 10));
      a.metrics.ingest('n1', body(T0 + 10_000, 11));
      for (let i = 2; i < 5; i++) b.metrics.ingest('n1', body(T0 + i * 10_000, 10 + i));
      const seen = await a.reads.query('n1', { names: ['gpu_util_pct'] });
      expect(points(seen, 'gpu_util_pct', 'GPU-0').map((p) => p[1])).toEqual([10, 11, 12, 13, 14]);
      // A node held here is answered from here, with no question asked.
      a.metrics.ingest('n2', body(T0, 55));
      expect(points(await a.reads.query('n2', { names: ['gpu_util_pct'] }), 'gpu_util_pct', 'GPU-0')).toEqual([[T0, 55]]);
      expect(a.reads.unanswered).toBe(0);
    });

    it('carries a long history in parts under the bus limit', async () => {
      const { a, b } = await twoReplicas({ big: 'b' });
      // 16 GPUs x 360 points: about 1.5 MB of JSON, over the 512 KiB message limit.
      for (let i = 0; i < 360; i++) b.metrics.ingest('big', body(T0 + i * 10_000, i % 100, 16));
      const seen = await a.reads.query('big');
      expect(seen.series).toHaveLength(4 + 16 * 11);
      expect(points(seen, 'gpu_util_pct', 'GPU-15')).toHaveLength(360);
      expect(splitSeries(b.metrics.query('big').series).length).toBeGreaterThan(2);
    });

    it('answers from what it has when the holder is silent, and counts it', async () => {
      const { a, b } = await twoReplicas({ n1: 'gone' }, 300);
      a.metrics.ingest('n1', body(T0, 10));
      b.metrics.ingest('n1', body(T0 + 10_000, 20));
      const started = Date.now();
      const seen = await a.reads.query('n1', { names: ['gpu_util_pct'] });
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      expect(points(seen, 'gpu_util_pct', 'GPU-0')).toEqual([[T0, 10]]);
      expect(a.reads.unanswered).toBe(1);
    });

    it('computes sparklines where each node is held, one question per holder', async () => {
      const { a, b } = await twoReplicas({ here: 'a', there: 'b', nobody: 'b' });
      const now = T0 + 15 * 60_000;
      for (let i = 0; i < 90; i++) {
        a.metrics.ingest('here', body(now - 900_000 + i * 10_000, 20));
        b.metrics.ingest('there', body(now - 900_000 + i * 10_000, 80));
      }
      const window = sparklineWindow(now, 900_000, 30);
      const [here, there, nobody] = await a.reads.sparklines(['here', 'there', 'nobody'], window);
      expect(here!.util.filter((v) => v !== null).every((v) => v === 20)).toBe(true);
      expect(there!.util.filter((v) => v !== null).length).toBeGreaterThan(20);
      expect(there!.util.filter((v) => v !== null).every((v) => v === 80)).toBe(true);
      expect(nobody!.util.every((v) => v === null)).toBe(true);
    });

    it('ignores garbage questions and answers, and says so to a malformed question', async () => {
      const { a } = await twoReplicas({ n1: 'b' });
      const bus = await backend.open();
      const answers: unknown[] = [];
      await bus.subscribe(subjects.metricAnswers('probe'), (msg) => answers.push(msg.json()));
      for (const garbage of [
        {},
        { id: 7 },
        { id: 'x', from: 'probe', kind: 'delete-everything' },
        { id: 'y', from: 'probe', kind: 'sparklines', ids: ['n1'], window: { start: 0, bucketMs: -1, points: 1e9 } },
      ]) {
        bus.publish(subjects.metricQueries('a'), garbage);
      }
      bus.publish(subjects.metricAnswers('a-instance'), { id: 'unknown', part: 0, parts: 1, series: [] });
      bus.publish(subjects.metricAnswers('a-instance'), [1, 2, 3]);
      const deadline = Date.now() + 2000;
      while (answers.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(answers).toEqual([
        { id: 'x', error: 'not a metrics question this replica understands' },
        { id: 'y', error: 'not a metrics question this replica understands' },
      ]);
      // Still answering real questions after all that.
      a.metrics.ingest('n2', body(T0, 5));
      expect((await a.reads.query('n2')).series.length).toBeGreaterThan(0);
    });
  });
}
