import { beforeEach, describe, expect, it } from 'vitest';
import type { AgentEventRecord } from '../store/store.js';
import { EventHub } from '../events/event-hub.js';
import { listAlerts } from './alert-api.js';
import type { AlertEngine } from './alert-engine.js';
import { engineFor, FakeFleet, makeNode, T0, TestClock, uuidOf } from './__tests__/alert-fixtures.js';

// The engine on hub events: health verdicts and kernel events (alert-engine.test.ts has the metric, offline and silence rules).

const MIN = 60_000;

let clock: TestClock;
let fleet: FakeFleet;
beforeEach(() => {
  clock = new TestClock();
  fleet = new FakeFleet();
});

const states = (engine: AlertEngine, state?: 'pending' | 'firing' | 'resolved') => listAlerts(engine, state ? { state } : {}).items;

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
