import { afterEach, describe, expect, it } from 'vitest';
import { EventHub } from '../events/event-hub.js';
import type { AgentEventRecord } from '../store/store.js';
import type { HealthEngine } from './health-engine.js';
import { createHealth } from './index.js';
import { healthKit, N1, T0, uuid, xid, type HealthKit } from './__tests__/health-kit.js';

/**
 * A node's session moves to another replica (or the server restarts): the engine there starts
 * with empty count windows and the findings it read at its own start. adoptNode rebuilds both
 * from the store, so the count goes on (3 XID 13 in 10 minutes stay 3) and a verdict made
 * elsewhere is known here.
 */
const MIN = 60_000;
let kit: HealthKit;
afterEach(() => kit.close());

/** A second engine over the same store and registry: the replica the node moves to. */
function otherReplica(k: HealthKit): Promise<HealthEngine> {
  return createHealth({
    config: { healthPolicy: null, offlineGraceMs: 600_000 },
    store: k.store,
    registry: k.registry,
    clock: k.clock,
    hub: new EventHub(),
    onAlert: () => {},
  });
}

async function feed(k: HealthKit, engine: HealthEngine, partial: ReturnType<typeof xid>): Promise<void> {
  k.seq++;
  const record: AgentEventRecord = {
    nodeId: N1,
    seq: k.seq,
    id: `ev-${k.seq}`,
    ts: k.clock.now(),
    gpuUuid: null,
    pciBusId: null,
    message: '',
    data: {},
    receivedAt: k.clock.now(),
    ...partial,
  };
  await k.store.insertAgentEvents([record]);
  engine.onAgentEvent(record);
  await engine.flush();
}

describe('health state across a replica move', () => {
  it('goes on counting from the stored events: two XIDs before the move and one after make three', async () => {
    kit = await healthKit();
    await kit.event(xid(13, 0, { ts: T0 }));
    kit.clock.advance(4 * MIN);
    await kit.event(xid(13, 0, { ts: T0 + 4 * MIN }));
    const moved = await otherReplica(kit);
    await moved.adoptNode(N1);
    kit.clock.advance(4 * MIN);
    await feed(kit, moved, xid(13, 0, { ts: T0 + 8 * MIN }));
    expect(moved.verdictOf(N1, uuid(0))).toBe('degraded');
    expect(moved.findings(N1)[0]!.cause).toMatch(/^3 matches within 10m/);
  });

  it('counts nothing twice when the moved node replays an event the store already has', async () => {
    kit = await healthKit();
    await kit.event(xid(13, 0, { ts: T0 }));
    const moved = await otherReplica(kit);
    await moved.adoptNode(N1);
    await moved.adoptNode(N1);
    // The same outbox item again (same seq and ts), then one new: two distinct, not three.
    moved.onAgentEvent({
      nodeId: N1,
      seq: 1,
      id: 'ev-1',
      ts: T0,
      gpuUuid: uuid(0),
      pciBusId: null,
      message: '',
      data: { code: 13 },
      receivedAt: T0,
      kind: 'xid',
    } as AgentEventRecord);
    await feed(kit, moved, xid(13, 0, { ts: T0 + MIN }));
    expect(moved.verdictOf(N1, uuid(0))).toBe('healthy');
  });

  it('learns a verdict another replica made after it started, and forgets one another replica ended', async () => {
    kit = await healthKit();
    const moved = await otherReplica(kit);
    await kit.event(xid(79, 2));
    expect(kit.engine.verdictOf(N1, uuid(2))).toBe('unhealthy');
    expect(moved.verdictOf(N1, uuid(2))).toBe('healthy');
    kit.clock.advance(2000);
    await moved.adoptNode(N1);
    expect(moved.verdictOf(N1, uuid(2))).toBe('unhealthy');
    // An operator clears it on the first replica; the second learns that too.
    await kit.engine.clear(N1, uuid(2), 'admin', 'reset by hand');
    await kit.engine.flush();
    kit.clock.advance(2000);
    await moved.adoptNode(N1);
    expect(moved.verdictOf(N1, uuid(2))).toBe('healthy');
  });
});
