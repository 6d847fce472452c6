import { beforeEach, describe, expect, it } from 'vitest';
import type { AgentEventRecord } from '../store/store.js';
import { EventHub } from '../events/event-hub.js';
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

describe('health rules (hub events)', () => {
  const RULES = `rules:
  - {name: GpuUnhealthy, kind: health, verdict: unhealthy, severity: critical, summary: "{{target}} on {{hostname}} is unhealthy: {{cause}}"}
  - {name: GpuDegraded, kind: health, verdict: degraded, severity: warning, summary: "{{target}} degraded: {{cause}}"}
  - {name: NodeSick, kind: health, verdict: unhealthy, scope: node, for: 1m, severity: critical, summary: "node {{hostname}}: {{cause}} ({{healthRule}})"}`;

  it('follow verdict changes per GPU and per node', () => {
    fleet.add(makeNode('n1', { hostname: 'box' }));
    const hub = new EventHub();
    const engine = engineFor(RULES, fleet, clock, { hub });
    engine.start();
    const gpu = uuidOf('n1', 1);
    hub.publish({ type: 'health', nodeId: 'n1', gpuKey: gpu, verdict: 'degraded', previous: 'healthy', rule: 'ecc-corrected', cause: 'corrected ECC storm' });
    expect(states(engine, 'firing').map((a) => [a.rule, a.summary])).toEqual([['GpuDegraded', 'GPU 1 degraded: corrected ECC storm']]);
    clock.advance(1000);
    hub.publish({ type: 'health', nodeId: 'n1', gpuKey: gpu, verdict: 'unhealthy', previous: 'degraded', rule: 'xid-79', cause: 'Xid 79: fallen off the bus' });
    expect(states(engine, 'firing').map((a) => [a.rule, a.summary])).toEqual([['GpuUnhealthy', 'GPU 1 on box is unhealthy: Xid 79: fallen off the bus']]);
    expect(states(engine, 'resolved').map((a) => a.rule)).toEqual(['GpuDegraded']);

    hub.publish({ type: 'health', nodeId: 'n1', gpuKey: null, verdict: 'unhealthy', previous: 'healthy', rule: 'worst-gpu', cause: 'GPU 1 unhealthy' });
    const nodeLevel = states(engine).filter((a) => a.gpu === null);
    // One page per fault: the node's verdict only repeats GPU 1's, so the any-scope rule makes
    // no second alert for the node; the node-scope rule asked for node verdicts and waits for its `for`.
    expect(nodeLevel.map((a) => [a.rule, a.state, a.summary])).toEqual([['NodeSick', 'pending', 'node box: GPU 1 unhealthy (worst-gpu)']]);
    clock.advance(MIN);
    engine.tick();
    expect(
      states(engine, 'firing')
        .map((a) => a.rule)
        .sort(),
    ).toEqual(['GpuUnhealthy', 'NodeSick']);

    hub.publish({ type: 'health', nodeId: 'n1', gpuKey: gpu, verdict: 'healthy', previous: 'unhealthy', rule: null, cause: 'cleared by operator' });
    hub.publish({ type: 'health', nodeId: 'n1', gpuKey: null, verdict: 'healthy', previous: 'unhealthy', rule: null, cause: 'cleared' });
    expect(states(engine, 'firing')).toEqual([]);
    expect(hub.size).toBe(1); // the engine's listener never threw, so the hub kept it
  });

  it('page for a node verdict of the node itself, also while a GPU is only degraded', () => {
    fleet.add(makeNode('n1', { hostname: 'box' }));
    const hub = new EventHub();
    const engine = engineFor(RULES, fleet, clock, { hub });
    engine.start();
    hub.publish({ type: 'health', nodeId: 'n1', gpuKey: uuidOf('n1', 0), verdict: 'degraded', previous: 'healthy', rule: 'heat', cause: 'hot' });
    hub.publish({ type: 'health', nodeId: 'n1', gpuKey: null, verdict: 'unhealthy', previous: 'degraded', rule: 'gpu-count', cause: 'a GPU is missing' });
    expect(states(engine, 'firing').map((a) => [a.rule, a.gpu])).toEqual([
      ['GpuUnhealthy', null],
      ['GpuDegraded', uuidOf('n1', 0)],
    ]);
    // A GPU that recovered no longer explains a node verdict: the next one is the node's own.
    hub.publish({ type: 'health', nodeId: 'n1', gpuKey: uuidOf('n1', 1), verdict: 'unhealthy', previous: 'healthy', rule: 'xid-79', cause: 'Xid 79' });
    hub.publish({ type: 'health', nodeId: 'n1', gpuKey: uuidOf('n1', 1), verdict: 'healthy', previous: 'unhealthy', rule: null, cause: 'cleared' });
    hub.publish({ type: 'node', nodeId: 'n1', change: 'removed' });
    expect(states(engine, 'firing')).toEqual([]);
  });

  it('ignore events of unknown nodes and resolve everything of a removed node', () => {
    fleet.add(makeNode('n1'));
    const hub = new EventHub();
    const engine = engineFor(RULES, fleet, clock, { hub });
    engine.start();
    hub.publish({ type: 'health', nodeId: 'ghost', gpuKey: null, verdict: 'unhealthy', previous: 'healthy', rule: null, cause: 'x' });
    expect(states(engine)).toEqual([]);
    hub.publish({ type: 'health', nodeId: 'n1', gpuKey: uuidOf('n1', 0), verdict: 'unhealthy', previous: 'healthy', rule: null, cause: 'x' });
    hub.publish({ type: 'node', nodeId: 'n1', change: 'removed' });
    expect(states(engine, 'firing')).toEqual([]);
    expect(states(engine, 'resolved')).toHaveLength(1);
  });
});

describe('xid-count rules (kernel events)', () => {
  const RULE = `rules:
  - {name: Xids, kind: xid-count, count: 3, window: 10m, severity: warning, summary: "GPU {{gpu}} on {{hostname}}: {{count}} XIDs in {{window}} ({{codes}}, last {{lastCode}})"}
  - {name: Fatal, kind: xid-count, count: 1, window: 1h, codes: [79, 48], events: [xid, fallen-off-bus], per: node, severity: critical, summary: "{{hostname}} {{codes}}"}`;
  let seq = 0;
  const xid = (nodeId: string, gpu: number | null, code: number, ts = clock.now(), kind = 'xid'): AgentEventRecord => ({
    nodeId,
    seq: ++seq,
    id: `e${seq}`,
    ts,
    kind,
    gpuUuid: gpu === null ? null : uuidOf(nodeId, gpu),
    pciBusId: null,
    message: `NVRM: Xid ${code}`,
    data: { code },
    receivedAt: clock.now(),
  });

  it('fire at N events within the window, per GPU, and resolve when the window empties', () => {
    fleet.add(makeNode('n1', { hostname: 'box' }));
    const engine = engineFor(RULE, fleet, clock);
    const send = (e: AgentEventRecord) => engine.handleHubEvent({ type: 'agent-event', nodeId: e.nodeId, event: e });
    send(xid('n1', 0, 13));
    clock.advance(MIN);
    send(xid('n1', 0, 31));
    send(xid('n1', 1, 13)); // another GPU: its own count
    expect(states(engine)).toEqual([]);
    clock.advance(8 * MIN);
    send(xid('n1', 0, 13));
    const [a] = states(engine, 'firing');
    expect(a).toMatchObject({ rule: 'Xids', gpu: uuidOf('n1', 0), gpuIndex: 0, value: 3, summary: 'GPU 0 on box: 3 XIDs in 10m (13,31, last 13)' });
    // The first event leaves the window at T0+10m: 2 remain, below 3.
    clock.t = T0 + 10 * MIN;
    engine.tick();
    expect(states(engine, 'firing')).toEqual([]);
    expect(states(engine, 'resolved').map((x) => x.id)).toEqual([a!.id]);
  });

  it('do not fire for events spread wider than the window, nor for replayed old events', () => {
    fleet.add(makeNode('n1'));
    const engine = engineFor(RULE, fleet, clock);
    const send = (e: AgentEventRecord) => engine.handleHubEvent({ type: 'agent-event', nodeId: e.nodeId, event: e });
    for (let i = 0; i < 5; i++) {
      send(xid('n1', 0, 13));
      clock.advance(6 * MIN);
    }
    send(xid('n1', 0, 13, clock.now() - 2 * 3_600_000));
    send(xid('n1', 0, 13, clock.now() - 3_600_000));
    expect(states(engine)).toEqual([]);
  });

  it('cope with garbage event data: missing or odd codes count only where no codes are asked for', () => {
    fleet.add(makeNode('n1'));
    const engine = engineFor(RULE, fleet, clock);
    const send = (e: AgentEventRecord) => engine.handleHubEvent({ type: 'agent-event', nodeId: e.nodeId, event: e });
    send({ ...xid('n1', 0, 0), data: { code: 'abc' } });
    send({ ...xid('n1', 0, 0), data: { code: -4 } });
    send({ ...xid('n1', 0, 0), data: null as never });
    send({ ...xid('n1', 0, 0), kind: 'counter' });
    send({ ...xid('n1', 0, 0), data: { code: '48' } });
    const got = states(engine);
    expect(got.map((a) => [a.rule, a.value, a.summary])).toEqual([
      ['Fatal', 1, 'n1 48'],
      ['Xids', 4, 'GPU 0 on n1: 4 XIDs in 10m (48, last 48)'],
    ]);
  });

  it('filter by code and event kind, count fallen-off-bus as 79, and group per node', () => {
    fleet.add(makeNode('n1', { hostname: 'box' }));
    const engine = engineFor(RULE, fleet, clock);
    const send = (e: AgentEventRecord) => engine.handleHubEvent({ type: 'agent-event', nodeId: e.nodeId, event: e });
    send(xid('n1', 0, 13));
    send(xid('n1', 0, 79, clock.now(), 'sxid')); // an SXid 79 is not an Xid 79
    expect(states(engine).filter((a) => a.rule === 'Fatal')).toEqual([]);
    send({ ...xid('n1', null, 0, clock.now(), 'fallen-off-bus'), data: {} });
    const fatal = states(engine).filter((a) => a.rule === 'Fatal');
    expect(fatal.map((a) => [a.gpu, a.summary])).toEqual([[null, 'box 79']]);
    send(xid('n1', 1, 48));
    expect(
      states(engine)
        .filter((a) => a.rule === 'Fatal')
        .map((a) => [a.value, a.summary]),
    ).toEqual([[2, 'box 79,48']]);
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
