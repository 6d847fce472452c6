import { afterEach, describe, expect, it } from 'vitest';
import { processJob, workloadKit, type JobFile, type WorkloadKit } from './__tests__/workload-kit.js';

let kit: WorkloadKit;
afterEach(async () => kit?.close());

/** Version 1 of `name` with 3 allocations, running and healthy long enough for its deployment to succeed. */
async function runningV1(name: string, update: JobFile): Promise<void> {
  await kit.addNode('gpu-a', { gpus: 8 });
  await kit.submit(processJob(name, 3, { update }, { env: { V: '1' } }));
  await kit.runAll(name);
  kit.clock.advance(10_000);
  await kit.settle();
  expect((await kit.reads.job(name)).deployment?.state).toBe('succeeded');
}

const byVersion = async (job: string) => {
  const live = await kit.live(job);
  return [1, 2].map((v) => live.filter((a) => a.jobVersion === v).length);
};

describe('rolling updates', () => {
  it('replaces the old version max_parallel at a time, each after the previous new one is healthy for healthy_for', async () => {
    kit = await workloadKit();
    const update = { max_parallel: 1, healthy_for: '10s', deadline: '5m' };
    await runningV1('roll', update);
    const v2 = await kit.submit(processJob('roll', 3, { update }, { env: { V: '2' } }));
    expect(v2).toMatchObject({ created: true, version: 2 });
    expect(v2.plan.placements).toHaveLength(1);
    expect(v2.plan.stops).toHaveLength(1);
    expect(await byVersion('roll')).toEqual([2, 1]);
    const detail = await kit.reads.job('roll');
    expect(detail.deployment).toMatchObject({ fromVersion: 1, toVersion: 2, state: 'running', canaries: 0, placed: 1, healthy: 0 });

    for (let step = 2; step <= 3; step++) {
      // Running but not yet healthy for healthy_for: nothing more rolls.
      await kit.runAll('roll');
      await kit.settle();
      expect(await byVersion('roll')).toEqual([4 - step, step - 1]);
      kit.clock.advance(10_000);
      await kit.settle();
      expect(await byVersion('roll')).toEqual([3 - step, step]);
    }
    await kit.runAll('roll');
    kit.clock.advance(10_000);
    await kit.settle();
    expect((await kit.reads.job('roll')).deployment).toMatchObject({ state: 'succeeded', placed: 3, healthy: 3 });
    const old = (await kit.allocs('roll')).filter((a) => a.jobVersion === 1);
    expect(old.every((a) => a.desired === 'stop' && a.stopCause === 'updated' && a.replacedBy !== null)).toBe(true);
  });

  it('places canaries beside the old allocations and rolls the rest once they are healthy for healthy_for', async () => {
    kit = await workloadKit();
    const update = { max_parallel: 2, canary: 1, healthy_for: '10s', auto_revert: true };
    await runningV1('canary', update);
    await kit.submit(processJob('canary', 3, { update }, { env: { V: '2' } }));
    // One canary beside three old ones: nothing old stops yet.
    expect(await byVersion('canary')).toEqual([3, 1]);
    expect((await kit.reads.job('canary')).deployment).toMatchObject({ canaries: 1, placed: 1 });
    await kit.runAll('canary');
    await kit.settle();
    expect(await byVersion('canary')).toEqual([3, 1]);
    kit.clock.advance(10_000);
    await kit.settle();
    // Promoted: the old one beside the canary stops, and two more roll (max_parallel 2).
    expect(await byVersion('canary')).toEqual([0, 3]);
    await kit.runAll('canary');
    kit.clock.advance(10_000);
    await kit.settle();
    expect((await kit.reads.job('canary')).deployment?.state).toBe('succeeded');
  });

  it('a failing canary fails the update and auto_revert goes back to the last healthy version', async () => {
    kit = await workloadKit();
    const update = { max_parallel: 1, canary: 1, healthy_for: '10s', auto_revert: true };
    await runningV1('revert', update);
    await kit.submit(processJob('revert', 3, { update }, { env: { V: '2', BROKEN: '1' } }));
    const [canary] = (await kit.live('revert')).filter((a) => a.jobVersion === 2);
    await kit.report(canary!.id, 'failed', { exitCode: 1, restarts: 3, message: 'out of restarts: exit 1' });
    await kit.settle();
    const versions = await kit.store.listJobVersions('revert');
    expect(versions.map((v) => [v.version, v.status])).toEqual([
      [2, 'reverted'],
      [1, 'current'],
    ]);
    const detail = await kit.reads.job('revert');
    expect(detail.version).toBe(1);
    expect(detail.deployment).toMatchObject({ fromVersion: 2, toVersion: 1 });
    expect(detail.deployment!.message).toMatch(/reverting to version 1: version 2 failed/);
    // The old allocations never stopped, the failed canary is not replaced.
    expect(await byVersion('revert')).toEqual([3, 0]);
    expect(detail.versions.map((v) => v.status)).toEqual(['reverted', 'current']);
    kit.clock.advance(600_000);
    await kit.settle();
    expect(await byVersion('revert')).toEqual([3, 0]);
    expect((await kit.reads.job('revert')).deployment?.state).toBe('reverted');
    expect((await kit.store.latestDeployment('revert'))?.toVersion).toBe(1);
  });

  it('reverts to a version whose own deployment had not settled yet, when every allocation of it ran healthy', async () => {
    kit = await workloadKit();
    await kit.addNode('gpu-a', { gpus: 8 });
    const update = { max_parallel: 1, canary: 1, healthy_for: '1m', auto_revert: true, deadline: '10s' };
    await kit.submit(processJob('early', 2, { update }));
    await kit.runAll('early');
    // Version 2 arrives before version 1 was healthy for healthy_for; its canary never turns healthy.
    await kit.submit(processJob('early', 2, { update }, { env: { V: '2' } }));
    kit.clock.advance(11_000);
    await kit.settle();
    const detail = await kit.reads.job('early');
    expect(detail.version).toBe(1);
    expect(detail.versions.map((v) => v.status)).toEqual(['reverted', 'current']);
    expect(detail.deployment).toMatchObject({ fromVersion: 2, toVersion: 1 });
    expect(await byVersion('early')).toEqual([2, 0]);
  });

  it('does not revert to a version that never ran healthy', async () => {
    kit = await workloadKit();
    await kit.addNode('gpu-a', { gpus: 8 });
    const update = { max_parallel: 1, canary: 1, healthy_for: '1m', auto_revert: true, deadline: '10s' };
    await kit.submit(processJob('never', 2, { update }));
    await kit.submit(processJob('never', 2, { update }, { env: { V: '2' } }));
    kit.clock.advance(11_000);
    await kit.settle();
    const detail = await kit.reads.job('never');
    expect(detail.version).toBe(2);
    expect(detail.deployment).toMatchObject({ toVersion: 2, state: 'failed' });
  });

  it('a new allocation not healthy within update.deadline fails the update; without auto_revert the rest stays as it is', async () => {
    kit = await workloadKit();
    const update = { max_parallel: 1, healthy_for: '10s', deadline: '1m', auto_revert: false };
    await runningV1('slow', update);
    await kit.submit(processJob('slow', 3, { update }, { env: { V: '2' } }));
    await kit.runAll('slow', false);
    kit.clock.advance(60_001);
    await kit.settle();
    const detail = await kit.reads.job('slow');
    expect(detail.deployment).toMatchObject({ state: 'failed', toVersion: 2 });
    expect(detail.deployment!.message).toMatch(/not healthy within 60 s/);
    expect(detail.version).toBe(2);
    // Nothing more rolls: two old ones keep running.
    kit.clock.advance(60_000);
    await kit.settle();
    expect(await byVersion('slow')).toEqual([2, 1]);
  });

  it('a scaled-down group stops its extra allocations', async () => {
    kit = await workloadKit();
    await kit.addNode('gpu-a', { gpus: 4 });
    await kit.submit(processJob('scale', 3));
    await kit.runAll('scale');
    const res = await kit.submit(processJob('scale', 3, {}, { count: 1 }));
    expect(res.plan.stops.length).toBeGreaterThanOrEqual(2);
    const scaled = (await kit.allocs('scale')).filter((a) => a.stopCause === 'scaled_down');
    expect(scaled.map((a) => a.index).sort()).toEqual([1, 2]);
  });
});
