import { afterEach, describe, expect, it } from 'vitest';
import { checkExposition } from '../metrics/__tests__/exposition-checker.js';
import { renderHealthSeries } from './health-metrics.js';
import { counter, healthKit, healthNode, N1, uuid, xid, type HealthKit } from './__tests__/health-kit.js';

let kit: HealthKit;
afterEach(() => kit?.close());

const labels = (s: { labels: Array<[string, string]> }) => Object.fromEntries(s.labels);

describe('renderHealthSeries', () => {
  it('exports one 1 per GPU for its verdict and counts health events by kind and code', async () => {
    kit = await healthKit();
    kit.registry.seen(N1);
    await kit.event(xid(79, 1));
    await kit.event(xid(79, 2));
    await kit.event(xid(13, 0));
    await kit.event(counter('ecc.uncorrected.volatile', 0, 1, 3));
    const text = [
      ...renderHealthSeries({ nodes: kit.registry.all(), gpuHealth: (n, k, s) => kit.engine.gpuHealth(n, k, s), eventCounts: kit.engine.counts.entries() }),
    ].join('');
    const fam = checkExposition(text);
    const health = fam.get('gpufleet_gpu_health')!;
    expect(health.type).toBe('gauge');
    // 2 nodes x 4 GPUs x 4 verdicts.
    expect(health.samples).toHaveLength(32);
    const ones = health.samples
      .filter((s) => s.value === 1)
      .map(labels)
      .filter((l) => l.node === N1);
    expect(ones.map((l) => `${l.gpu}:${l.verdict}`)).toEqual(['0:healthy', '1:unhealthy', '2:unhealthy', '3:unhealthy']);
    expect(ones[1]).toEqual({ node: N1, hostname: 'gpu-1', gpu: '1', UUID: uuid(1), verdict: 'unhealthy' });
    // The other node has never been seen: unknown.
    expect(health.samples.filter((s) => s.value === 1 && labels(s).node !== N1).every((s) => labels(s).verdict === 'unknown')).toBe(true);
    const events = fam.get('gpufleet_health_events_total')!;
    expect(events.type).toBe('counter');
    expect(events.samples.map((s) => `${labels(s).kind}/${labels(s).code}=${s.value}`)).toEqual(['counter/ecc.uncorrected.volatile=1', 'xid/13=1', 'xid/79=2']);
  });

  it('splits a large fleet into chunks and escapes label values', () => {
    const nodes = Array.from({ length: 300 }, (_, i) => ({ ...healthNode(`did:key:z${i}`, i === 0 ? 'odd "host"\\' : `h${i}`, 8) }));
    const chunks = [...renderHealthSeries({ nodes, gpuHealth: () => ({ verdict: 'degraded', rule: null, cause: null, since: null }), eventCounts: [] })];
    expect(chunks.length).toBeGreaterThan(1);
    const fam = checkExposition(chunks.join(''));
    expect(fam.get('gpufleet_gpu_health')!.samples).toHaveLength(300 * 8 * 4);
    expect(fam.get('gpufleet_gpu_health')!.samples.find((s) => labels(s).node === 'did:key:z0')!.labels).toContainEqual(['hostname', 'odd "host"\\']);
    expect(fam.get('gpufleet_health_events_total')!.samples).toEqual([]);
  });
});
