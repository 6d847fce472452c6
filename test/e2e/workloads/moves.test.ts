import { afterEach, describe, expect, it } from 'vitest';
import { Cleanups } from '../support/cleanups.js';
import { waitFor } from '../support/wait-for.js';
import { allocations, processesOf, signFile, sleeperJob, startHost, startWorkloadServer, waitRunning, type AllocView } from './support.js';

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

describe('e2e workloads: allocations move (real server, real agents, real processes, kernel log Xids)', () => {
  it('Xid 79 on an allocated GPU moves that allocation to a healthy GPU; nothing else on the node moves', async () => {
    const s = await startWorkloadServer(cleanups);
    const host = await startHost(s, cleanups, 'wl-xid-a', 4);
    expect((await s.t.api('POST', '/api/v1/jobs', signFile(s.root, sleeperJob('xid', 2)))).status).toBe(201);
    const [victim, bystander] = await waitRunning(s, 'xid', 2);
    const bystanderPids = processesOf(bystander!.id);
    const bad = victim!.gpus[0]!.index;

    host.xid(79, bad);
    const moved = await waitFor(
      'the allocation on the bad GPU replaced and running',
      async () => {
        const all = await allocations(s, 'xid');
        const old = all.find((x) => x.id === victim!.id)!;
        const next = all.find((x) => x.id === old.replacedBy);
        return old.status === 'stopped' && next?.status === 'running' ? { old, next } : null;
      },
      { timeoutMs: 15_000 },
    );
    expect(moved.old).toMatchObject({ desired: 'stop', stopCause: 'gpu_unhealthy' });
    expect(moved.next).toMatchObject({ name: victim!.name, replaces: victim!.id });
    expect(moved.next.gpus[0]!.index).not.toBe(bad);
    expect(processesOf(victim!.id)).toEqual([]);
    // The other allocation on the node: same allocation, same process, untouched.
    const after = (await allocations(s, 'xid')).find((x) => x.id === bystander!.id)!;
    expect(after).toMatchObject({ status: 'running', desired: 'run', replacedBy: null });
    expect(processesOf(bystander!.id)).toEqual(bystanderPids);
    const node = await s.t.api('GET', `/api/v1/nodes/${encodeURIComponent(host.nodeId)}`);
    expect(node.body.gpus.find((g: { index: number }) => g.index === bad)).toMatchObject({ state: 'UNHEALTHY', allocation: null });
  });

  it('a node lost past the offline grace: its allocation is placed elsewhere; when the host returns it is told to stop the old one', async () => {
    const s = await startWorkloadServer(cleanups);
    const a = await startHost(s, cleanups, 'wl-lost-a', 2);
    const submitted = await s.t.api('POST', '/api/v1/jobs', signFile(s.root, sleeperJob('lost', 1)));
    expect(submitted.status).toBe(201);
    const [first] = await waitRunning(s, 'lost', 1);
    expect(first!.nodeId).toBe(a.nodeId);
    const b = await startHost(s, cleanups, 'wl-lost-b', 2);

    // The host goes away (its agent stops); OFFLINE after ~600 ms, lost 1 s later.
    await a.stop();
    const replaced = await waitFor(
      'the allocation lost and running on the other host',
      async () => {
        const all = await allocations(s, 'lost');
        const old = all.find((x) => x.id === first!.id)!;
        const next = all.find((x) => x.id === old.replacedBy);
        return old.status === 'lost' && next?.status === 'running' ? { old, next } : null;
      },
      { timeoutMs: 15_000 },
    );
    expect(replaced.old).toMatchObject({ desired: 'stop', stopCause: 'node_lost' });
    expect(replaced.next.nodeId).toBe(b.nodeId);

    // The host comes back and takes up what it ran; the server tells it to stop the replaced allocation.
    await a.start();
    const confirmed = await waitFor(
      'the old allocation confirmed stopped by its host',
      async () => {
        const old = (await allocations(s, 'lost')).find((x) => x.id === first!.id)!;
        return old.status === 'stopped' ? old : null;
      },
      { timeoutMs: 15_000 },
    );
    expect(confirmed.stopCause).toBe('node_lost');
    await waitFor('no process left for the old allocation', () => processesOf(first!.id).length === 0);
    const live = (await allocations(s, 'lost')).filter((x: AllocView) => x.desired === 'run');
    expect(live.map((x) => [x.id, x.nodeId, x.status])).toEqual([[replaced.next.id, b.nodeId, 'running']]);
  });

  it('a drain moves the allocations away, then the node is DRAINED', async () => {
    const s = await startWorkloadServer(cleanups);
    const a = await startHost(s, cleanups, 'wl-drain-a', 4);
    expect((await s.t.api('POST', '/api/v1/jobs', signFile(s.root, sleeperJob('drain', 2)))).status).toBe(201);
    const before = await waitRunning(s, 'drain', 2);
    expect(before.every((x) => x.nodeId === a.nodeId)).toBe(true);
    const b = await startHost(s, cleanups, 'wl-drain-b', 4);

    const drained = await s.t.api('POST', `/api/v1/nodes/${encodeURIComponent(a.nodeId)}/drain`, { reason: 'e2e maintenance', timeout: '5m' });
    expect(drained.status, drained.text).toBe(200);
    expect(drained.body.status).toBe('DRAINING');
    const moved = await waitFor(
      'both allocations running on the other host',
      async () => {
        const live = (await allocations(s, 'drain')).filter((x) => x.desired === 'run');
        return live.length === 2 && live.every((x) => x.status === 'running' && x.nodeId === b.nodeId) ? live : null;
      },
      { timeoutMs: 15_000 },
    );
    expect(moved.map((x) => x.replaces).sort()).toEqual(before.map((x) => x.id).sort());
    await waitFor('node DRAINED', async () => (await s.t.api('GET', `/api/v1/nodes/${encodeURIComponent(a.nodeId)}`)).body.status === 'DRAINED', {
      timeoutMs: 10_000,
    });
    const old = (await allocations(s, 'drain')).filter((x) => before.some((y) => y.id === x.id));
    expect(old.map((x) => [x.status, x.stopCause])).toEqual([
      ['stopped', 'node_drained'],
      ['stopped', 'node_drained'],
    ]);
    for (const x of old) expect(processesOf(x.id)).toEqual([]);
  });
});
