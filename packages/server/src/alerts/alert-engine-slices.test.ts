import { describe, expect, it } from 'vitest';
import { listAlerts } from './alert-api.js';
import { engineFor, FakeFleet, gpuSample, makeNode, metricsOf, TestClock } from './__tests__/alert-fixtures.js';

const RULES = `
rules:
  - name: Hot
    kind: metric
    metric: gpu_temp_c
    above: 85
    for: 0s
    severity: warning
    summary: hot
  - name: Offline
    kind: node-offline
    for: 1m
    severity: critical
    summary: offline
`;

/** 5,000 nodes (more than two slices): every 7th hot on GPU 1, every 11th offline. */
function bigFleet(clock: TestClock): FakeFleet {
  const fleet = new FakeFleet();
  for (let i = 0; i < 5_000; i++) {
    const id = `n${i}`;
    fleet.add(makeNode(id, { gpus: 2 }), i % 11 === 0 ? 'OFFLINE' : 'READY');
    fleet.metrics.set(id, metricsOf(clock.now(), [gpuSample(id, 0, { temperatureC: 50 }), gpuSample(id, 1, { temperatureC: i % 7 === 0 ? 90 : 60 })]));
  }
  return fleet;
}

/** Every instance (Hot fires at once, Offline is pending for its minute), as rule/node/gpu. */
const firing = (engine: ReturnType<typeof engineFor>) =>
  listAlerts(engine, { limit: 10_000 })
    .items.map((a) => `${a.rule}/${a.nodeId}/${a.gpuIndex ?? '-'}`)
    .sort();

describe('tickInSlices', () => {
  it('fires exactly what one tick() does, over a fleet larger than a slice', async () => {
    const clock = new TestClock();
    const whole = engineFor(RULES, bigFleet(clock), clock);
    whole.tick();
    const sliced = engineFor(RULES, bigFleet(clock), clock);
    await sliced.tickInSlices();
    const expected = firing(whole);
    // 5,000 / 7 hot GPUs on online nodes, 5,000 / 11 offline nodes.
    expect(expected.filter((k) => k.startsWith('Hot/'))).toHaveLength(
      Array.from({ length: 5_000 }, (_, i) => i).filter((i) => i % 7 === 0 && i % 11 !== 0).length,
    );
    expect(expected.filter((k) => k.startsWith('Offline/'))).toHaveLength(Math.ceil(5_000 / 11));
    expect(firing(sliced)).toEqual(expected);
  });

  it('gives the event loop back between slices', async () => {
    const clock = new TestClock();
    const engine = engineFor(RULES, bigFleet(clock), clock);
    let ranDuringPass = false;
    let passDone = false;
    setImmediate(() => (ranDuringPass = !passDone));
    await engine.tickInSlices().then(() => (passDone = true));
    expect(ranDuringPass).toBe(true);
    // tick() in one piece does not.
    let ranDuringTick = false;
    let tickDone = false;
    setImmediate(() => (ranDuringTick = !tickDone));
    engine.tick();
    tickDone = true;
    await new Promise((r) => setImmediate(r));
    expect(ranDuringTick).toBe(false);
  });

  it('skips a node removed while the pass was going', async () => {
    const clock = new TestClock();
    const fleet = bigFleet(clock);
    const engine = engineFor(RULES, fleet, clock);
    // n4998 is hot (4998 = 7 x 714) and in the last slice: gone before the pass gets there.
    setImmediate(() => fleet.nodes.delete('n4998'));
    await engine.tickInSlices();
    const keys = firing(engine);
    expect(keys).not.toContain('Hot/n4998/1');
    expect(keys).toContain('Hot/n4991/1');
  });
});
