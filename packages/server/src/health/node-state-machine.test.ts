import { afterEach, describe, expect, it } from 'vitest';
import { FleetError, GPU_STATES } from '@gpufleet/protocol';
import { GPU_TRANSITIONS, NODE_TRANSITIONS, nextGpuState, nextNodeState, type GpuOp, type NodeOp, type NodeState } from './node-state-machine.js';
import { NodeRegistry } from '../services/node-registry.js';
import { healthKit, N1, N2, T0, uuid, type HealthKit } from './__tests__/health-kit.js';
import { NO_OTHER_REPLICAS } from '../replicas/session-owners.js';

const NODE_STATES = Object.keys(NODE_TRANSITIONS) as NodeState[];
const NODE_OPS: NodeOp[] = ['approve', 'cordon', 'uncordon', 'drain', 'drain-complete', 'mark-unhealthy', 'clear', 'decommission'];
const GPU_OPS: GpuOp[] = ['cordon', 'uncordon', 'mark-unhealthy', 'clear'];

function refused(fn: () => unknown): FleetError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(FleetError);
    expect((err as FleetError).code).toBe('failed_precondition');
    return err as FleetError;
  }
  throw new Error('the transition was allowed');
}

describe('transition tables', () => {
  const legal = NODE_STATES.flatMap((s) => Object.entries(NODE_TRANSITIONS[s]).map(([op, to]) => [s, op, to] as const));
  it.each(legal)('node %s --%s--> %s', (from, op, to) => {
    expect(nextNodeState(from, op as NodeOp, 'gpu-a')).toBe(to);
  });

  const illegal = NODE_STATES.flatMap((s) => NODE_OPS.filter((op) => NODE_TRANSITIONS[s][op] === undefined).map((op) => [s, op] as const));
  it.each(illegal)('node %s refuses %s', (from, op) => {
    const err = refused(() => nextNodeState(from, op, 'gpu-a'));
    expect(err.message).toMatch(new RegExp(`^cannot ${op} a ${from} node \\(gpu-a\\)`));
    expect(err.details).toEqual({ state: from, op });
  });

  it('refuses with the messages people need', () => {
    expect(refused(() => nextNodeState('DECOMMISSIONED', 'drain', 'gpu-a')).message).toBe('cannot drain a DECOMMISSIONED node (gpu-a)');
    expect(refused(() => nextNodeState('READY', 'uncordon', 'gpu-a')).message).toMatch(/not CORDONED/);
    expect(refused(() => nextNodeState('UNHEALTHY', 'uncordon', 'gpu-a')).message).toMatch(/gpufleet health clear/);
    expect(refused(() => nextNodeState('DRAINING', 'cordon', 'gpu-a')).message).toMatch(/uncordon cancels the drain/);
  });

  it('covers every state and keeps OFFLINE out of it (derived from liveness)', () => {
    expect(NODE_STATES.sort()).toEqual(['CORDONED', 'DECOMMISSIONED', 'DRAINED', 'DRAINING', 'PENDING', 'READY', 'UNHEALTHY']);
    expect(Object.keys(GPU_TRANSITIONS).sort()).toEqual([...GPU_STATES].sort());
  });

  const gpuLegal = GPU_STATES.flatMap((s) => Object.entries(GPU_TRANSITIONS[s]).map(([op, to]) => [s, op, to] as const));
  it.each(gpuLegal)('GPU %s --%s--> %s', (from, op, to) => {
    expect(nextGpuState(from, op as GpuOp, 'GPU-1')).toBe(to);
  });

  const gpuIllegal = GPU_STATES.flatMap((s) => GPU_OPS.filter((op) => GPU_TRANSITIONS[s][op] === undefined).map((op) => [s, op] as const));
  it.each(gpuIllegal)('GPU %s refuses %s', (from, op) => {
    expect(refused(() => nextGpuState(from, op, 'GPU-1')).message).toMatch(new RegExp(`^cannot ${op} a ${from} GPU \\(GPU-1\\)`));
  });
});

describe('NodeStateMachine', () => {
  let kit: HealthKit;
  afterEach(() => kit?.close());

  it('cordons and uncordons with who and why, stored with a timeline record, and tells the hub', async () => {
    kit = await healthKit();
    const states = kit.registry.states;
    expect(await states.node(N1, 'cordon', 'token:alice(t1)', 'fan noise')).toEqual({ from: 'READY', to: 'CORDONED', changed: true });
    const node = kit.registry.get(N1)!;
    expect(node).toMatchObject({ adminState: 'cordoned', cordonReason: 'fan noise' });
    expect(states.mark(N1, null)).toMatchObject({ state: 'CORDONED', actor: 'token:alice(t1)', reason: 'fan noise', since: T0 });
    expect((await kit.store.getNode(N1))?.adminState).toBe('cordoned');
    const [rec] = await kit.store.listHealthEvents({ type: 'transition' });
    expect(rec).toMatchObject({ nodeId: N1, gpuKey: null, op: 'cordon', from: 'READY', to: 'CORDONED', actor: 'token:alice(t1)', reason: 'fan noise' });
    expect(kit.hubEvents).toContainEqual({ type: 'node', nodeId: N1, change: 'status' });
    expect(states.acceptsWork(N1)).toBe(false);
    expect(states.acceptsWork(N2)).toBe(true);

    await states.node(N1, 'uncordon', 'token:bob(t2)', null);
    expect(kit.registry.get(N1)).toMatchObject({ adminState: 'active', cordonReason: null });
    expect(kit.views.view(kit.registry.get(N1)!).statusChange).toMatchObject({ by: 'token:bob(t2)', reason: null });
  });

  it('keeps OFFLINE derived: a cordoned node that goes quiet shows OFFLINE and comes back CORDONED', async () => {
    kit = await healthKit();
    kit.registry.seen(N1);
    expect(kit.registry.status(kit.registry.get(N1)!)).toBe('READY');
    await kit.registry.states.node(N1, 'cordon', 'op', 'x');
    kit.clock.advance(60_000);
    kit.registry.sweep(() => false);
    expect(kit.registry.status(kit.registry.get(N1)!)).toBe('OFFLINE');
    expect(kit.registry.get(N1)!.adminState).toBe('cordoned');
    kit.registry.seen(N1);
    expect(kit.registry.status(kit.registry.get(N1)!)).toBe('CORDONED');
  });

  it('drains: DRAINING while work runs, DRAINED when it ends; the drainer stays the owner', async () => {
    let running = 2;
    kit = await healthKit({ runningWork: () => running });
    const states = kit.registry.states;
    expect(await kit.drains.drain(N1, 'token:alice(t1)', 'kernel upgrade', { timeoutMs: 60_000 })).toMatchObject({ from: 'READY', to: 'DRAINING' });
    expect(kit.registry.status(kit.registry.get(N1)!)).toBe('OFFLINE');
    kit.registry.seen(N1);
    expect(kit.registry.status(kit.registry.get(N1)!)).toBe('DRAINING');
    expect(states.mark(N1, null)?.deadline).toBe(T0 + 60_000);
    kit.clock.t = T0 + 1000;
    expect(await kit.drains.tick()).toEqual([]);
    running = 0;
    kit.clock.t = T0 + 2000;
    expect(await kit.drains.tick()).toEqual([N1]);
    expect(kit.registry.status(kit.registry.get(N1)!)).toBe('DRAINED');
    expect(states.mark(N1, null)).toMatchObject({ state: 'DRAINED', actor: 'token:alice(t1)', reason: 'kernel upgrade' });
    const ops = (await kit.store.listHealthEvents({ nodeId: N1 })).map((e) => `${e.op}:${e.to}:${e.actor}`);
    expect(ops).toEqual(['drain-complete:DRAINED:system:drain', 'drain:DRAINING:token:alice(t1)']);
    // Drained already: refused; uncordon brings it back.
    await expect(states.node(N1, 'drain', 'x', null)).rejects.toThrow(/cannot drain a DRAINED node/);
    await states.node(N1, 'uncordon', 'x', null);
    expect(kit.registry.get(N1)!.adminState).toBe('active');
  });

  it('ends a drain at its deadline while work still runs, and at once when nothing runs', async () => {
    let running = 1;
    kit = await healthKit({ runningWork: () => running });
    await kit.drains.drain(N1, 'a', null, { timeoutMs: 30_000 });
    kit.clock.t = T0 + 29_999;
    expect(await kit.drains.tick()).toEqual([]);
    kit.clock.t = T0 + 30_000;
    expect(await kit.drains.tick()).toEqual([N1]);
    const [last] = await kit.store.listHealthEvents({ nodeId: N1 });
    expect(last!.reason).toMatch(/drain timeout reached with 1 still running/);
    running = 0;
    expect(await kit.drains.drain(N2, 'a', null)).toMatchObject({ to: 'DRAINED' });
  });

  it('uncordon cancels a drain; a drain does not finish on a node moved on', async () => {
    kit = await healthKit({ runningWork: () => 1 });
    await kit.drains.drain(N1, 'a', null, { timeoutMs: 1000 });
    await kit.registry.states.node(N1, 'uncordon', 'b', 'changed my mind');
    kit.clock.t = T0 + 5000;
    expect(await kit.drains.tick()).toEqual([]);
    expect(kit.registry.get(N1)!.adminState).toBe('active');
  });

  it('cordons one GPU while the node and its other GPUs stay usable', async () => {
    kit = await healthKit();
    const states = kit.registry.states;
    await states.gpu(N1, uuid(1), 'cordon', 'token:alice(t1)', 'flaky fan');
    expect(states.gpuState(N1, uuid(1))).toBe('CORDONED');
    expect(states.acceptsWork(N1)).toBe(true);
    expect(states.acceptsWork(N1, uuid(1))).toBe(false);
    expect(states.acceptsWork(N1, uuid(0))).toBe(true);
    const view = kit.views.view(kit.registry.get(N1)!);
    expect(view.gpus.map((g) => g.state)).toEqual(['READY', 'CORDONED', 'READY', 'READY']);
    expect(view.gpus[1]!.stateChange).toMatchObject({ by: 'token:alice(t1)', reason: 'flaky fan' });
    await states.gpu(N1, uuid(1), 'mark-unhealthy', 'health:xid', 'XID 79');
    await expect(states.gpu(N1, uuid(1), 'uncordon', 'a', null)).rejects.toThrow(/cannot uncordon a UNHEALTHY GPU.*health clear/);
    await states.gpu(N1, uuid(1), 'clear', 'a', 'replaced');
    expect(states.gpuState(N1, uuid(1))).toBe('READY');
    expect(states.mark(N1, uuid(1))).toBeUndefined();
    expect(await kit.store.listStateMarks()).toEqual([]);
    await expect(states.gpu(N1, uuid(1), 'uncordon', 'a', null)).rejects.toThrow(/cannot uncordon a READY GPU/);
    await expect(states.gpu('did:key:z6MkNobody', uuid(1), 'cordon', 'a', null)).rejects.toThrow(/no node/);
  });

  it('survives a restart: states and marks are read back', async () => {
    kit = await healthKit();
    await kit.registry.states.gpu(N1, uuid(2), 'cordon', 'a', 'x');
    await kit.registry.states.node(N2, 'mark-unhealthy', 'health:sxid-fatal', 'SXid 12028');
    const again = new NodeRegistry({
      remoteSessions: NO_OTHER_REPLICAS,
      store: kit.store,
      clock: kit.clock,
      hub: kit.hub,
      offlineAfterMs: 15_000,
      latestMetrics: () => null,
    });
    await again.load();
    expect(again.states.gpuState(N1, uuid(2))).toBe('CORDONED');
    expect(again.get(N2)!.adminState).toBe('unhealthy');
    expect(again.states.mark(N2, null)).toMatchObject({ actor: 'health:sxid-fatal', reason: 'SXid 12028' });
  });

  it('decommissions through the table; nothing works on a DECOMMISSIONED node afterwards', async () => {
    kit = await healthKit();
    await kit.registry.remove(N1, 'token:admin(t0)', 'retired');
    expect(kit.registry.status(kit.registry.get(N1)!)).toBe('DECOMMISSIONED');
    for (const op of ['cordon', 'drain', 'uncordon', 'mark-unhealthy', 'clear'] as const) {
      await expect(kit.registry.states.node(N1, op, 'a', null)).rejects.toThrow(`cannot ${op} a DECOMMISSIONED node (gpu-1)`);
    }
    // Removing twice stays harmless.
    await kit.registry.remove(N1);
  });

  it('runs operations one at a time: two racing cordons both see the latest state', async () => {
    kit = await healthKit();
    const [a, b] = await Promise.all([kit.registry.states.node(N1, 'cordon', 'a', '1'), kit.registry.states.node(N1, 'uncordon', 'b', '2')]);
    expect(a).toMatchObject({ from: 'READY', to: 'CORDONED' });
    expect(b).toMatchObject({ from: 'CORDONED', to: 'READY' });
  });
});
