import { beforeEach, describe, expect, it } from 'vitest';
import { listAlerts } from './alert-api.js';
import type { AlertEngine } from './alert-engine.js';
import { engineFor, FakeFleet, gpuSample, makeNode, metricsOf, T0, TestClock, uuidOf } from './__tests__/alert-fixtures.js';

const MIN = 60_000;

const TEMP_RULE = `
rules:
  - name: Hot
    kind: metric
    metric: gpu_temp_c
    above: 85
    for: 5m
    severity: warning
    summary: "GPU {{gpu}} on {{hostname}} at {{value}} °C"
`;

let clock: TestClock;
let fleet: FakeFleet;
beforeEach(() => {
  clock = new TestClock();
  fleet = new FakeFleet();
});

function temps(nodeId: string, values: number[]): void {
  fleet.metrics.set(
    nodeId,
    metricsOf(
      clock.now(),
      values.map((t, i) => gpuSample(nodeId, i, { temperatureC: t })),
    ),
  );
}

const states = (engine: AlertEngine, state?: 'pending' | 'firing' | 'resolved') => listAlerts(engine, state ? { state } : {}).items;

describe('metric rules', () => {
  it('go pending, fire after `for`, render the summary, and resolve', () => {
    fleet.add(makeNode('n1', { hostname: 'gpu-host-1' }));
    const engine = engineFor(TEMP_RULE, fleet, clock);
    temps('n1', [60, 90]);
    engine.tick();
    expect(states(engine).map((a) => [a.state, a.gpu, a.value])).toEqual([['pending', uuidOf('n1', 1), 90]]);

    clock.advance(4 * MIN);
    temps('n1', [60, 91]);
    engine.tick();
    expect(states(engine)[0]!.state).toBe('pending');

    clock.advance(MIN);
    temps('n1', [60, 92]);
    engine.tick();
    const [firing] = states(engine, 'firing');
    expect(firing).toMatchObject({
      rule: 'Hot',
      severity: 'warning',
      nodeId: 'n1',
      gpuIndex: 1,
      value: 92,
      summary: 'GPU 1 on gpu-host-1 at 92 °C',
      labels: {
        alertname: 'Hot',
        severity: 'warning',
        node: 'n1',
        hostname: 'gpu-host-1',
        Hostname: 'gpu-host-1',
        gpu: '1',
        UUID: uuidOf('n1', 1),
        pci_bus_id: '00000000:18:00.0',
        modelName: 'NVIDIA H100 80GB HBM3',
      },
    });
    expect(firing!.activeAt).toBe(new Date(T0).toISOString());
    expect(firing!.firedAt).toBe(new Date(T0 + 5 * MIN).toISOString());

    clock.advance(MIN);
    temps('n1', [60, 70]);
    engine.tick();
    const [resolved] = states(engine, 'resolved');
    expect(resolved).toMatchObject({ id: firing!.id, resolvedAt: new Date(T0 + 6 * MIN).toISOString() });
    expect(states(engine, 'firing')).toEqual([]);
    expect(engine.history.list().map((h) => `${h.from}->${h.to}`)).toEqual(['firing->resolved', 'pending->firing', 'inactive->pending']);
  });

  it('never duplicates: one instance per (rule, node, gpu), also when it comes back', () => {
    fleet.add(makeNode('n1'));
    const engine = engineFor(TEMP_RULE.replace('for: 5m', 'for: 0s'), fleet, clock);
    temps('n1', [90, 90]);
    for (let i = 0; i < 20; i++) {
      clock.advance(10_000);
      engine.tick();
    }
    const firing = states(engine, 'firing');
    expect(firing).toHaveLength(2);
    expect(new Set(firing.map((a) => a.id)).size).toBe(2);
    temps('n1', [50, 90]);
    engine.tick();
    temps('n1', [95, 90]);
    engine.tick();
    const again = states(engine);
    expect(again).toHaveLength(2);
    expect(again.every((a) => a.state === 'firing')).toBe(true);
    expect(again.map((a) => a.id).sort()).toEqual(firing.map((a) => a.id).sort());
    expect([...engine.instances()]).toHaveLength(2);
  });

  it('forgets a pending alert whose condition stops before `for` (no resolved message)', () => {
    fleet.add(makeNode('n1'));
    const engine = engineFor(TEMP_RULE, fleet, clock);
    temps('n1', [90]);
    engine.tick();
    clock.advance(MIN);
    temps('n1', [80]);
    engine.tick();
    expect(states(engine)).toEqual([]);
    expect(engine.history.list().map((h) => `${h.from}->${h.to}`)).toEqual(['pending->inactive', 'inactive->pending']);
    // Starting over measures `for` from the new start.
    clock.advance(MIN);
    temps('n1', [90]);
    engine.tick();
    clock.advance(4 * MIN);
    engine.tick();
    expect(states(engine)[0]!.state).toBe('pending');
  });

  it('resolves when the GPU leaves the sample or the node stops being connected', () => {
    fleet.add(makeNode('n1'));
    const engine = engineFor(TEMP_RULE.replace('for: 5m', 'for: 0s'), fleet, clock);
    temps('n1', [90, 90]);
    engine.tick();
    expect(states(engine, 'firing')).toHaveLength(2);
    fleet.metrics.set('n1', metricsOf(clock.now(), [gpuSample('n1', 0, { temperatureC: 90 })]));
    clock.advance(10_000);
    engine.tick();
    expect(states(engine, 'resolved').map((a) => a.gpuIndex)).toEqual([1]);
    fleet.statuses.set('n1', 'OFFLINE');
    clock.advance(10_000);
    engine.tick();
    expect(states(engine, 'firing')).toEqual([]);
    expect(states(engine, 'resolved')).toHaveLength(2);
  });

  it('treats a sample older than metricsStaleAfterMs as no data', () => {
    fleet.add(makeNode('n1'));
    const engine = engineFor(TEMP_RULE.replace('for: 5m', 'for: 0s'), fleet, clock, { metricsStaleAfterMs: 60_000 });
    temps('n1', [90]);
    engine.tick();
    clock.advance(60_000);
    engine.tick();
    expect(states(engine, 'firing')).toHaveLength(1);
    clock.advance(1);
    engine.tick();
    expect(states(engine, 'firing')).toEqual([]);
    expect(states(engine, 'resolved')).toHaveLength(1);
  });

  it('drops resolved alerts after the retention', () => {
    fleet.add(makeNode('n1'));
    const engine = engineFor(TEMP_RULE.replace('for: 5m', 'for: 0s'), fleet, clock, { resolvedRetentionMs: 10 * MIN });
    temps('n1', [90]);
    engine.tick();
    temps('n1', [50]);
    engine.tick();
    clock.advance(10 * MIN - 1);
    engine.tick();
    expect(states(engine, 'resolved')).toHaveLength(1);
    clock.advance(1);
    engine.tick();
    expect(states(engine)).toEqual([]);
  });

  it('watches node metrics and `below` thresholds', () => {
    fleet.add(makeNode('n1'));
    fleet.add(makeNode('n2'));
    const engine = engineFor(
      `rules:\n  - {name: Idle, kind: metric, metric: cpu_pct, below: 5, severity: info, summary: "{{hostname}} at {{value}}%"}\n  - {name: Mem, kind: metric, metric: mem_used_pct, above: 90, severity: warning, summary: "{{value}}"}`,
      fleet,
      clock,
    );
    fleet.metrics.set('n1', metricsOf(clock.now(), [], { cpuPct: 2, memoryUsedBytes: 95, memoryTotalBytes: 100 }));
    fleet.metrics.set('n2', metricsOf(clock.now(), [], { cpuPct: 50 }));
    engine.tick();
    expect(states(engine).map((a) => [a.rule, a.nodeId, a.gpu, a.summary])).toEqual([
      ['Mem', 'n1', null, '95'],
      ['Idle', 'n1', null, 'n1 at 2%'],
    ]);
  });

  it('scopes rules with a label selector and follows label changes', () => {
    fleet.add(makeNode('eu1', { labels: { region: 'eu' } }));
    fleet.add(makeNode('us1', { labels: { region: 'us' } }));
    const engine = engineFor(TEMP_RULE.replace('for: 5m', 'for: 0s').replace('severity: warning', 'severity: warning\n    selector: region=eu'), fleet, clock);
    temps('eu1', [90]);
    temps('us1', [90]);
    engine.tick();
    expect(states(engine, 'firing').map((a) => a.nodeId)).toEqual(['eu1']);
    fleet.setLabels('eu1', { region: 'apac' });
    fleet.setLabels('us1', { region: 'eu' });
    engine.tick();
    expect(states(engine, 'firing').map((a) => a.nodeId)).toEqual(['us1']);
    expect(states(engine, 'resolved').map((a) => a.nodeId)).toEqual(['eu1']);
  });

  it('stops creating instances at maxInstances and counts what it dropped', () => {
    fleet.add(makeNode('n1', { gpus: 3 }));
    const engine = engineFor(TEMP_RULE, fleet, clock, { maxInstances: 2 });
    temps('n1', [90, 91, 92]);
    engine.tick();
    expect(states(engine)).toHaveLength(2);
    expect(engine.droppedInstances).toBe(1);
  });

  it('evaluates 10,000 nodes of 8 GPUs in one pass and finds the one hot GPU', () => {
    for (let i = 0; i < 10_000; i++) {
      const id = `n${i}`;
      fleet.add(makeNode(id, { gpus: 8 }));
      temps(id, [60, 61, 62, 63, 64, 65, 66, i === 7777 ? 99 : 67]);
    }
    const engine = engineFor(`${TEMP_RULE}  - {name: Off, kind: node-offline, for: 5m, severity: critical, summary: x}\n`, fleet, clock);
    engine.tick();
    clock.advance(10_000);
    engine.tick();
    const all = states(engine);
    expect(all.map((a) => [a.nodeId, a.gpuIndex, a.state])).toEqual([['n7777', 7, 'pending']]);
  });
});

describe('node-offline rules', () => {
  const RULE = `rules:\n  - {name: NodeOffline, kind: node-offline, for: 5m, severity: critical, summary: "{{hostname}} offline for {{offlineFor}}"}`;

  it('fire once a node has been OFFLINE longer than `for` and resolve when it is back', () => {
    const node = fleet.add(makeNode('n1', { hostname: 'box' }), 'READY');
    fleet.add(makeNode('n2'), 'READY');
    const engine = engineFor(RULE, fleet, clock);
    engine.tick();
    expect(states(engine)).toEqual([]);
    node.lastSeenAt = clock.now() - 30_000;
    fleet.statuses.set('n1', 'OFFLINE');
    engine.tick();
    expect(states(engine, 'pending').map((a) => a.nodeId)).toEqual(['n1']);
    clock.advance(5 * MIN);
    engine.tick();
    const [firing] = states(engine, 'firing');
    expect(firing).toMatchObject({ nodeId: 'n1', gpu: null, severity: 'critical', summary: 'box offline for 5m30s' });
    expect(firing!.labels).not.toHaveProperty('gpu');
    fleet.statuses.set('n1', 'READY');
    clock.advance(10_000);
    engine.tick();
    expect(states(engine, 'resolved').map((a) => a.nodeId)).toEqual(['n1']);
  });

  it('do not count PENDING or DECOMMISSIONED nodes as offline', () => {
    fleet.add(makeNode('p'), 'PENDING');
    fleet.add(makeNode('d'), 'DECOMMISSIONED');
    const engine = engineFor(RULE, fleet, clock);
    engine.tick();
    clock.advance(10 * MIN);
    engine.tick();
    expect(states(engine)).toEqual([]);
  });
});

describe('silences', () => {
  it('keep the state of matching alerts, mark them silenced, and end at their expiry', async () => {
    fleet.add(makeNode('n1'));
    fleet.add(makeNode('n2'));
    const engine = engineFor(TEMP_RULE.replace('for: 5m', 'for: 0s'), fleet, clock);
    temps('n1', [90]);
    temps('n2', [90]);
    engine.tick();
    const s = await engine.silences.create(
      {
        matchers: [
          { name: 'node', value: 'n1' },
          { name: 'alertname', value: 'Hot' },
        ],
        endsAt: clock.now() + 2 * 3_600_000,
        comment: 'fan swap',
        createdBy: 'token:ops',
      },
      clock.now(),
    );
    const silenced = listAlerts(engine, { state: 'silenced' }).items;
    expect(silenced.map((a) => [a.nodeId, a.state, a.silencedBy])).toEqual([['n1', 'firing', [s.id]]]);
    expect(listAlerts(engine, { state: 'firing' }).items.map((a) => [a.nodeId, a.silenced])).toEqual([
      ['n2', false],
      ['n1', true],
    ]);
    clock.advance(2 * 3_600_000);
    engine.tick();
    expect(listAlerts(engine, { state: 'silenced' }).items).toEqual([]);
    expect(engine.silences.view(s, clock.now()).state).toBe('expired');
  });

  it('with a != matcher silence everything but the named value', async () => {
    fleet.add(makeNode('n1'));
    fleet.add(makeNode('n2'));
    const engine = engineFor(TEMP_RULE.replace('for: 5m', 'for: 0s'), fleet, clock);
    temps('n1', [90]);
    temps('n2', [90]);
    engine.tick();
    await engine.silences.create(
      { matchers: [{ name: 'node', value: 'n1', op: '!=' }], endsAt: clock.now() + 60_000, comment: 'x', createdBy: 't' },
      clock.now(),
    );
    expect(listAlerts(engine, { state: 'silenced' }).items.map((a) => a.nodeId)).toEqual(['n2']);
  });
});
