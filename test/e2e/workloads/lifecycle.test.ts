import { afterEach, describe, expect, it } from 'vitest';
import { Cleanups } from '../support/cleanups.js';
import { waitFor } from '../support/wait-for.js';
import { allocations, processesOf, signFile, sleeperJob, startHost, startWorkloadServer, waitRunning } from './support.js';

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

describe('e2e workloads: submit, run, logs, stop (real server, real agents over WebSockets, real processes)', () => {
  it('a signed job runs on its GPUs as real processes, its output reaches the logs API, and stop ends the processes and frees the GPUs', async () => {
    const s = await startWorkloadServer(cleanups);
    const a = await startHost(s, cleanups, 'wl-life-a', 2);
    const b = await startHost(s, cleanups, 'wl-life-b', 2);

    const submitted = await s.t.api('POST', '/api/v1/jobs', signFile(s.root, sleeperJob('life', 3)));
    expect(submitted.status, submitted.text).toBe(201);
    expect(submitted.body.plan.placements).toHaveLength(3);
    const running = await waitRunning(s, 'life', 3);
    expect(new Set(running.map((x) => x.nodeId))).toEqual(new Set([a.nodeId, b.nodeId]));
    expect((await s.t.api('GET', '/api/v1/jobs/life')).body).toMatchObject({ status: 'running', running: 3, desired: 3, gpus: 3 });

    // Each allocation is a real process on this machine, told its allocation and its GPU (the host's own UUID).
    for (const x of running) {
      expect(processesOf(x.id).length, x.name).toBeGreaterThan(0);
      const host = x.nodeId === a.nodeId ? a : b;
      const uuid = host.backend.gpuIds().find((g) => g.index === x.gpus[0]!.index)!.uuid;
      expect(x.gpus[0]!.uuid).toBe(uuid);
      const logs = await waitFor(`${x.name} output stored`, async () => {
        const r = await s.t.api('GET', `/api/v1/allocations/${x.id}/logs`);
        return r.body.items.length > 0 ? r.body.items : null;
      });
      expect(logs[0]).toMatchObject({ stream: 'stdout', data: expect.stringContaining(`started ${x.name} on `) });
      expect(logs[0].data).toContain(uuid);
    }

    // GPU rows name the allocation holding each GPU.
    const gpus = await s.t.api('GET', '/api/v1/gpus');
    expect(gpus.body.items.filter((r: { allocation: unknown }) => r.allocation !== null)).toHaveLength(3);

    const stopped = await s.t.api('POST', '/api/v1/jobs/life/stop', { reason: 'e2e done' });
    expect(stopped.status, stopped.text).toBe(200);
    await waitFor('every allocation confirmed stopped', async () => (await allocations(s, 'life')).every((x) => x.status === 'stopped'), { timeoutMs: 10_000 });
    for (const x of running) expect(processesOf(x.id), x.name).toEqual([]);
    expect((await s.t.api('GET', '/api/v1/gpus')).body.items.every((r: { allocation: unknown }) => r.allocation === null)).toBe(true);
    expect((await s.t.api('GET', '/api/v1/jobs/life')).body.status).toBe('stopped');
  });

  it('a workload that exits is restarted by its host, then failed once out of restarts; the server marks it for replacement', async () => {
    const s = await startWorkloadServer(cleanups);
    await startHost(s, cleanups, 'wl-crash-a', 2);
    const job = sleeperJob('crash', 1, {}, { command: ['sh', '-c', 'echo bye; exit 3'], restart: { attempts: 1, within: '1m', delay: '100ms' } });
    expect((await s.t.api('POST', '/api/v1/jobs', signFile(s.root, job))).status).toBe(201);
    // The host reports `failed`; the server's next evaluation of the job then marks it for replacement.
    const failed = await waitFor('the first allocation failed after its restart and the server saw it', async () => {
      const first = (await allocations(s, 'crash'))[0];
      return first?.status === 'failed' && first.desired === 'stop' ? first : null;
    });
    expect(failed).toMatchObject({ desired: 'stop', stopCause: 'failed' });
    const detail = await s.t.api('GET', `/api/v1/allocations/${failed.id}`);
    expect(detail.body).toMatchObject({ restarts: 1, exitCode: 3 });
  });
});
