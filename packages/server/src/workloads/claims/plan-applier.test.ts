import { describe, expect, it } from 'vitest';
import type { AllocationRecord, PlanCommit, PlanConflict } from '../../store/workload-records.js';
import { testNode } from '../scheduler/__tests__/sched-fixtures.js';
import { FleetIndex } from '../scheduler/fleet-index.js';
import { allocation } from './__tests__/claim-fixtures.js';
import { ClaimTable } from './claim-table.js';
import { type CommitPlan, PlanApplier } from './plan-applier.js';

type Outcome = { ok: true } | { ok: false; conflicts: PlanConflict[] };

/** A commit that records what it was given and answers `ok` unless told otherwise. */
function recordingCommit(answers: Outcome[] = []) {
  const seen: PlanCommit[] = [];
  const commit: CommitPlan = async (plan) => {
    seen.push(plan);
    return answers.shift() ?? { ok: true };
  };
  return { seen, commit };
}

function plan(partial: Partial<PlanCommit>): PlanCommit {
  return { inserts: [], updates: [], release: [], ...partial };
}

describe('PlanApplier', () => {
  it('commits a plan, then records its claims; not before the commit answers', async () => {
    const claims = new ClaimTable();
    let answer!: (o: Outcome) => void;
    const applier = new PlanApplier({ claims, commit: () => new Promise<Outcome>((r) => (answer = r)) });
    const applying = applier.apply(plan({ inserts: [allocation('a', 'n', [0, 1], { cpu: 2 })] }));
    await Promise.resolve();
    await Promise.resolve();
    expect(claims.gpuHolder('n', 0)).toBeNull();
    answer({ ok: true });
    const result = await applying;
    expect(result.committed.map((a) => a.id)).toEqual(['a']);
    expect(result.dropped).toEqual([]);
    expect([claims.gpuHolder('n', 0), claims.gpuHolder('n', 1), claims.cpuReserved('n')]).toEqual(['a', 'a', 2]);
  });

  it('drops an allocation whose GPU another plan took since it was planned, commits the rest, and unlinks it', async () => {
    const claims = new ClaimTable();
    const { seen, commit } = recordingCommit();
    const applier = new PlanApplier({ claims, commit });
    // Two plans computed against the same empty table both chose GPU 0 of n.
    const first = plan({ inserts: [allocation('a', 'n', [0])] });
    const second = plan({
      inserts: [allocation('b', 'n', [0], { replaces: 'old' }), allocation('c', 'n', [1])],
      updates: [{ id: 'old', patch: { desired: 'stop', stopCause: 'node_lost', replacedBy: 'b' } }],
    });
    const [r1, r2] = await Promise.all([applier.apply(first), applier.apply(second)]);
    expect(r1.committed.map((a) => a.id)).toEqual(['a']);
    expect(r2.committed.map((a) => a.id)).toEqual(['c']);
    expect(r2.dropped.map((d) => [d.allocation.id, d.reason])).toEqual([['b', 'GPU 0 of node n is held by allocation a']]);
    expect(r2.dropped[0]!.conflicts).toEqual([{ nodeId: 'n', gpuIndex: 0, heldBy: 'a' }]);
    expect(seen[1]!.updates).toEqual([{ id: 'old', patch: { desired: 'stop', stopCause: 'node_lost' } }]);
    expect([claims.gpuHolder('n', 0), claims.gpuHolder('n', 1)]).toEqual(['a', 'c']);
  });

  it('lets a plan claim a GPU it releases in the same commit', async () => {
    const claims = new ClaimTable();
    claims.claim(allocation('old', 'n', [0]));
    const { commit } = recordingCommit();
    const r = await new PlanApplier({ claims, commit }).apply(plan({ inserts: [allocation('new', 'n', [0])], release: ['old'] }));
    expect(r.committed.map((a) => a.id)).toEqual(['new']);
    expect([claims.gpuHolder('n', 0), claims.held('old')]).toEqual(['new', undefined]);
  });

  it('drops the second of two allocations of one plan that name one GPU, and one that names a GPU twice', async () => {
    const claims = new ClaimTable();
    const { seen, commit } = recordingCommit();
    const r = await new PlanApplier({ claims, commit }).apply(
      plan({ inserts: [allocation('a', 'n', [3]), allocation('b', 'n', [3]), allocation('c', 'n', [4, 4])] }),
    );
    expect(r.dropped.map((d) => [d.allocation.id, d.reason])).toEqual([
      ['b', 'GPU 3 of node n is held by allocation a'],
      ['c', 'it names one GPU twice'],
    ]);
    expect(seen[0]!.inserts.map((a) => a.id)).toEqual(['a']);
  });

  it('learns the claims the database refused on, drops those allocations and commits the rest', async () => {
    const claims = new ClaimTable();
    const { seen, commit } = recordingCommit([{ ok: false, conflicts: [{ nodeId: 'n', gpuIndex: 2, heldBy: 'replica' }] }]);
    const r = await new PlanApplier({ claims, commit }).apply(plan({ inserts: [allocation('a', 'n', [2]), allocation('b', 'm', [2])] }));
    expect(seen.map((p) => p.inserts.map((a) => a.id))).toEqual([['a', 'b'], ['b']]);
    expect(r.committed.map((a) => a.id)).toEqual(['b']);
    expect(r.dropped.map((d) => [d.allocation.id, d.reason])).toEqual([['a', 'the store refused it: GPU 2 of node n is held by allocation replica']]);
    expect([claims.gpuHolder('n', 2), claims.gpuHolder('m', 2)]).toEqual(['replica', 'b']);
  });

  it('writes nothing when the database keeps refusing for reasons it cannot drop', async () => {
    const claims = new ClaimTable();
    const refuse: Outcome = { ok: false, conflicts: [{ nodeId: 'elsewhere', gpuIndex: 0, heldBy: 'x' }] };
    const { seen, commit } = recordingCommit([refuse]);
    const r = await new PlanApplier({ claims, commit }).apply(plan({ inserts: [allocation('a', 'n', [0])], release: ['z'] }));
    expect(seen).toHaveLength(1);
    expect(r.commit).toBeNull();
    expect(r.committed).toEqual([]);
    expect(r.dropped.map((d) => d.allocation.id)).toEqual(['a']);
    expect(claims.gpuHolder('n', 0)).toBeNull();
  });

  it('stops retrying after maxRetries refusals', async () => {
    const claims = new ClaimTable();
    const refusal = (i: number): Outcome => ({ ok: false, conflicts: [{ nodeId: 'n', gpuIndex: i, heldBy: 'r' }] });
    const { seen, commit } = recordingCommit([refusal(0), refusal(1), refusal(2)]);
    const inserts = [0, 1, 2, 3].map((i) => allocation(`a${i}`, 'n', [i]));
    const r = await new PlanApplier({ claims, commit, maxRetries: 2 }).apply(plan({ inserts }));
    expect(seen).toHaveLength(3);
    expect(r.committed).toEqual([]);
    expect(r.dropped.map((d) => d.allocation.id)).toEqual(['a0', 'a1', 'a2', 'a3']);
  });

  it('leaves the table as it was when the commit throws, and applies the next plan', async () => {
    const claims = new ClaimTable();
    let calls = 0;
    const applier = new PlanApplier({
      claims,
      commit: async () => {
        calls++;
        if (calls === 1) throw new Error('database down');
        return { ok: true };
      },
    });
    await expect(applier.apply(plan({ inserts: [allocation('a', 'n', [0])] }))).rejects.toThrow('database down');
    expect(claims.gpuHolder('n', 0)).toBeNull();
    const r = await applier.apply(plan({ inserts: [allocation('b', 'n', [0])] }));
    expect(r.committed.map((a) => a.id)).toEqual(['b']);
  });

  it('commits one plan at a time, in the order asked', async () => {
    const claims = new ClaimTable();
    const events: string[] = [];
    const applier = new PlanApplier({
      claims,
      commit: async (p) => {
        events.push(`start ${p.inserts[0]!.id}`);
        await new Promise((r) => setTimeout(r, 5));
        events.push(`end ${p.inserts[0]!.id}`);
        return { ok: true };
      },
    });
    await Promise.all(['a', 'b', 'c'].map((id, i) => applier.apply(plan({ inserts: [allocation(id, 'n', [i])] }))));
    expect(events).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
  });

  it('does not call the store when nothing is left to write', async () => {
    const claims = new ClaimTable();
    claims.claim(allocation('x', 'n', [0]));
    const { seen, commit } = recordingCommit();
    const r = await new PlanApplier({ claims, commit }).apply(plan({ inserts: [allocation('a', 'n', [0])] }));
    expect(seen).toEqual([]);
    expect(r).toMatchObject({ committed: [], commit: null });
  });

  describe('with the fleet: node and GPU state, CPU and memory re-checked', () => {
    function setup() {
      const claims = new ClaimTable();
      const fleet = new FleetIndex({ claims });
      fleet.upsert(testNode('n', { cpuCores: 16, memoryBytes: 100 }));
      const { seen, commit } = recordingCommit();
      return { claims, fleet, seen, applier: new PlanApplier({ claims, commit, fleet }) };
    }

    it('drops allocations for a node that left, turned not READY, or whose GPU changed', async () => {
      const { fleet, applier } = setup();
      const gone = await applier.apply(plan({ inserts: [allocation('a', 'ghost', [0])] }));
      expect(gone.dropped[0]!.reason).toBe('node ghost is no longer in the fleet');
      fleet.upsert(testNode('n', { gpuState: (i) => (i === 1 ? 'UNHEALTHY' : 'READY') }));
      const cases: Array<[AllocationRecord, string]> = [
        [allocation('b', 'n', [1]), 'GPU 1 of node host-n is unhealthy'],
        [allocation('c', 'n', [9]), 'node host-n has no GPU 9'],
        [allocation('d', 'n', [2], { gpus: [{ index: 2, uuid: 'GPU-swapped' }] }), 'GPU 2 of node host-n is now GPU-n-2, not GPU-swapped'],
      ];
      for (const [a, why] of cases) expect((await applier.apply(plan({ inserts: [a] }))).dropped[0]!.reason).toBe(why);
      fleet.upsert(testNode('n', { state: 'DRAINING' }));
      expect((await applier.apply(plan({ inserts: [allocation('e', 'n', [0])] }))).dropped[0]!.reason).toBe('node host-n is draining');
    });

    it('never commits more CPU or memory than the node has, counting what the plan releases', async () => {
      const { claims, applier } = setup();
      claims.claim(allocation('old', 'n', [], { cpu: 10, memory: 60 }));
      const r = await applier.apply(
        plan({
          inserts: [allocation('a', 'n', [0], { cpu: 6 }), allocation('b', 'n', [1], { cpu: 1 }), allocation('m', 'n', [2], { memory: 41 })],
        }),
      );
      expect(r.committed.map((a) => a.id)).toEqual(['a']);
      expect(r.dropped.map((d) => d.reason)).toEqual(['node host-n no longer has 1 free CPU cores', 'node host-n no longer has the memory']);
      const freed = await applier.apply(plan({ inserts: [allocation('b2', 'n', [1], { cpu: 10, memory: 100 })], release: ['old', 'a'] }));
      expect(freed.committed.map((a) => a.id)).toEqual(['b2']);
      expect([claims.cpuReserved('n'), claims.memoryReserved('n')]).toEqual([10, 100]);
    });
  });
});
