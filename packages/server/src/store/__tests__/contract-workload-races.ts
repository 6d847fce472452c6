import { describe, expect, it } from 'vitest';
import type { AllocationRecord, PlanCommit } from '../store.js';
import type { StoreRef } from './contract-helpers.js';
import { T0 } from './store-fixtures.js';
import { gpusOf, inserting, NODE_A, NODE_B, placedAllocation, sampleVersionInput } from './workload-fixtures.js';

/**
 * Concurrent writers (0007_workloads). On PostgreSQL the calls run at once on separate pooled
 * connections; on SQLite they take turns on the write lock. Either way the outcome must be one
 * of the serial ones: one winner per GPU, no plan half-written, no version number given twice.
 */

/** A small deterministic generator, so a failing mix can be replayed. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1_664_525 + 1_013_904_223) >>> 0;
    return s / 2 ** 32;
  };
}

export function workloadRaceContract(store: StoreRef): void {
  describe('concurrent writers', () => {
    it('of plans racing for one GPU exactly one wins, and the others write nothing', async () => {
      const plans = Array.from({ length: 8 }, (_, i) => ({
        inserts: [
          placedAllocation(`alloc-race-${i}-own`, { nodeId: `did:key:z6MkOwn${i}`, gpus: gpusOf(0) }),
          placedAllocation(`alloc-race-${i}-hot`, { gpus: gpusOf(3) }),
        ],
        updates: [],
        release: [],
      }));
      const results = await Promise.all(plans.map((p) => store().commitPlan(p)));
      const winners = results.flatMap((r, i) => (r.ok ? [i] : []));
      expect(winners).toHaveLength(1);
      const w = winners[0]!;
      for (const [i, r] of results.entries()) {
        if (i === w) continue;
        expect(r).toEqual({ ok: false, conflicts: [{ nodeId: NODE_A, gpuIndex: 3, heldBy: `alloc-race-${w}-hot` }] });
      }
      expect((await store().listAllocations({})).map((a) => a.id).sort()).toEqual([`alloc-race-${w}-hot`, `alloc-race-${w}-own`]);
      expect((await store().listGpuClaims()).map((c) => c.allocId).sort()).toEqual([`alloc-race-${w}-hot`, `alloc-race-${w}-own`]);
    });

    it('random overlapping plans, releases and ends never double-book and never leave a plan half-written', async () => {
      const next = random(20_251_205);
      const pick = (n: number) => Math.floor(next() * n);
      const nodes = [NODE_A, NODE_B];
      // Round one fills part of the pool; round two races plans against ends and releases of round one.
      const base = Array.from({ length: 4 }, (_, i) => placedAllocation(`alloc-base-${i}`, { nodeId: nodes[i % 2]!, gpus: gpusOf(i, 1) }));
      expect(await store().commitPlan(inserting(...base))).toEqual({ ok: true });
      const plans: PlanCommit[] = Array.from({ length: 16 }, (_, p) => ({
        inserts: Array.from({ length: 1 + pick(3) }, (_, a) => {
          const first = pick(6);
          return placedAllocation(`alloc-p${p}-a${a}`, { nodeId: nodes[pick(2)]!, gpus: gpusOf(first, 1 + pick(2)) });
        }),
        updates: [],
        release: p % 5 === 0 ? [base[pick(4)]!.id] : [],
      }));
      const ends = base.slice(0, 2).map((a) => store().endAllocation(a.id, { status: 'stopped', updatedAt: T0 + 1 }));
      const results = await Promise.all([...plans.map((p) => store().commitPlan(p)), ...ends]);

      const stored = new Map((await store().listAllocations({})).map((a) => [a.id, a] as const));
      const claims = await store().listGpuClaims();
      const held = new Map(claims.map((c) => [`${c.nodeId}#${c.gpuIndex}`, c.allocId] as const));
      expect(held.size).toBe(claims.length);
      for (const [i, plan] of plans.entries()) {
        const r = results[i] as Awaited<ReturnType<ReturnType<StoreRef>['commitPlan']>>;
        const present = plan.inserts.filter((a) => stored.has(a.id));
        // All or nothing.
        expect(present).toHaveLength(r.ok ? plan.inserts.length : 0);
        if (!r.ok) {
          expect(r.conflicts.length).toBeGreaterThan(0);
          // A plan whose own inserts overlap conflicts with itself; otherwise the holder is someone else's.
          for (const c of r.conflicts) expect(plan.inserts.some((a) => a.nodeId === c.nodeId && a.gpus.some((g) => g.index === c.gpuIndex))).toBe(true);
        }
      }
      // Every claim belongs to a stored allocation that was assigned that GPU, and every GPU of a
      // winning plan is held by its allocation unless a later plan released... none releases winners.
      for (const c of claims) {
        const a = stored.get(c.allocId) as AllocationRecord;
        expect(a.nodeId).toBe(c.nodeId);
        expect(a.gpus.map((g) => g.index)).toContain(c.gpuIndex);
      }
      for (const [i, plan] of plans.entries()) {
        if (!(results[i] as { ok: boolean }).ok) continue;
        for (const a of plan.inserts) for (const g of a.gpus) expect(held.get(`${a.nodeId}#${g.index}`)).toBe(a.id);
      }
    });

    it('concurrent submissions of one job get versions 1..n, each once, the last one current', async () => {
      const n = 10;
      const versions = await Promise.all(Array.from({ length: n }, (_, i) => store().addJobVersion(sampleVersionInput('llama', i + 1))));
      expect([...versions].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
      const stored = await store().listJobVersions('llama');
      expect(stored.map((v) => v.version)).toEqual(Array.from({ length: n }, (_, i) => n - i));
      expect(stored.filter((v) => v.status === 'current').map((v) => v.version)).toEqual([n]);
      expect((await store().getJob('llama'))?.currentVersion).toBe(n);
      // Each call got the number its own version was stored under.
      for (const [i, v] of versions.entries()) expect((await store().getJobVersion('llama', v))?.specHash).toBe(sampleVersionInput('llama', i + 1).specHash);
    });
  });
}
