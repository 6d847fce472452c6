import { describe, expect, it } from 'vitest';
import type { JobVersionRecord } from '../store.js';
import { expectFleetError, type StoreRef } from './contract-helpers.js';
import { T0 } from './store-fixtures.js';
import { inserting, outputChunk, placedAllocation, sampleDeployment, sampleSigned, sampleVersionInput } from './workload-fixtures.js';

/** Contract cases for jobs, their versions and deployments (0007_workloads). */
export function jobContract(store: StoreRef): void {
  const statuses = async (job: string) => (await store().listJobVersions(job)).map((v) => `${v.version}:${v.status}`);

  describe('jobs and versions', () => {
    it('creates a job at version 1 and round-trips the version as submitted', async () => {
      const input = sampleVersionInput('llama');
      expect(await store().addJobVersion(input)).toBe(1);
      expect(await store().getJob('llama')).toEqual({
        name: 'llama',
        kind: 'service',
        state: 'active',
        currentVersion: 1,
        submittedBy: input.submittedBy,
        createdAt: input.at,
        updatedAt: input.at,
        stoppedAt: null,
      });
      const { kind: _k, at: _a, ...fields } = input;
      const v1: JobVersionRecord = { ...fields, version: 1, status: 'current' };
      expect(await store().getJobVersion('llama', 1)).toEqual(v1);
      expect(await store().listJobVersions('llama')).toEqual([v1]);
      expect((await store().getJobVersion('llama', 1))?.signed).toEqual(sampleSigned('llama'));
    });

    it('numbers later versions 2, 3, supersedes the previous one and points the job at the new one', async () => {
      await store().addJobVersion(sampleVersionInput('llama', 1));
      expect(await store().addJobVersion(sampleVersionInput('llama', 2, { kind: 'batch', source: null }))).toBe(2);
      expect(await store().addJobVersion(sampleVersionInput('llama', 3))).toBe(3);
      expect(await statuses('llama')).toEqual(['3:current', '2:superseded', '1:superseded']);
      const job = await store().getJob('llama');
      expect(job).toMatchObject({ currentVersion: 3, kind: 'service', submittedBy: 'token:ops(t3)', createdAt: T0 + 1000, updatedAt: T0 + 3000 });
      expect((await store().getJobVersion('llama', 2))?.source).toBeNull();
      // Another job numbers its own versions.
      expect(await store().addJobVersion(sampleVersionInput('other'))).toBe(1);
    });

    it('a new version of a stopped job makes it active again', async () => {
      await store().addJobVersion(sampleVersionInput('llama', 1));
      await store().updateJob('llama', { state: 'stopped', stoppedAt: T0 + 5, updatedAt: T0 + 5 });
      expect(await store().getJob('llama')).toMatchObject({ state: 'stopped', stoppedAt: T0 + 5, updatedAt: T0 + 5 });
      await store().addJobVersion(sampleVersionInput('llama', 2));
      expect(await store().getJob('llama')).toMatchObject({ state: 'active', stoppedAt: null, currentVersion: 2 });
    });

    it('a revert points the job back; reverted versions stay reverted and numbers keep counting up', async () => {
      await store().addJobVersion(sampleVersionInput('llama', 1));
      await store().addJobVersion(sampleVersionInput('llama', 2));
      await store().updateJob('llama', { currentVersion: 1, updatedAt: T0 + 9 });
      await store().setJobVersionStatus('llama', 2, 'reverted');
      expect(await statuses('llama')).toEqual(['2:reverted', '1:current']);
      expect((await store().getJob('llama'))?.currentVersion).toBe(1);
      expect(await store().addJobVersion(sampleVersionInput('llama', 3))).toBe(3);
      expect(await statuses('llama')).toEqual(['3:current', '2:reverted', '1:superseded']);
      await store().updateJob('llama', { currentVersion: 1 });
      expect(await statuses('llama')).toEqual(['3:superseded', '2:reverted', '1:current']);
    });

    it('lists jobs by name; unknown jobs and versions read as absent or empty', async () => {
      await store().addJobVersion(sampleVersionInput('zeta'));
      await store().addJobVersion(sampleVersionInput('alpha'));
      expect((await store().listJobs()).map((j) => j.name)).toEqual(['alpha', 'zeta']);
      expect(await store().getJob('nobody')).toBeUndefined();
      expect(await store().listJobVersions('nobody')).toEqual([]);
      expect(await store().getJobVersion('alpha', 2)).toBeUndefined();
      expect(await store().getJobVersion('nobody', 1)).toBeUndefined();
      expect(await store().latestDeployment('nobody')).toBeUndefined();
    });

    it('refuses changes to unknown jobs and versions with not_found, and changes nothing', async () => {
      await store().addJobVersion(sampleVersionInput('llama'));
      await expectFleetError(store().updateJob('nobody', { state: 'stopped' }), 'not_found');
      await expectFleetError(store().updateJob('nobody', {}), 'not_found');
      await store().updateJob('llama', {});
      // A version the job does not have: the whole update rolls back, state included.
      await expectFleetError(store().updateJob('llama', { currentVersion: 7, state: 'stopped' }), 'not_found');
      expect(await store().getJob('llama')).toMatchObject({ currentVersion: 1, state: 'active' });
      expect(await statuses('llama')).toEqual(['1:current']);
      await expectFleetError(store().setJobVersionStatus('llama', 2, 'reverted'), 'not_found');
      await expectFleetError(store().setJobVersionStatus('nobody', 1, 'reverted'), 'not_found');
    });

    it('refuses garbage and writes nothing', async () => {
      const bad: unknown[] = [
        sampleVersionInput('llama', 1, { kind: 'daemon' as never }),
        sampleVersionInput('llama', 1, { at: 1.5 }),
        sampleVersionInput('llama', 1, { job: '' }),
        sampleVersionInput('llama', 1, { specHash: '' }),
        sampleVersionInput('llama', 1, { signed: { n: 1n } }),
        sampleVersionInput('llama', 1, { source: 7 as never }),
        sampleVersionInput('llama', 1, { submittedAt: Number.NaN }),
        sampleVersionInput('llama', 1, { invoker: null as never }),
        null,
        'llama',
      ];
      for (const input of bad) await expectFleetError(store().addJobVersion(input as never), 'invalid_argument');
      expect(await store().listJobs()).toEqual([]);
      await store().addJobVersion(sampleVersionInput('llama'));
      const badPatches: unknown[] = [
        { state: 'paused' },
        { currentVersion: 1.5 },
        { stoppedAt: 'now' },
        { updatedAt: null },
        { name: 'renamed' },
        { kind: 'batch' },
        null,
        [],
      ];
      for (const p of badPatches) await expectFleetError(store().updateJob('llama', p as never), 'invalid_argument');
      await expectFleetError(store().setJobVersionStatus('llama', 1, 'deleted' as never), 'invalid_argument');
      await expectFleetError(store().setJobVersionStatus('llama', '1' as never, 'reverted'), 'invalid_argument');
      await expectFleetError(store().getJob(42 as never), 'invalid_argument');
      await expectFleetError(store().getJobVersion('llama', null as never), 'invalid_argument');
      await expectFleetError(store().listJobVersions('' as never), 'invalid_argument');
      expect(await store().getJob('llama')).toMatchObject({ state: 'active', currentVersion: 1, stoppedAt: null });
      expect(await statuses('llama')).toEqual(['1:current']);
    });
  });

  describe('deployments', () => {
    it('upserts whole deployments and returns the newest per job', async () => {
      const d1 = sampleDeployment('dep-1', { startedAt: T0 });
      const d2 = sampleDeployment('dep-2', { startedAt: T0 + 100, fromVersion: null, finishedAt: null });
      await store().upsertDeployment(d1);
      await store().upsertDeployment(d2);
      await store().upsertDeployment(sampleDeployment('dep-3', { job: 'other', startedAt: T0 + 200 }));
      expect(await store().latestDeployment('llama')).toEqual(d2);
      // A whole-row replace: back to finished, not a merge.
      const done = { ...d2, state: 'reverted' as const, message: 'canary unhealthy for 30s', finishedAt: T0 + 500 };
      await store().upsertDeployment(done);
      expect(await store().latestDeployment('llama')).toEqual(done);
      await store().upsertDeployment({ ...d1, startedAt: T0 + 1000 });
      expect((await store().latestDeployment('llama'))?.id).toBe('dep-1');
    });

    it('refuses garbage deployments', async () => {
      const bad: unknown[] = [
        sampleDeployment('dep-x', { state: 'paused' as never }),
        sampleDeployment('dep-x', { toVersion: 0 }),
        sampleDeployment('dep-x', { fromVersion: -1 }),
        sampleDeployment('dep-x', { startedAt: 1.5 }),
        sampleDeployment('dep-x', { message: null as never }),
        sampleDeployment('', {}),
        undefined,
      ];
      for (const d of bad) await expectFleetError(store().upsertDeployment(d as never), 'invalid_argument');
      expect(await store().latestDeployment('llama')).toBeUndefined();
    });
  });

  describe('purging a job', () => {
    it('forgets the job, its versions, allocations, claims, output and deployments, and nothing of other jobs', async () => {
      for (const job of ['llama', 'other']) {
        await store().addJobVersion(sampleVersionInput(job, 1));
        await store().addJobVersion(sampleVersionInput(job, 2));
        await store().upsertDeployment(sampleDeployment(`dep-${job}`, { job }));
      }
      const mine = placedAllocation('alloc-llama-01', { job: 'llama', gpus: [{ index: 0, uuid: null }] });
      const theirs = placedAllocation('alloc-other-01', { job: 'other', gpus: [{ index: 1, uuid: null }] });
      expect(await store().commitPlan(inserting(mine, theirs))).toEqual({ ok: true });
      await store().appendAllocOutput([outputChunk(mine.id, 0), outputChunk(theirs.id, 0)]);

      await store().purgeJob('llama');
      expect(await store().getJob('llama')).toBeUndefined();
      expect(await store().listJobVersions('llama')).toEqual([]);
      expect(await store().listAllocations({ job: 'llama' })).toEqual([]);
      expect(await store().listAllocOutput(mine.id, 0, 100)).toEqual([]);
      expect(await store().latestDeployment('llama')).toBeUndefined();
      expect((await store().listGpuClaims()).map((c) => c.allocId)).toEqual([theirs.id]);
      // The GPU the purged job held is free again.
      expect(await store().commitPlan(inserting(placedAllocation('alloc-next-001', { gpus: [{ index: 0, uuid: null }] })))).toEqual({ ok: true });

      expect((await store().getJob('other'))?.currentVersion).toBe(2);
      expect(await store().listJobVersions('other')).toHaveLength(2);
      expect(await store().listAllocations({ job: 'other' })).toHaveLength(1);
      expect(await store().listAllocOutput(theirs.id, 0, 100)).toHaveLength(1);
      expect(await store().latestDeployment('other')).toBeDefined();

      // Purging again is harmless; a job submitted again starts over at version 1.
      await store().purgeJob('llama');
      await store().purgeJob('never-was');
      expect(await store().addJobVersion(sampleVersionInput('llama', 5))).toBe(1);
      await expectFleetError(store().purgeJob('' as never), 'invalid_argument');
    });
  });
}
