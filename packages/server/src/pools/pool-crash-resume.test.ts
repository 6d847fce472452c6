import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PoolHarness, simPools } from './__tests__/pool-harness.js';
import type { PoolManager } from './pool-manager.js';

let h: PoolHarness;

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!ok()) throw new Error(`timed out waiting for ${what}`);
}

describe.each(['sqlite', 'postgres'] as const)('on the %s store', (kind) => {
  beforeEach(async () => {
    h = await PoolHarness.open(kind);
  });
  afterEach(() => h.close());

  describe('a control plane that stops in the middle of an operation', () => {
    it('resumes a provision the provider accepted: the instance is adopted, never provisioned twice', async () => {
      const first = h.manager();
      await first.load();
      let release!: () => void;
      h.cloud.gate = new Promise((r) => (release = r));
      h.cloud.joinMode = 'manual';
      await first.apply(simPools('min_nodes: 1\nmax_nodes: 1'), '/srv', 'token:admin');
      // The provider has started the instance; the first server has not heard back ("crashes" here).
      await until('the instance', () => h.cloud.instances.size === 1);
      const [op] = await h.store.listPoolOperations({ pool: 'train', active: true });
      expect(op).toMatchObject({ stage: 'provisioning', instanceId: null });

      // A new server on the same store resumes from the stored stage.
      await h.wire();
      const second: PoolManager = h.manager();
      await second.load();
      await second.reconcileAll();
      const [instance] = h.cloud.running();
      expect(await h.store.getPoolOperation(op!.id)).toMatchObject({ stage: 'joining', instanceId: instance!.id });
      expect(h.cloud.listCalls).toBeGreaterThanOrEqual(1);
      expect((await second.events('train', {})).find((e) => e.kind === 'resumed')?.message).toBe(
        `resumed after a restart: instance ${instance!.id} was started for this operation; adopted`,
      );

      // The first server's late answer cannot move the operation a second time, nor set the member back.
      await h.cloud.join(instance!.id);
      await second.reconcileAll();
      const joined = (await h.store.listPoolMembers({ pool: 'train' }))[0];
      expect(joined).toMatchObject({ instanceId: instance!.id, state: 'active', nodeId: expect.any(String) });
      release();
      await first.idle();
      await first.stop();
      expect((await h.store.listPoolMembers({ pool: 'train' }))[0]).toEqual(joined);
      await second.reconcileAll();
      expect(h.cloud.provisionCalls).toHaveLength(1);
      expect(h.cloud.running()).toHaveLength(1);
      expect(await h.store.getPoolOperation(op!.id)).toMatchObject({ stage: 'done' });
      expect((await h.store.listPoolEvents({ pool: 'train', limit: 100 })).filter((e) => e.kind === 'provisioned')).toHaveLength(1);
      expect(await second.get('train')).toMatchObject({ ready: 1, current: 1 });
      await second.stop();
    });

    it('asks again, with the same operation id, when the provider never started the instance', async () => {
      const first = h.manager();
      await first.load();
      await first.apply(simPools('min_nodes: 1\nmax_nodes: 1'), '/srv', 'token:admin');
      await first.stop();
      // What a crash between storing `provisioning` and the provider's answer leaves when the call never arrived.
      const [op] = await h.store.listPoolOperations({ pool: 'train' });
      await h.store.insertPoolOperation({ ...op!, id: 'op-crashed', stage: 'provisioning', instanceId: null, attempts: 1, startedAt: op!.startedAt + 1 });
      for (const id of [op!.id]) await h.store.updatePoolOperation(id, 'done', { stage: 'done' });
      const before = h.cloud.provisionCalls.length;
      h.cloud.joinMode = 'never';
      const second = h.manager();
      await second.load();
      await second.reconcileAll();
      const retried = h.cloud.provisionCalls.slice(before);
      expect(retried.map((c) => c.operationId)).toEqual(['op-crashed']);
      expect(await h.store.getPoolOperation('op-crashed')).toMatchObject({ stage: 'joining' });
      // The READY node is not traded for the one coming.
      expect(h.cloud.terminateCalls).toEqual([]);
      await second.stop();
    });
  });
});
