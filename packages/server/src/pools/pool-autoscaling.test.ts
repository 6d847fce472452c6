import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PoolHarness, simPools } from './__tests__/pool-harness.js';
import type { PoolManager } from './pool-manager.js';

let h: PoolHarness;
let m: PoolManager;
const MIN = 60_000;

beforeEach(async () => {
  h = await PoolHarness.open();
  m = h.manager();
  await m.load();
});
afterEach(async () => {
  await m.stop();
  await h.close();
});

async function pass(times = 1): Promise<void> {
  await m.idle();
  for (let i = 0; i < times; i++) await m.reconcileAll();
}

const alive = async () => (await h.store.listPoolMembers({ pool: 'train' })).map((x) => x.nodeId!);

describe('autoscaling', () => {
  it('scales down only idle nodes, oldest first, after idle_for, never below min', async () => {
    const auto = 'autoscaling: { scale_down_at: 20, scale_up_at: 90, idle_for: 30m, max_step: 1 }\ncooldown: 0s';
    // Three nodes provisioned a minute apart: a (oldest), b, c.
    for (const min of [1, 2, 3]) {
      await m.apply(simPools(`min_nodes: ${min}\nmax_nodes: 4\n${auto}`), '/srv', 'token:admin');
      await pass(2);
      h.clock.advance(MIN);
    }
    const [a, b, c] = await alive();
    expect([a, b, c].every((id) => h.registry.status(h.registry.get(id!)!) === 'READY')).toBe(true);
    await m.apply(simPools(`min_nodes: 1\nmax_nodes: 4\n${auto}`), '/srv', 'token:admin');
    h.work.set(a!, 1);
    await pass(1);
    // Idle, but not for idle_for yet.
    h.clock.advance(20 * MIN);
    await pass(1);
    expect(h.cloud.terminateCalls).toEqual([]);
    h.clock.advance(10 * MIN);
    await pass(1);
    // b is the oldest idle node (a is busy).
    expect(await alive()).toEqual([a, c]);
    expect(h.registry.get(b!)!.adminState).toBe('decommissioned');
    const down = (await m.events('train', {})).find((e) => e.kind === 'scale-down');
    expect(down?.message).toBe('scale down 1: 2 nodes idle for 30m, 0% of 24 GPUs allocated (scale_down_at 20%)');
    await pass(1);
    expect(await alive()).toEqual([a]);
    // At min: the busy node stays, nothing more goes.
    h.clock.advance(60 * MIN);
    await pass(2);
    expect(await alive()).toEqual([a]);
    expect(await m.get('train')).toMatchObject({ desired: 1, ready: 1 });
    expect(h.cloud.terminateCalls).toHaveLength(2);
  });

  it('grows for pending work a new node would take, then waits out the cooldown', async () => {
    h.pending = [{ job: 'llm', group: 'train', count: 2, gpusPerSlot: 8, gpuModels: ['H100'], gpuMemoryMinBytes: 0, constraints: ['pool=train'], since: 0 }];
    await m.apply(simPools('min_nodes: 1\nmax_nodes: 10\ncooldown: 10m\nautoscaling: { pending_allocations: true, max_step: 10 }'), '/srv', 'token:admin');
    await pass(3);
    let ups = (await m.events('train', {})).filter((e) => e.kind === 'scale-up');
    expect(ups.map((e) => e.message)).toEqual(['scale up 2: 2 allocations pending, no free H100']);
    expect(await m.get('train')).toMatchObject({ desired: 3, desiredSource: 'autoscale', ready: 3 });
    // Still pending (the job waits for its placement), but within the cooldown: no second step.
    h.clock.advance(9 * MIN);
    await pass(2);
    expect((await m.get('train')).desired).toBe(3);
    const held = (await m.events('train', {})).filter((e) => e.kind === 'held');
    expect(held.map((e) => e.message)).toEqual(['2 allocations pending; the next scale up waits for the cooldown (10m left)']);
    h.clock.advance(MIN);
    await pass(1);
    ups = (await m.events('train', {})).filter((e) => e.kind === 'scale-up');
    expect(ups).toHaveLength(2);
    expect((await m.get('train')).desired).toBe(5);
  });

  it('pending work no node of the pool would take grows nothing', async () => {
    h.pending = [{ job: 'llm', group: 'train', count: 4, gpusPerSlot: 1, gpuModels: ['MI300'], gpuMemoryMinBytes: 0, constraints: [], since: 0 }];
    await m.apply(simPools('min_nodes: 1\nmax_nodes: 10\nautoscaling: { pending_allocations: true }'), '/srv', 'token:admin');
    await pass(4);
    expect((await m.get('train')).desired).toBe(1);
    expect(h.cloud.provisionCalls).toHaveLength(1);
  });

  it('grows by one when the allocated share reaches scale_up_at', async () => {
    await m.apply(simPools('min_nodes: 2\nmax_nodes: 4\nautoscaling: { scale_up_at: 75, scale_down_at: null }'), '/srv', 'token:admin');
    await pass(2);
    const [a, b] = await alive();
    h.allocated.set(a!, 8);
    h.allocated.set(b!, 3);
    await pass(1);
    expect((await m.get('train')).desired).toBe(2);
    h.allocated.set(b!, 6);
    await pass(1);
    expect((await m.events('train', {})).find((e) => e.kind === 'scale-up')?.message).toBe('scale up 1: 88% of 16 GPUs allocated (scale_up_at 75%)');
    expect((await m.get('train')).desired).toBe(3);
  });

  it('a scale-down waits while max_unavailable of the pool is unavailable already', async () => {
    await m.apply(simPools('min_nodes: 1\nmax_nodes: 3\nhealth: { max_unavailable: 1 }'), '/srv', 'token:admin');
    await m.scale('train', 3, 'load test', 'token:admin');
    await pass(2);
    const [a, , c] = await alive();
    await h.registry.states.node(c!, 'cordon', 'token:admin', 'bios update');
    await m.scale('train', 2, 'load test over', 'token:admin');
    await pass(2);
    expect(h.cloud.terminateCalls).toEqual([]);
    await h.registry.states.node(c!, 'uncordon', 'token:admin', 'done');
    await pass(1);
    expect(h.cloud.terminateCalls).toHaveLength(1);
    expect(h.registry.get(a!)!.adminState).toBe('decommissioned');
    expect((await m.get('train')).ready).toBe(2);
  });
});
