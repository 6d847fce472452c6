import { describe, expect, it } from 'vitest';
import type { AllocationRecord, PlanCommit } from '../store.js';
import { expectFleetError, type StoreRef } from './contract-helpers.js';
import { T0 } from './store-fixtures.js';
import { gpusOf, inserting, NODE_A, NODE_B, outputChunk, placedAllocation, sampleAllocation } from './workload-fixtures.js';

/** Contract cases for allocations, GPU claims and allocation output (0007_workloads). */
export function allocationContract(store: StoreRef): void {
  const claims = async () => (await store().listGpuClaims()).map((c) => `${c.nodeId.slice(-1)}#${c.gpuIndex}:${c.allocId}`);
  const ids = async (q: Parameters<ReturnType<StoreRef>['listAllocations']>[0]) => (await store().listAllocations(q)).map((a) => a.id);

  describe('plans and GPU claims', () => {
    it('stores new allocations with every field set or null, and one claim per assigned GPU', async () => {
      const full = sampleAllocation('alloc-full-001', { gpus: gpusOf(2, 2) });
      const bare = placedAllocation('alloc-bare-001', { nodeId: NODE_B, gpus: [{ index: 0, uuid: null }] });
      const none = placedAllocation('alloc-nogpu-01', { healthy: false, gpus: [] });
      expect(await store().commitPlan(inserting(full, bare, none))).toEqual({ ok: true });
      expect(await store().getAllocation(full.id)).toEqual(full);
      expect(await store().getAllocation(bare.id)).toEqual(bare);
      expect(await store().getAllocation(none.id)).toEqual(none);
      expect(await store().getAllocation('alloc-nobody-1')).toBeUndefined();
      expect(await store().listGpuClaims()).toEqual([
        { nodeId: NODE_A, gpuIndex: 2, gpuUuid: 'GPU-00000002', allocId: full.id },
        { nodeId: NODE_A, gpuIndex: 3, gpuUuid: 'GPU-00000003', allocId: full.id },
        { nodeId: NODE_B, gpuIndex: 0, gpuUuid: null, allocId: bare.id },
      ]);
    });

    it('refuses a plan claiming a held GPU, names the holder, and writes none of it', async () => {
      const first = placedAllocation('alloc-first-01', { gpus: gpusOf(0, 2) });
      const victim = placedAllocation('alloc-victim-1', { nodeId: NODE_B, gpus: gpusOf(5) });
      expect(await store().commitPlan(inserting(first, victim))).toEqual({ ok: true });
      const plan: PlanCommit = {
        inserts: [
          placedAllocation('alloc-fine-001', { nodeId: NODE_B, gpus: gpusOf(0) }),
          placedAllocation('alloc-clash-01', { gpus: [...gpusOf(1), ...gpusOf(4)] }),
        ],
        updates: [{ id: first.id, patch: { status: 'running', updatedAt: T0 + 1 } }],
        release: [victim.id],
      };
      expect(await store().commitPlan(plan)).toEqual({ ok: false, conflicts: [{ nodeId: NODE_A, gpuIndex: 1, heldBy: first.id }] });
      expect(await store().getAllocation('alloc-fine-001')).toBeUndefined();
      expect(await store().getAllocation('alloc-clash-01')).toBeUndefined();
      expect((await store().getAllocation(first.id))?.status).toBe('pending');
      expect(await claims()).toEqual([`A#0:${first.id}`, `A#1:${first.id}`, `B#5:${victim.id}`]);
    });

    it('refuses a plan whose own allocations claim one GPU twice', async () => {
      const a = placedAllocation('alloc-twin-a01', { gpus: gpusOf(3) });
      const b = placedAllocation('alloc-twin-b01', { gpus: gpusOf(3) });
      expect(await store().commitPlan(inserting(a, b))).toEqual({ ok: false, conflicts: [{ nodeId: NODE_A, gpuIndex: 3, heldBy: a.id }] });
      expect(await store().listAllocations({})).toEqual([]);
      expect(await store().listGpuClaims()).toEqual([]);
    });

    it('releases, updates and inserts in one plan: a replacement may take the GPU its predecessor held', async () => {
      const old = placedAllocation('alloc-old-0001', { gpus: gpusOf(0) });
      await store().commitPlan(inserting(old));
      const next = placedAllocation('alloc-next-001', { gpus: gpusOf(0), replaces: old.id, jobVersion: 2 });
      const plan: PlanCommit = {
        inserts: [next],
        updates: [{ id: old.id, patch: { desired: 'stop', status: 'stopping', replacedBy: next.id, stopCause: 'updated', updatedAt: T0 + 5 } }],
        release: [old.id],
      };
      expect(await store().commitPlan(plan)).toEqual({ ok: true });
      expect(await store().getAllocation(old.id)).toEqual({
        ...old,
        desired: 'stop',
        status: 'stopping',
        replacedBy: next.id,
        stopCause: 'updated',
        updatedAt: T0 + 5,
      });
      expect(await claims()).toEqual([`A#0:${next.id}`]);
      // Releasing what holds nothing (ended already, or never stored) is no error.
      expect(await store().commitPlan({ inserts: [], updates: [], release: [old.id, 'alloc-nobody-1'] })).toEqual({ ok: true });
      expect(await claims()).toEqual([`A#0:${next.id}`]);
    });

    it('an update of an unknown allocation or an insert of a taken id rolls the whole plan back', async () => {
      const held = placedAllocation('alloc-held-001', { gpus: gpusOf(0) });
      await store().commitPlan(inserting(held));
      const fresh = placedAllocation('alloc-fresh-01', { gpus: gpusOf(1) });
      await expectFleetError(
        store().commitPlan({ inserts: [fresh], updates: [{ id: 'alloc-nobody-1', patch: { status: 'running' } }], release: [held.id] }),
        'not_found',
      );
      const err = await expectFleetError(
        store().commitPlan({ inserts: [fresh, placedAllocation(held.id, { gpus: gpusOf(2) })], updates: [], release: [] }),
        'already_exists',
      );
      expect(err.message).toContain(held.id);
      expect(await ids({})).toEqual([held.id]);
      expect(await claims()).toEqual([`A#0:${held.id}`]);
      expect(await store().getAllocation(held.id)).toEqual(held);
    });

    it('an empty plan is fine and writes nothing', async () => {
      expect(await store().commitPlan({ inserts: [], updates: [], release: [] })).toEqual({ ok: true });
      expect(await store().listAllocations({})).toEqual([]);
    });

    it('commits plans larger than one statement, with allocations of many GPUs', async () => {
      // 700 single-GPU allocations over 100 nodes, and one allocation holding 64 GPUs of one node.
      const many = Array.from({ length: 700 }, (_, i) =>
        placedAllocation(`alloc-many-${String(i).padStart(4, '0')}`, { nodeId: `did:key:z6MkBig${Math.floor(i / 7)}`, index: i, gpus: gpusOf(i % 7) }),
      );
      const wide = placedAllocation('alloc-wide-001', { nodeId: 'did:key:z6MkWide', gpus: gpusOf(0, 64) });
      expect(await store().commitPlan(inserting(...many, wide))).toEqual({ ok: true });
      expect(await store().listAllocations({})).toHaveLength(701);
      expect(await store().listGpuClaims()).toHaveLength(764);
      expect((await store().getAllocation(wide.id))?.gpus).toEqual(gpusOf(0, 64));
      // One clash among hundreds refuses them all.
      const again = Array.from({ length: 400 }, (_, i) => placedAllocation(`alloc-again-${i}`, { nodeId: `did:key:z6MkFree${i}`, gpus: gpusOf(0) }));
      const clash = placedAllocation('alloc-clash-99', { nodeId: 'did:key:z6MkBig99', gpus: gpusOf(6) });
      expect(await store().commitPlan(inserting(...again, clash))).toEqual({
        ok: false,
        conflicts: [{ nodeId: 'did:key:z6MkBig99', gpuIndex: 6, heldBy: 'alloc-many-0699' }],
      });
      expect(await store().listAllocations({})).toHaveLength(701);
    });

    it('refuses garbage plans before writing anything', async () => {
      const ok = placedAllocation('alloc-ok-00001');
      const badAllocs: unknown[] = [
        placedAllocation('alloc-bad-0001', { status: 'exploded' as never }),
        placedAllocation('alloc-bad-0001', { desired: 'maybe' as never }),
        placedAllocation('alloc-bad-0001', { stopCause: 'bored' as never }),
        placedAllocation('alloc-bad-0001', { id: '' }),
        placedAllocation('alloc-bad-0001', { job: 7 as never }),
        placedAllocation('alloc-bad-0001', { jobVersion: 0 }),
        placedAllocation('alloc-bad-0001', { index: -1 }),
        placedAllocation('alloc-bad-0001', { restarts: 1.5 }),
        placedAllocation('alloc-bad-0001', { healthy: 'yes' as never }),
        placedAllocation('alloc-bad-0001', { cpu: Number.POSITIVE_INFINITY }),
        placedAllocation('alloc-bad-0001', { cpu: -1 }),
        placedAllocation('alloc-bad-0001', { memory: -1 }),
        placedAllocation('alloc-bad-0001', { createdAt: Number.NaN }),
        placedAllocation('alloc-bad-0001', { message: undefined as never }),
        placedAllocation('alloc-bad-0001', { gpus: 'all' as never }),
        placedAllocation('alloc-bad-0001', { gpus: [{ index: -1, uuid: null }] }),
        placedAllocation('alloc-bad-0001', { gpus: [{ index: 0.5, uuid: null }] }),
        placedAllocation('alloc-bad-0001', { gpus: [{ index: 0, uuid: 5 as never }] }),
        placedAllocation('alloc-bad-0001', { gpus: [null as never] }),
        placedAllocation('alloc-bad-0001', { gpus: [...gpusOf(1), ...gpusOf(1)] }),
        placedAllocation('alloc-bad-0001', { gpus: gpusOf(0, 1025) }),
        null,
      ];
      for (const a of badAllocs) await expectFleetError(store().commitPlan(inserting(ok, a as AllocationRecord)), 'invalid_argument');
      const badPlans: unknown[] = [
        null,
        { inserts: [ok], updates: [], release: 'all' },
        { inserts: [ok], updates: [{ id: ok.id, patch: { gpus: gpusOf(1) } }], release: [] },
        { inserts: [ok], updates: [{ id: ok.id, patch: { nodeId: NODE_B } }], release: [] },
        { inserts: [ok], updates: [{ id: '', patch: {} }], release: [] },
        { inserts: [ok], updates: [null], release: [] },
        { inserts: [ok], updates: [], release: [''] },
        { inserts: [ok, ok], updates: [], release: [] },
        { updates: [], release: [] },
      ];
      for (const p of badPlans) await expectFleetError(store().commitPlan(p as PlanCommit), 'invalid_argument');
      expect(await store().listAllocations({})).toEqual([]);
      expect(await store().listGpuClaims()).toEqual([]);
    });
  });

  describe('allocation changes', () => {
    it('patches only the fields given, and refuses unknown allocations with not_found', async () => {
      const a = placedAllocation('alloc-patch-01', { gpus: gpusOf(0) });
      await store().commitPlan(inserting(a));
      await store().updateAllocation(a.id, { status: 'running', healthy: true, healthySince: T0 + 3, restarts: 1, updatedAt: T0 + 3, exitCode: undefined });
      const running = { ...a, status: 'running' as const, healthy: true, healthySince: T0 + 3, restarts: 1, updatedAt: T0 + 3 };
      expect(await store().getAllocation(a.id)).toEqual(running);
      await store().updateAllocation(a.id, {});
      expect(await store().getAllocation(a.id)).toEqual(running);
      // Back to null.
      await store().updateAllocation(a.id, { healthy: null, healthySince: null });
      expect(await store().getAllocation(a.id)).toMatchObject({ healthy: null, healthySince: null });
      // Claims stay while the allocation lives.
      expect(await claims()).toEqual([`A#0:${a.id}`]);
      await expectFleetError(store().updateAllocation('alloc-nobody-1', { status: 'running' }), 'not_found');
      await expectFleetError(store().updateAllocation('alloc-nobody-1', {}), 'not_found');
    });

    it('refuses patches of fixed fields and garbage values', async () => {
      const a = placedAllocation('alloc-fixed-01', { gpus: gpusOf(0) });
      await store().commitPlan(inserting(a));
      const bad: unknown[] = [
        { id: 'alloc-other-01' },
        { job: 'other' },
        { group: 'db' },
        { index: 3 },
        { nodeId: NODE_B },
        { createdAt: T0 },
        { gpus: gpusOf(1) },
        { colour: 'red' },
        { status: 'done' },
        { healthy: 1 },
        { restarts: -1 },
        { cpu: 'eight' },
        null,
        'running',
      ];
      for (const p of bad) {
        await expectFleetError(store().updateAllocation(a.id, p as never), 'invalid_argument');
        await expectFleetError(store().endAllocation(a.id, p as never), 'invalid_argument');
      }
      const err = await expectFleetError(store().updateAllocation(a.id, { gpus: [] } as never), 'invalid_argument');
      expect(err.message).toContain('claimed when the allocation is placed');
      expect(await store().getAllocation(a.id)).toEqual(a);
      expect(await claims()).toEqual([`A#0:${a.id}`]);
      await expectFleetError(store().getAllocation(null as never), 'invalid_argument');
    });

    it('ending an allocation writes its patch and frees its GPUs for the next plan', async () => {
      const a = placedAllocation('alloc-end-0001', { gpus: gpusOf(0, 2) });
      const other = placedAllocation('alloc-keep-001', { gpus: gpusOf(2) });
      await store().commitPlan(inserting(a, other));
      await store().endAllocation(a.id, { status: 'failed', exitCode: 1, message: 'out of restarts', stopCause: 'failed', updatedAt: T0 + 9 });
      expect(await store().getAllocation(a.id)).toMatchObject({
        status: 'failed',
        exitCode: 1,
        message: 'out of restarts',
        stopCause: 'failed',
        gpus: gpusOf(0, 2),
      });
      expect(await claims()).toEqual([`A#2:${other.id}`]);
      expect(await store().commitPlan(inserting(placedAllocation('alloc-after-01', { gpus: gpusOf(1) })))).toEqual({ ok: true });
      // Ending twice is fine; an unknown allocation is not_found and releases nothing.
      await store().endAllocation(a.id, {});
      await expectFleetError(store().endAllocation('alloc-nobody-1', { status: 'stopped' }), 'not_found');
      expect(await claims()).toEqual([`A#1:alloc-after-01`, `A#2:${other.id}`]);
    });

    it('lists allocations oldest first, by job, node and whether they are active', async () => {
      const at = (n: number, o: Partial<AllocationRecord>) => placedAllocation(`alloc-list-${n}`, { createdAt: T0 + n, gpus: [], ...o });
      await store().commitPlan(
        inserting(
          at(3, { job: 'llama', status: 'running' }),
          at(1, { job: 'llama', nodeId: NODE_B, status: 'failed', desired: 'run' }),
          at(2, { job: 'other', status: 'stopped', desired: 'stop' }),
          at(4, { job: 'llama', status: 'stopping', desired: 'stop' }),
          at(5, { job: 'llama', nodeId: NODE_B, status: 'lost', desired: 'stop' }),
        ),
      );
      expect(await ids({})).toEqual(['alloc-list-1', 'alloc-list-2', 'alloc-list-3', 'alloc-list-4', 'alloc-list-5']);
      expect(await ids({ job: 'llama' })).toEqual(['alloc-list-1', 'alloc-list-3', 'alloc-list-4', 'alloc-list-5']);
      expect(await ids({ nodeId: NODE_B })).toEqual(['alloc-list-1', 'alloc-list-5']);
      expect(await ids({ active: true })).toEqual(['alloc-list-1', 'alloc-list-3', 'alloc-list-4']);
      expect(await ids({ active: false })).toEqual(['alloc-list-2', 'alloc-list-5']);
      expect(await ids({ job: 'llama', nodeId: NODE_B, active: true })).toEqual(['alloc-list-1']);
      expect(await ids({ job: 'nobody' })).toEqual([]);
      await expectFleetError(store().listAllocations({ active: 'yes' as never }), 'invalid_argument');
      await expectFleetError(store().listAllocations({ job: '' }), 'invalid_argument');
      await expectFleetError(store().listAllocations({ nodeId: 5 as never }), 'invalid_argument');
    });
  });

  describe('allocation output', () => {
    it('appends chunks, skips re-sent ones and lists them after a cursor', async () => {
      const id = 'alloc-out-0001';
      await store().appendAllocOutput([outputChunk(id, 0, 'first'), outputChunk(id, 0, 'err ✓', 'stderr'), outputChunk('alloc-else-001', 0)]);
      await store().appendAllocOutput([outputChunk(id, 0, 'again'), outputChunk(id, 1), outputChunk(id, 1, 'dup in one batch')]);
      await store().appendAllocOutput([]);
      const all = await store().listAllocOutput(id, 0, 100);
      expect(all.map((o) => `${o.stream}:${o.chunk}:${o.data}`)).toEqual(['stdout:0:first', 'stderr:0:err ✓', 'stdout:1:line 1\n']);
      expect(all[0]).toEqual({ ...outputChunk(id, 0, 'first'), id: all[0]!.id });
      for (let i = 1; i < all.length; i++) expect(all[i]!.id).toBeGreaterThan(all[i - 1]!.id);
      expect((await store().listAllocOutput(id, all[0]!.id, 100)).map((o) => o.id)).toEqual([all[1]!.id, all[2]!.id]);
      expect((await store().listAllocOutput(id, 0, 1)).map((o) => o.id)).toEqual([all[0]!.id]);
      expect(await store().listAllocOutput(id, all[2]!.id, 100)).toEqual([]);
      expect(await store().listAllocOutput('alloc-nobody-1', 0, 100)).toEqual([]);
    });

    it('trims an allocation to its newest output within a budget', async () => {
      const id = 'alloc-trim-001';
      // Ten chunks of 10 characters each, and another allocation's output that must stay.
      await store().appendAllocOutput(Array.from({ length: 10 }, (_, i) => outputChunk(id, i, `${i}`.repeat(10))));
      await store().appendAllocOutput([outputChunk('alloc-else-001', 0, 'x'.repeat(1000))]);
      expect(await store().trimAllocOutput(id, 1000)).toBe(0);
      expect(await store().trimAllocOutput(id, 35)).toBe(7);
      expect((await store().listAllocOutput(id, 0, 100)).map((o) => o.chunk)).toEqual([7, 8, 9]);
      expect(await store().trimAllocOutput(id, 30)).toBe(0);
      expect(await store().trimAllocOutput(id, 29)).toBe(1);
      expect(await store().trimAllocOutput(id, 0)).toBe(2);
      expect(await store().listAllocOutput(id, 0, 100)).toEqual([]);
      expect(await store().trimAllocOutput('alloc-nobody-1', 0)).toBe(0);
      expect(await store().listAllocOutput('alloc-else-001', 0, 100)).toHaveLength(1);
    });

    it('stores more chunks than one statement holds', async () => {
      const id = 'alloc-wide-out';
      await store().appendAllocOutput(Array.from({ length: 1234 }, (_, i) => outputChunk(id, i)));
      const got = await store().listAllocOutput(id, 0, 5000);
      expect(got.map((o) => o.chunk)).toEqual(Array.from({ length: 1234 }, (_, i) => i));
    });

    it('refuses garbage output and writes none of the batch', async () => {
      const id = 'alloc-junk-001';
      const good = outputChunk(id, 0);
      const bad: unknown[] = [
        { ...good, chunk: -1 },
        { ...good, chunk: 1.5 },
        { ...good, stream: 'stdin' },
        { ...good, data: null },
        { ...good, allocId: '' },
        { ...good, at: '1' },
        null,
      ];
      for (const b of bad) await expectFleetError(store().appendAllocOutput([good, b as never]), 'invalid_argument');
      await expectFleetError(store().appendAllocOutput('chunks' as never), 'invalid_argument');
      expect(await store().listAllocOutput(id, 0, 100)).toEqual([]);
      await expectFleetError(store().listAllocOutput(id, 'x' as never, 100), 'invalid_argument');
      await expectFleetError(store().listAllocOutput(id, 0, 0), 'invalid_argument');
      await expectFleetError(store().listAllocOutput('', 0, 10), 'invalid_argument');
      await expectFleetError(store().trimAllocOutput(id, -1), 'invalid_argument');
      await expectFleetError(store().trimAllocOutput(id, 1.5), 'invalid_argument');
    });
  });
}
