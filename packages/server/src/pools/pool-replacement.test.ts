import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PoolHarness, simPools } from './__tests__/pool-harness.js';
import type { PoolManager } from './pool-manager.js';

let h: PoolHarness;
let m: PoolManager;

/** One pass; checks after it that the pool never had fewer live members than min_nodes. */
async function pass(min: number): Promise<void> {
  await m.idle();
  await m.reconcileAll();
  const alive = await h.store.listPoolMembers({ pool: 'train' });
  expect(alive.filter((x) => x.state !== 'terminated').length).toBeGreaterThanOrEqual(min);
}

async function upTo(n: number, min: number): Promise<string[]> {
  await pass(0);
  await pass(min);
  const members = await h.store.listPoolMembers({ pool: 'train' });
  expect(members.map((x) => x.state)).toEqual(Array(n).fill('active'));
  return members.map((x) => x.nodeId!);
}

const status = (id: string) => h.registry.status(h.registry.get(id)!);

describe.each(['sqlite', 'postgres'] as const)('on the %s store', (kind) => {
  beforeEach(async () => {
    h = await PoolHarness.open(kind);
    m = h.manager();
    await m.load();
  });
  afterEach(async () => {
    await m.stop();
    await h.close();
  });

  describe('health-based replacement, provision first', () => {
    it('cordon -> provision -> new READY -> drain -> DRAINED -> terminate, never below min', async () => {
      await m.apply(
        simPools('min_nodes: 2\nmax_nodes: 3\nhealth: { replace_after: 2m, max_parallel_replacements: 1, max_unavailable: 1 }'),
        '/srv',
        'token:admin',
      );
      const [old, other] = await upTo(2, 2);
      const oldInstance = (await h.store.listPoolMembers({ pool: 'train' })).find((x) => x.nodeId === old)!.instanceId;
      h.work.set(old!, 2);
      h.verdicts.set(old!, 'unhealthy');
      h.cloud.joinMode = 'manual';

      // Unhealthy, but not yet for replace_after.
      await pass(2);
      expect(await h.store.listPoolOperations({ pool: 'train', active: true })).toEqual([]);
      h.clock.advance(2 * 60_000);

      // 1. cordoned, 2. a replacement provisioned; nothing drained or terminated yet.
      await pass(2);
      expect(status(old!)).toBe('CORDONED');
      expect(h.registry.get(old!)!.cordonReason).toMatch(/^being replaced by pool train \(op-[0-9a-f]+\): .* unhealthy for 2m$/);
      expect(h.cloud.provisionCalls).toHaveLength(3);
      expect(h.cloud.terminateCalls).toEqual([]);
      const [op] = await h.store.listPoolOperations({ pool: 'train', active: true });
      expect(op).toMatchObject({ kind: 'replace', stage: 'joining', oldNodeId: old });

      // Waiting for the replacement changes nothing.
      await pass(2);
      expect(status(old!)).toBe('CORDONED');
      expect(h.cloud.terminateCalls).toEqual([]);

      // 3. the replacement is READY, 4. the old node drains (its work still runs: not terminated).
      const newNode = await h.cloud.join(op!.instanceId!);
      await pass(2);
      expect(status(newNode)).toBe('READY');
      expect(status(old!)).toBe('DRAINING');
      expect(h.cloud.terminateCalls).toEqual([]);
      expect((await h.store.getPoolOperation(op!.id))!.stage).toBe('draining');

      // 5. its work moved away: DRAINED, 6. terminated and removed from the fleet.
      h.work.set(old!, 0);
      await h.drains.check(old!);
      expect(status(old!)).toBe('DRAINED');
      await pass(2);
      expect(h.cloud.terminateCalls).toEqual([oldInstance]);
      expect(h.registry.get(old!)!.adminState).toBe('decommissioned');
      expect(status(other!)).toBe('READY');
      expect(await h.store.getPoolOperation(op!.id)).toMatchObject({ stage: 'done', newNodeId: newNode });
      const steps = (await h.store.listPoolEvents({ pool: 'train', limit: 1000 })).filter((e) => e.operationId === op!.id).map((e) => e.kind);
      expect(steps).toEqual(['replace-started', 'provision-started', 'provisioned', 'joined', 'draining', 'terminated', 'replace-done']);
      expect((await m.get('train')).ready).toBe(2);
      const audit = (await h.store.listAudit({ limit: 100 })).filter((a) => a.actor === 'pool:train').sort((a, b) => a.id - b.id);
      expect(audit.map((a) => [a.action, a.target])).toEqual([
        ['pool.provision', 'i-0001'],
        ['pool.provision', 'i-0002'],
        ['pool.provision', op!.instanceId],
        ['pool.terminate', oldInstance],
      ]);
    });

    it('a replacement no zone can host fails: the old node stays cordoned and is not terminated', async () => {
      await m.apply(
        simPools('min_nodes: 1\nmax_nodes: 2\nzones: [zone-a, zone-b]\nhealth: { replace_after: 0s, max_parallel_replacements: 1 }'),
        '/srv',
        'token:admin',
      );
      const [old] = await upTo(1, 1);
      h.cloud.zonesFull = new Set(['zone-a', 'zone-b']);
      h.verdicts.set(old!, 'unhealthy');
      await pass(1);
      await pass(1);
      const [failed] = await h.store.listPoolOperations({ pool: 'train', active: false, limit: 10 }).then((ops) => ops.filter((o) => o.kind === 'replace'));
      // The old node is in zone-a, so its successor was asked for in the emptier zone-b first.
      expect(failed).toMatchObject({ stage: 'failed', zonesTried: ['zone-b', 'zone-a'] });
      expect(failed!.error).toMatch(/^no capacity in zone-a, zone-b: /);
      expect(status(old!)).toBe('CORDONED');
      expect(h.cloud.terminateCalls).toEqual([]);
      expect((await h.store.listPoolMembers({ pool: 'train' })).map((x) => [x.nodeId, x.state])).toEqual([[old, 'active']]);
      const events = await m.events('train', {});
      expect(events.find((e) => e.kind === 'replace-failed')?.message).toMatch(
        /^replacing host-1-i-0001 failed: no capacity in zone-a, zone-b: .*; it stays cordoned$/,
      );
      // Not retried at once; after a minute, then two more after the next failure.
      await pass(1);
      expect(await h.store.listPoolOperations({ pool: 'train', active: true })).toEqual([]);
      const replaces = async () => (await h.store.listPoolOperations({ pool: 'train' })).filter((o) => o.kind === 'replace').length;
      h.clock.advance(60_000);
      await pass(1);
      await pass(1);
      expect(await replaces()).toBe(2);
      h.clock.advance(60_000);
      await pass(1);
      expect(await replaces()).toBe(2);
      h.clock.advance(60_000);
      await pass(1);
      expect(await replaces()).toBe(3);
    });

    it('never more than max_parallel_replacements in flight; the next starts when one is done', async () => {
      await m.apply(
        simPools('min_nodes: 3\nmax_nodes: 5\nhealth: { replace_after: 0s, max_parallel_replacements: 1, max_unavailable: 2 }'),
        '/srv',
        'token:admin',
      );
      const [a, b] = await upTo(3, 3);
      h.verdicts.set(a!, 'unhealthy');
      h.verdicts.set(b!, 'unhealthy');
      h.cloud.joinMode = 'manual';
      await pass(3);
      await pass(3);
      let active = await h.store.listPoolOperations({ pool: 'train', active: true });
      expect(active.map((o) => o.oldNodeId)).toEqual([a]);
      expect(h.cloud.provisionCalls).toHaveLength(4);
      expect(status(b!)).toBe('READY');
      await h.cloud.join(active[0]!.instanceId!);
      await pass(3);
      expect(h.registry.get(a!)!.adminState).toBe('decommissioned');
      await pass(3);
      active = await h.store.listPoolOperations({ pool: 'train', active: true });
      expect(active.map((o) => o.oldNodeId)).toEqual([b]);
      expect(h.cloud.provisionCalls).toHaveLength(5);
      expect(status(b!)).toBe('CORDONED');
    });

    it('an operator marks a node for replacement; a node of no pool or one being replaced is refused', async () => {
      await m.apply(simPools('min_nodes: 1\nmax_nodes: 2'), '/srv', 'token:admin');
      const [node] = await upTo(1, 1);
      await expect(m.replace('train', 'nope', 'x', 'token:admin')).rejects.toThrow(/no node 'nope'/);
      const view = await m.replace('train', h.registry.get(node!)!.hostname, 'fan noise', 'token:ops');
      expect(view).toMatchObject({ kind: 'replace', stage: 'requested', oldNodeId: node, reason: 'fan noise (by token:ops)' });
      await expect(m.replace('train', node!, 'again', 'token:ops')).rejects.toThrow(/already being replaced/);
      await pass(1);
      await pass(1);
      expect(h.registry.get(node!)!.adminState).toBe('decommissioned');
      expect((await m.get('train')).ready).toBe(1);
    });

    it('the old node drains only within max_unavailable: another node down holds it, cordoned, with its successor READY', async () => {
      await m.apply(
        simPools('min_nodes: 3\nmax_nodes: 4\nhealth: { replace_after: 0s, max_parallel_replacements: 1, max_unavailable: 1 }'),
        '/srv',
        'token:admin',
      );
      const [old, , other] = await upTo(3, 3);
      await h.registry.states.node(other!, 'cordon', 'token:admin', 'firmware');
      h.verdicts.set(old!, 'unhealthy');
      await pass(3);
      await pass(3);
      const [op] = await h.store.listPoolOperations({ pool: 'train', active: true });
      expect(op).toMatchObject({ stage: 'joining', newNodeId: expect.any(String) });
      expect(status(old!)).toBe('CORDONED');
      const held = (await m.events('train', {})).filter((e) => e.kind === 'held').map((e) => e.message);
      expect(held).toEqual([`waiting to drain ${h.registry.get(old!)!.hostname}: 1 of 1 node allowed unavailable already (max_unavailable)`]);
      await h.registry.states.node(other!, 'uncordon', 'token:admin', 'done');
      await pass(3);
      expect(h.registry.get(old!)!.adminState).toBe('decommissioned');
      expect((await h.store.getPoolOperation(op!.id))!.stage).toBe('done');
    });

    it('a member OFFLINE for replace_after is replaced too, counted from when this server saw it so', async () => {
      await m.apply(simPools('min_nodes: 2\nmax_nodes: 3\nhealth: { replace_after: 2m, max_parallel_replacements: 1 }'), '/srv', 'token:admin');
      const [gone] = await upTo(2, 2);
      // No frame for over an hour (the harness's offline threshold): the sweep marks it OFFLINE.
      h.clock.advance(3_600_001);
      for (const n of h.registry.all()) if (n.id !== gone) h.registry.seen(n.id);
      h.registry.sweep(() => false);
      expect(status(gone!)).toBe('OFFLINE');
      await pass(2);
      expect(await h.store.listPoolOperations({ pool: 'train', active: true })).toEqual([]);
      h.clock.advance(2 * 60_000);
      for (const n of h.registry.all()) if (n.id !== gone) h.registry.seen(n.id);
      await pass(2);
      const [op] = await h.store.listPoolOperations({ pool: 'train', active: true, limit: 5 });
      expect(op).toMatchObject({ kind: 'replace', oldNodeId: gone });
      expect(op!.reason).toMatch(/ offline for 2m$/);
    });
  });
});
