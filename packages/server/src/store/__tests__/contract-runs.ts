import { describe, expect, it } from 'vitest';
import type { RunOutputInput, RunRecord, RunTargetRecord } from '../store.js';
import { expectFleetError, type StoreRef } from './contract-helpers.js';
import { T0 } from './store-fixtures.js';

const N1 = 'did:key:z6MkRunNode1';
const N2 = 'did:key:z6MkRunNode2';

/** A run with every nullable field set; overrides give the variant under test. */
export function sampleRun(id: string, overrides: Partial<RunRecord> = {}): RunRecord {
  return {
    id,
    createdAt: T0,
    createdBy: 'token:ops(t1)',
    invoker: 'did:key:z6MkOperator',
    capabilityId: 'ab'.repeat(32),
    ability: 'exec/run',
    selector: 'gpu.model=H100,region in (eu, us)',
    summary: 'nvidia-smi -L',
    command: { payload: { runId: id, argv: ['nvidia-smi', '-L'], env: { NOTE: 'ünï "quoted"' } }, sig: 'c2ln' },
    batch: { maxParallel: 10, batchSize: 25, failureThreshold: null },
    state: 'running',
    counts: { queued: 1, failed: 1 },
    reason: 'a reason',
    deadline: T0 + 120_000,
    finishedAt: T0 + 5_000,
    canceledBy: 'token:ops(t1)',
    ...overrides,
  };
}

export function sampleTarget(runId: string, nodeId: string, overrides: Partial<RunTargetRecord> = {}): RunTargetRecord {
  return {
    runId,
    nodeId,
    hostname: `host-${nodeId.slice(-5)}`,
    batch: 0,
    state: 'failed',
    exitCode: 3,
    signal: 'SIGKILL',
    reason: 'exit 3',
    sentAt: T0 + 1,
    startedAt: T0 + 2,
    finishedAt: T0 + 3,
    durationMs: 1,
    outputBytes: 2_000_000_000_000,
    truncated: true,
    ...overrides,
  };
}

const queued = (runId: string, nodeId: string, batch = 0): RunTargetRecord =>
  sampleTarget(runId, nodeId, {
    batch,
    state: 'queued',
    exitCode: null,
    signal: null,
    reason: null,
    sentAt: null,
    startedAt: null,
    finishedAt: null,
    durationMs: null,
    outputBytes: 0,
    truncated: false,
  });

const chunk = (runId: string, nodeId: string, stream: RunOutputInput['stream'], n: number, data = `line ${n}\n`): RunOutputInput => ({
  runId,
  nodeId,
  stream,
  chunk: n,
  data,
  at: T0 + n,
});

/** Contract cases for runs, their targets and their output (0003_runs). */
export function runContract(store: StoreRef): void {
  describe('runs', () => {
    it('round-trips a run and its targets, every field set and null', async () => {
      const full = sampleRun('run-full-0001');
      const bare = sampleRun('run-bare-0001', { capabilityId: null, reason: null, finishedAt: null, canceledBy: null, command: {}, batch: null });
      await store().insertRun(full, [sampleTarget(full.id, N1), queued(full.id, N2)]);
      await store().insertRun(bare, []);
      expect(await store().getRun(full.id)).toEqual(full);
      expect(await store().getRun(bare.id)).toEqual(bare);
      expect(await store().listRunTargets(full.id)).toEqual([sampleTarget(full.id, N1), queued(full.id, N2)]);
      expect(await store().listRunTargets(bare.id)).toEqual([]);
      expect(await store().getRun('run-nobody-01')).toBeUndefined();
    });

    it('refuses a taken run id and stores none of the second attempt', async () => {
      await store().insertRun(sampleRun('run-dup-0001'), [queued('run-dup-0001', N1)]);
      await expectFleetError(store().insertRun(sampleRun('run-dup-0001', { summary: 'other' }), [queued('run-dup-0001', N2)]), 'already_exists');
      expect((await store().getRun('run-dup-0001'))?.summary).toBe('nvidia-smi -L');
      expect((await store().listRunTargets('run-dup-0001')).map((t) => t.nodeId)).toEqual([N1]);
    });

    it('stores more targets than one statement holds, listed by batch then hostname', async () => {
      const targets = Array.from({ length: 1234 }, (_, i) => ({
        ...queued('run-big-00001', `did:key:z6Mk${String(i).padStart(5, '0')}`, i % 3),
        hostname: `h${String(1233 - i).padStart(4, '0')}`,
      }));
      await store().insertRun(sampleRun('run-big-00001'), targets);
      const got = await store().listRunTargets('run-big-00001');
      expect(got).toHaveLength(1234);
      const expected = [...targets].sort((a, b) => a.batch - b.batch || a.hostname.localeCompare(b.hostname));
      expect(got.map((t) => t.nodeId)).toEqual(expected.map((t) => t.nodeId));
    });

    it('lists runs newest first with active, before and limit', async () => {
      await store().insertRun(sampleRun('run-a-000001', { createdAt: T0 + 1, state: 'succeeded' }), []);
      await store().insertRun(sampleRun('run-b-000001', { createdAt: T0 + 2, state: 'running' }), []);
      await store().insertRun(sampleRun('run-c-000001', { createdAt: T0 + 3, state: 'partial' }), []);
      await store().insertRun(sampleRun('run-d-000001', { createdAt: T0 + 3, state: 'running' }), []);
      const ids = async (q: Parameters<ReturnType<StoreRef>['listRuns']>[0]) => (await store().listRuns(q)).map((r) => r.id);
      expect(await ids({})).toEqual(['run-d-000001', 'run-c-000001', 'run-b-000001', 'run-a-000001']);
      expect(await ids({ active: true })).toEqual(['run-d-000001', 'run-b-000001']);
      expect(await ids({ active: false })).toEqual(['run-c-000001', 'run-a-000001']);
      expect(await ids({ before: T0 + 3 })).toEqual(['run-b-000001', 'run-a-000001']);
      expect(await ids({ limit: 1 })).toEqual(['run-d-000001']);
    });

    it('refuses garbage runs and targets and writes nothing', async () => {
      const id = 'run-bad-00001';
      const badRuns: unknown[] = [
        sampleRun(id, { state: 'done' as never }),
        sampleRun(id, { id: '' }),
        sampleRun(id, { deadline: 1.5 }),
        sampleRun(id, { command: { n: 1n } }),
        sampleRun(id, { counts: { queued: -1 } }),
        sampleRun(id, { counts: { lost: 1 } as never }),
        sampleRun(id, { counts: null as never }),
        'run',
      ];
      for (const r of badRuns) await expectFleetError(store().insertRun(r as RunRecord, []), 'invalid_argument');
      const badTargets: unknown[] = [
        sampleTarget(id, N1, { state: 'exploded' as never }),
        sampleTarget(id, N1, { outputBytes: -1 }),
        sampleTarget(id, N1, { exitCode: 1.5 }),
        sampleTarget(id, N1, { truncated: 1 as never }),
        sampleTarget('run-other-001', N1),
        null,
      ];
      for (const t of badTargets) await expectFleetError(store().insertRun(sampleRun(id), [queued(id, N2), t as RunTargetRecord]), 'invalid_argument');
      await expectFleetError(store().insertRun(sampleRun(id), 'targets' as never), 'invalid_argument');
      expect(await store().getRun(id)).toBeUndefined();
      expect(await store().listRunTargets(id)).toEqual([]);
      await expectFleetError(store().listRuns({ limit: 0 }), 'invalid_argument');
      await expectFleetError(store().listRuns({ active: 'yes' as never }), 'invalid_argument');
      await expectFleetError(store().getRun(42 as never), 'invalid_argument');
    });
  });

  describe('run progress and output', () => {
    it('replaces whole run and target rows and appends output in one call', async () => {
      const run = sampleRun('run-prog-0001', { state: 'running', finishedAt: null, reason: null, canceledBy: null });
      await store().insertRun(run, [queued(run.id, N1), queued(run.id, N2)]);
      const done = { ...run, state: 'partial' as const, finishedAt: T0 + 9, reason: 'failure threshold reached' };
      const t1 = sampleTarget(run.id, N1, { state: 'succeeded', exitCode: 0, signal: null, reason: null, outputBytes: 12, truncated: false });
      const t2 = { ...queued(run.id, N2), state: 'canceled' as const, reason: 'failure threshold reached' };
      const n = await store().saveRunProgress({ runs: [done], targets: [t1, t2], output: [chunk(run.id, N1, 'stdout', 0), chunk(run.id, N1, 'stderr', 0)] });
      expect(n).toBe(2);
      expect(await store().getRun(run.id)).toEqual(done);
      expect(await store().listRunTargets(run.id)).toEqual([t1, t2]);
      // Back to null: a whole-row replace, not a merge.
      const t1b = { ...t1, exitCode: null, finishedAt: null };
      await store().saveRunProgress({ runs: [], targets: [t1b], output: [] });
      expect((await store().listRunTargets(run.id))[0]).toEqual(t1b);
    });

    it('skips re-sent chunks (same run, node, stream, chunk) and keeps the first copy', async () => {
      const r = 'run-dedup-001';
      expect(await store().saveRunProgress({ runs: [], targets: [], output: [chunk(r, N1, 'stdout', 0, 'first'), chunk(r, N1, 'stdout', 1)] })).toBe(2);
      expect(
        await store().saveRunProgress({
          runs: [],
          targets: [],
          output: [chunk(r, N1, 'stdout', 0, 'again'), chunk(r, N1, 'stdout', 2), chunk(r, N2, 'stdout', 0)],
        }),
      ).toBe(2);
      // The same chunk twice in one batch counts once.
      expect(await store().saveRunProgress({ runs: [], targets: [], output: [chunk(r, N1, 'stderr', 5), chunk(r, N1, 'stderr', 5, 'dup')] })).toBe(1);
      const got = await store().listRunOutput({ runId: r, limit: 100 });
      expect(got.map((o) => `${o.nodeId.slice(-1)}:${o.stream}:${o.chunk}`)).toEqual(['1:stdout:0', '1:stdout:1', '1:stdout:2', '2:stdout:0', '1:stderr:5']);
      expect(got[0]!.data).toBe('first');
      expect(got[4]!.data).toBe('line 5\n');
    });

    it('lists output in arrival order with node, after and limit', async () => {
      const r = 'run-out-00001';
      await store().saveRunProgress({
        runs: [],
        targets: [],
        output: [chunk(r, N2, 'stdout', 0), chunk(r, N1, 'stdout', 0), chunk(r, N1, 'truncated', 0, '[truncated]'), chunk('run-other-001', N1, 'stdout', 0)],
      });
      const all = await store().listRunOutput({ runId: r });
      expect(all.map((o) => [o.nodeId, o.stream])).toEqual([
        [N2, 'stdout'],
        [N1, 'stdout'],
        [N1, 'truncated'],
      ]);
      expect(all[0]).toEqual({ ...chunk(r, N2, 'stdout', 0), id: all[0]!.id });
      for (let i = 1; i < all.length; i++) expect(all[i]!.id).toBeGreaterThan(all[i - 1]!.id);
      expect((await store().listRunOutput({ runId: r, nodeId: N1 })).map((o) => o.stream)).toEqual(['stdout', 'truncated']);
      expect((await store().listRunOutput({ runId: r, after: all[0]!.id })).map((o) => o.id)).toEqual([all[1]!.id, all[2]!.id]);
      expect((await store().listRunOutput({ runId: r, limit: 1 })).map((o) => o.id)).toEqual([all[0]!.id]);
      expect(await store().listRunOutput({ runId: 'run-nobody-01' })).toEqual([]);
    });

    it('stores a tick larger than one statement', async () => {
      const r = 'run-wide-0001';
      const targets = Array.from({ length: 1001 }, (_, i) => queued(r, `did:key:z6MkW${i}`));
      await store().insertRun(sampleRun(r), targets);
      const output = targets.map((t) => chunk(r, t.nodeId, 'stdout', 0, 'ok\n'));
      expect(await store().saveRunProgress({ runs: [], targets: targets.map((t) => ({ ...t, state: 'succeeded' as const, exitCode: 0 })), output })).toBe(1001);
      const got = await store().listRunTargets(r);
      expect(got.every((t) => t.state === 'succeeded' && t.exitCode === 0)).toBe(true);
      expect(await store().listRunOutput({ runId: r, limit: 5000 })).toHaveLength(1001);
    });

    it('an empty tick writes nothing', async () => {
      expect(await store().saveRunProgress({ runs: [], targets: [], output: [] })).toBe(0);
      expect(await store().listRuns({})).toEqual([]);
    });

    it('refuses a tick holding garbage and writes none of it', async () => {
      const r = 'run-junk-0001';
      await store().insertRun(sampleRun(r), [queued(r, N1)]);
      const good = chunk(r, N1, 'stdout', 0);
      const bad: Array<Partial<Parameters<ReturnType<StoreRef>['saveRunProgress']>[0]>> = [
        { output: [good, { ...good, chunk: 1.5 }] },
        { output: [good, { ...good, chunk: -1 }] },
        { output: [good, { ...good, stream: 'stdin' as never }] },
        { output: [good, { ...good, data: null as never }] },
        { output: [good], targets: [{ ...queued(r, N1), state: 'bogus' as never }] },
        { output: [good], runs: [sampleRun(r, { state: 'finished' as never })] },
        { output: 'chunks' as never },
      ];
      for (const b of bad) await expectFleetError(store().saveRunProgress({ runs: [], targets: [], output: [], ...b }), 'invalid_argument');
      await expectFleetError(store().saveRunProgress(null as never), 'invalid_argument');
      expect(await store().listRunOutput({ runId: r })).toEqual([]);
      expect((await store().listRunTargets(r))[0]!.state).toBe('queued');
      expect((await store().getRun(r))?.state).toBe('running');
      await expectFleetError(store().listRunOutput({ runId: r, after: 'x' as never }), 'invalid_argument');
      await expectFleetError(store().listRunOutput({ runId: '' }), 'invalid_argument');
    });
  });
}
