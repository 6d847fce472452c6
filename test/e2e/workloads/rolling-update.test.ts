import { afterEach, describe, expect, it } from 'vitest';
import { Cleanups } from '../support/cleanups.js';
import { waitFor } from '../support/wait-for.js';
import { allocations, processesOf, signFile, sleeperJob, startHost, startWorkloadServer, waitRunning } from './support.js';

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

const UPDATE = { max_parallel: 1, canary: 1, healthy_for: '500ms', auto_revert: true, deadline: '30s' };

describe('e2e workloads: a rolling update with a failing canary (real server, real agents, real processes)', () => {
  it('the canary runs beside the old allocations, fails, and the job goes back to the version that was healthy', async () => {
    const s = await startWorkloadServer(cleanups);
    await startHost(s, cleanups, 'wl-roll-a', 4);
    await startHost(s, cleanups, 'wl-roll-b', 4);
    expect((await s.t.api('POST', '/api/v1/jobs', signFile(s.root, sleeperJob('roll', 2, { update: UPDATE })))).status).toBe(201);
    const v1 = await waitRunning(s, 'roll', 2);
    await waitFor('version 1 deployed', async () => (await s.t.api('GET', '/api/v1/jobs/roll')).body.deployment?.state === 'succeeded');

    // Version 2 exits at once (no restarts left): its canary fails.
    const broken = sleeperJob('roll', 2, { update: UPDATE }, { command: ['sh', '-c', 'echo "broken build"; exit 1'] });
    const v2 = await s.t.api('POST', '/api/v1/jobs', signFile(s.root, broken));
    expect(v2.status, v2.text).toBe(201);
    expect(v2.body.plan.placements).toHaveLength(1);
    expect(v2.body.plan.stops).toEqual([]);

    const job = await waitFor(
      'the update reverted',
      async () => {
        const r = await s.t.api('GET', '/api/v1/jobs/roll');
        return r.body.version === 1 && r.body.versions.some((v: { status: string }) => v.status === 'reverted') ? r.body : null;
      },
      { timeoutMs: 15_000 },
    );
    expect(job.versions.map((v: { version: number; status: string }) => [v.version, v.status])).toEqual([
      [2, 'reverted'],
      [1, 'current'],
    ]);
    expect(job.deployment).toMatchObject({ fromVersion: 2, toVersion: 1 });
    expect(job.deployment.message).toMatch(/version 2 failed \(web-0 .*failed: exited with code 1/);
    // The old allocations never stopped; the canary ended and is not placed again.
    const all = await allocations(s, 'roll');
    const canary = all.filter((x) => x.jobVersion === 2);
    expect(canary).toHaveLength(1);
    expect(canary[0]).toMatchObject({ status: 'failed', desired: 'stop' });
    const live = all.filter((x) => x.desired === 'run');
    expect(live.map((x) => x.id).sort()).toEqual(v1.map((x) => x.id).sort());
    for (const x of live) {
      expect(x.status).toBe('running');
      expect(processesOf(x.id).length).toBeGreaterThan(0);
    }
    await waitFor('the revert done', async () => (await s.t.api('GET', '/api/v1/jobs/roll')).body.deployment?.state === 'reverted');
    expect((await s.t.api('GET', '/api/v1/jobs/roll')).body.status).toBe('running');
  });
});
