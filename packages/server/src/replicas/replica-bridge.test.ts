import type { MetricsBody } from '@gpufleet/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Bus } from '../bus/bus.js';
import { InProcessBroker, InProcessBus } from '../bus/in-process-bus.js';
import { subjects } from '../bus/subjects.js';
import { EventHub, type HubEvent } from '../events/event-hub.js';
import type { AgentEventRecord } from '../store/store.js';
import { eventually, recordingLog } from './__tests__/replica-test-kit.js';
import { encodeSampleItem, packBatches } from './metric-batch.js';
import { ReplicaBridge } from './replica-bridge.js';

const NODE = 'did:key:z6MkBridged';

const metricsBody = (ts: number) => ({ ts, host: {}, gpus: [] }) as unknown as MetricsBody;

const agentEvent = (kind: string, nodeId = NODE): AgentEventRecord => ({
  nodeId,
  seq: 1,
  id: `ev-${kind}`,
  ts: 1_700_000_000_000,
  kind,
  gpuUuid: null,
  pciBusId: null,
  message: kind,
  data: {},
  receivedAt: 1_700_000_000_001,
});

/** One replica's side of the bridge: its bus, hub, and fakes that record what the bridge did. */
interface Side {
  bus: Bus;
  hub: EventHub;
  bridge: ReplicaBridge;
  heard: HubEvent[];
  reloads: string[];
  adopted: string[];
  ingested: Array<[string, MetricsBody]>;
  agentEvents: AgentEventRecord[];
  ready: string[];
  /** What the lease-held report service (the workload scheduler) heard. */
  scheduled: AgentEventRecord[];
  scheduledReady: string[];
  trustRefreshes: number;
  /** What the bridge told the session-owner map: [node, replica, instance]. */
  holders: Array<[string, string, string]>;
  latest: Map<string, MetricsBody>;
  others: { alive: boolean };
  reloadFails: boolean;
  log: ReturnType<typeof recordingLog>;
}

describe('ReplicaBridge', () => {
  let a: Side;
  let b: Side;

  async function side(broker: InProcessBroker, instance: string): Promise<Side> {
    const bus = new InProcessBus({ broker });
    const hub = new EventHub();
    const s = {
      bus,
      hub,
      heard: [],
      reloads: [],
      adopted: [],
      ingested: [],
      agentEvents: [],
      ready: [],
      scheduled: [],
      scheduledReady: [],
      trustRefreshes: 0,
      holders: [],
      latest: new Map(),
      others: { alive: true },
      reloadFails: false,
      log: recordingLog(),
    } as unknown as Side;
    hub.subscribe((e) => s.heard.push(e));
    s.bridge = new ReplicaBridge({
      bus,
      replica: instance.replace('instance-', 'cp-'),
      owners: { noteHolder: (node, replica, inst) => void s.holders.push([node, replica, inst]) },
      instance,
      hub,
      metrics: { latest: (id) => s.latest.get(id) ?? null, noteRemote: (id, body) => s.ingested.push([id, body]) },
      registry: {
        reload: async (id) => {
          s.reloads.push(id);
          if (s.reloadFails) throw new Error('store away');
        },
      },
      health: { adoptNode: async (id) => void s.adopted.push(id) },
      runs: { onAgentEvent: (r) => s.agentEvents.push(r), onSessionReady: (id) => s.ready.push(id) },
      trust: { refresh: async () => (s.trustRefreshes++, true) },
      reports: [
        {
          kinds: ['alloc-state'],
          onHostReport: async (r) => void s.scheduled.push(r),
          onSessionReady: (id) => s.scheduledReady.push(id),
        },
      ],
      othersAlive: () => s.others.alive,
      metricFlushMs: 10,
      log: s.log,
    });
    await s.bridge.start();
    return s;
  }

  /** A node event from a's hub that b must reload: once b has, whatever a sent before it got there. */
  async function sentinel(from: Side, to: Side, id = 'sentinel'): Promise<void> {
    from.hub.publish({ type: 'node', nodeId: id, change: 'labels' });
    await eventually(() => to.reloads.includes(id));
  }

  beforeEach(async () => {
    const broker = new InProcessBroker();
    a = await side(broker, 'instance-a');
    b = await side(broker, 'instance-b');
  });

  afterEach(async () => {
    a.bridge.stop();
    b.bridge.stop();
    await a.bus.close();
    await b.bus.close();
  });

  it('passes a node change on: the other replica reloads the node and tells its hub, and nothing comes back', async () => {
    a.hub.publish({ type: 'node', nodeId: NODE, change: 'status' });
    await eventually(() => b.heard.some((e) => e.type === 'node' && e.nodeId === NODE));
    expect(b.reloads).toEqual([NODE]);
    expect(b.heard).toEqual([{ type: 'node', nodeId: NODE, change: 'status' }]);
    // b's hub event came from the bus: b must not send it back. A change b makes itself does go to a.
    await sentinel(b, a);
    expect(a.reloads).toEqual(['sentinel']);
    expect(b.reloads).toEqual([NODE]); // its own sentinel is not reloaded by b
  });

  it('keeps local node events (a session moving) on their replica', async () => {
    a.hub.publish({ type: 'node', nodeId: NODE, change: 'status', local: true });
    await sentinel(a, b);
    expect(b.reloads).toEqual(['sentinel']);
  });

  it('logs a reload that failed and tells its hub nothing', async () => {
    b.reloadFails = true;
    a.hub.publish({ type: 'node', nodeId: NODE, change: 'inventory' });
    await eventually(() => b.log.messages().includes('could not read a node another replica changed'));
    expect(b.heard).toEqual([]);
  });

  it('passes the latest samples on only while another replica is alive, and only with a body', async () => {
    a.latest.set(NODE, metricsBody(1_000));
    a.others.alive = false;
    a.hub.publish({ type: 'metrics', nodeId: NODE, ts: 1_000 });
    await eventually(() => a.bridge.relayed.samples === 0 && b.heard.length === 0);
    await new Promise((r) => setTimeout(r, 30)); // a flush or two, alone: nothing encoded
    expect(a.bridge.relayed).toEqual({ samples: 0, batches: 0, oversized: 0 });
    a.others.alive = true;
    a.hub.publish({ type: 'metrics', nodeId: 'no-body', ts: 1_000 }); // latest() has nothing for it
    a.latest.set(NODE, metricsBody(2_000));
    a.hub.publish({ type: 'metrics', nodeId: NODE, ts: 2_000 });
    await eventually(() => b.ingested.length > 0);
    await sentinel(a, b);
    expect(b.ingested).toEqual([[NODE, metricsBody(2_000)]]);
    expect(b.heard.filter((e) => e.type === 'metrics')).toEqual([{ type: 'metrics', nodeId: NODE, ts: 2_000 }]);
    // b does not echo the sample back.
    await sentinel(b, a);
    expect(a.ingested).toEqual([]);
  });

  it('sends many nodes in one batch, each once with its newest sample', async () => {
    // Sampled twice before a flush: one item, the newer sample.
    for (let i = 0; i < 300; i++) {
      const id = `did:key:z6MkNode${i}`;
      a.latest.set(id, metricsBody(1_000));
      a.hub.publish({ type: 'metrics', nodeId: id, ts: 1_000 });
      a.latest.set(id, metricsBody(1_001));
      a.hub.publish({ type: 'metrics', nodeId: id, ts: 1_001 });
    }
    await eventually(() => b.ingested.length >= 300);
    await sentinel(a, b);
    expect(b.ingested).toHaveLength(300);
    expect(new Set(b.ingested.map(([id]) => id)).size).toBe(300);
    expect(b.ingested.every(([, body]) => body.ts === 1_001)).toBe(true);
    // 300 tiny samples fit one message (a flush may fall between the publishes: at most two).
    expect(a.bridge.relayed.samples).toBe(300);
    expect(a.bridge.relayed.batches).toBeLessThanOrEqual(2);
  });

  it('drops a sample too large for any message, counts it, and still sends the others', async () => {
    const huge = { ts: 5_000, host: { note: 'x'.repeat(600 * 1024) }, gpus: [] } as unknown as MetricsBody;
    a.latest.set('did:key:z6MkHuge', huge);
    a.latest.set(NODE, metricsBody(5_000));
    a.hub.publish({ type: 'metrics', nodeId: 'did:key:z6MkHuge', ts: 5_000 });
    a.hub.publish({ type: 'metrics', nodeId: NODE, ts: 5_000 });
    await eventually(() => b.ingested.length === 1);
    expect(b.ingested).toEqual([[NODE, metricsBody(5_000)]]);
    expect(a.bridge.relayed.oversized).toBe(1);
  });

  it('keeps the good items of a batch and refuses the bad ones', async () => {
    const good = encodeSampleItem(NODE, metricsBody(7_000));
    const lying = encodeSampleItem('did:key:z6MkLying', metricsBody(7_000));
    // Same framing, but the body says another time than its header: refused.
    const body = new TextEncoder().encode(JSON.stringify(metricsBody(6_000)));
    lying.set(body, lying.length - body.length);
    const { batches } = packBatches('instance-x', [lying, good], 64 * 1024);
    a.bus.publish(subjects.metricBatches, batches[0]!);
    await eventually(() => b.ingested.length === 1);
    expect(b.ingested).toEqual([[NODE, metricsBody(7_000)]]);
    expect(b.bridge.refusedSamples).toEqual({ batches: 0, samples: 1 });
  });

  it('passes health verdicts on while another replica is alive: the other adopts the node first', async () => {
    const verdict = (nodeId: string): HubEvent => ({
      type: 'health',
      nodeId,
      gpuKey: null,
      verdict: 'unhealthy',
      previous: 'healthy',
      rule: 'xid-79',
      cause: 'fell off the bus',
    });
    a.others.alive = false;
    a.hub.publish(verdict('alone'));
    a.others.alive = true;
    a.hub.publish(verdict(NODE));
    await eventually(() => b.heard.some((e) => e.type === 'health'));
    await sentinel(a, b);
    expect(b.adopted).toEqual([NODE]);
    expect(b.heard.filter((e) => e.type === 'health')).toEqual([verdict(NODE)]);
    await sentinel(b, a);
    expect(a.adopted).toEqual([]);
  });

  it('passes stored agent events on, except run reports, with the node of the subject', async () => {
    a.hub.publish({ type: 'agent-event', nodeId: NODE, event: agentEvent('run-output') }); // runReport()'s business
    a.hub.publish({ type: 'agent-event', nodeId: NODE, event: agentEvent('xid') });
    a.bus.publish(subjects.nodeAgentEvent('node-two'), { origin: 'instance-a', record: agentEvent('driver', 'someone-else') });
    await sentinel(a, b);
    expect(b.heard.filter((e) => e.type === 'agent-event')).toEqual([
      { type: 'agent-event', nodeId: NODE, event: agentEvent('xid') },
      { type: 'agent-event', nodeId: 'node-two', event: agentEvent('driver', 'node-two') },
    ]);
    await sentinel(b, a);
    expect(a.heard.filter((e) => e.type === 'agent-event')).toHaveLength(2); // its own two, nothing back
  });

  it('passes run reports on, run kinds only, with the node of the subject', async () => {
    a.bridge.runReport(agentEvent('xid'));
    a.bridge.runReport(agentEvent('run-output'));
    await eventually(() => b.agentEvents.length > 0);
    // The subject names the node: a record claiming another node is corrected.
    a.bus.publish(subjects.runReport('node-two'), { origin: 'instance-a', record: agentEvent('run-result', 'someone-else') });
    await eventually(() => b.agentEvents.length === 2);
    expect(b.agentEvents.map((r) => [r.kind, r.nodeId])).toEqual([
      ['run-output', NODE],
      ['run-result', 'node-two'],
    ]);
    expect(b.agentEvents[0]).toEqual(agentEvent('run-output'));
    await sentinel(b, a);
    expect(a.agentEvents).toEqual([]);
  });

  it("hands other replicas' reports of the kinds a lease-held service names to it, and sessions becoming ready", async () => {
    a.hub.publish({ type: 'agent-event', nodeId: NODE, event: agentEvent('xid') });
    a.hub.publish({ type: 'agent-event', nodeId: NODE, event: agentEvent('alloc-state') });
    a.bridge.onSessionReady(NODE);
    await eventually(() => b.scheduled.length === 1 && b.scheduledReady.length === 1);
    await sentinel(a, b);
    expect(b.scheduled.map((r) => [r.kind, r.nodeId])).toEqual([['alloc-state', NODE]]);
    expect(b.scheduledReady).toEqual([NODE]);
    await sentinel(b, a);
    expect(a.scheduled).toEqual([]);
    expect(a.scheduledReady).toEqual([]);
  });

  it('tells the other replicas when trust changed here: they read it again, and nothing comes back', async () => {
    a.hub.publish({ type: 'trust' });
    await eventually(() => b.trustRefreshes === 1);
    await sentinel(a, b);
    await sentinel(b, a);
    expect(b.trustRefreshes).toBe(1);
    expect(a.trustRefreshes).toBe(0);
  });

  it('tells the other replica when a session became ready here', async () => {
    a.bridge.onSessionReady(NODE);
    await eventually(() => b.ready.length === 1);
    expect(b.ready).toEqual([NODE]);
    // Its owner map learns the new holder first: frames sent in answer must go there, not to a dead one.
    expect(b.holders).toEqual([[NODE, 'cp-a', 'instance-a']]);
    await sentinel(b, a);
    expect(a.ready).toEqual([]);
  });

  it('ignores garbage on its subjects', async () => {
    const garbage: Array<[string, object]> = [
      [subjects.nodeEvent(NODE), { change: 5 }],
      [subjects.nodeEvent(NODE), {}],
      [subjects.nodeEvent(NODE), ['status']],
      [subjects.nodeEvent(NODE), new TextEncoder().encode('not json')],
      ['node.=ZZ.event', { change: 'status' }], // not an id token
      [subjects.metricBatches, { body: { ts: 'late' } }],
      [subjects.metricBatches, new Uint8Array([1, 0, 0])],
      [subjects.metricBatches, new Uint8Array([9, 0, 1, 120, 0, 0, 0, 0])], // another version
      [subjects.runReport(NODE), { record: { kind: 7 } }],
      [subjects.runReport(NODE), { record: 'run-output' }],
      [subjects.nodeSession(NODE), { ready: 'yes' }],
      [subjects.nodeSession(NODE), { ready: false }],
      [subjects.nodeSession(NODE), new Uint8Array([0xff, 0x00])],
      [subjects.nodeHealth(NODE), { event: { type: 'node', verdict: 'unhealthy' } }],
      [subjects.nodeHealth(NODE), { event: { type: 'health' } }],
      [subjects.nodeAgentEvent(NODE), { record: { kind: null } }],
    ];
    for (const [subject, data] of garbage) a.bus.publish(subject, data);
    await sentinel(a, b);
    expect(b.reloads).toEqual(['sentinel']);
    expect(b.ingested).toEqual([]);
    expect(b.bridge.refusedSamples.batches).toBe(3);
    expect(b.agentEvents).toEqual([]);
    expect(b.ready).toEqual([]);
    expect(b.adopted).toEqual([]);
    expect(b.heard).toEqual([{ type: 'node', nodeId: 'sentinel', change: 'labels' }]);
  });

  it('stop() leaves the hub and the bus', async () => {
    const listeners = b.hub.size;
    b.bridge.stop();
    expect(b.hub.size).toBe(listeners - 1);
    b.hub.publish({ type: 'node', nodeId: NODE, change: 'status' });
    a.hub.publish({ type: 'node', nodeId: NODE, change: 'status' });
    a.bridge.onSessionReady(NODE);
    // A listener of its own on b's bus: once it heard a's session message, b's bridge would have.
    const heard: string[] = [];
    await b.bus.subscribe(subjects.allNodeSessions, (m) => heard.push(m.subject));
    a.bridge.onSessionReady(NODE);
    await eventually(() => heard.length === 1);
    expect(b.reloads).toEqual([]);
    expect(b.ready).toEqual([]);
    expect(a.reloads).toEqual([]);
  });
});
