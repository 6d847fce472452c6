import { afterEach, describe, expect, it } from 'vitest';
import { processJob, workloadKit, type WorkloadKit } from './__tests__/workload-kit.js';

let kit: WorkloadKit;
afterEach(async () => kit?.close());

describe('supervision: allocations move when their GPU, node or drain takes them away', () => {
  it('a GPU turning UNHEALTHY moves only the allocation on it; its claims go once the host confirms the stop', async () => {
    kit = await workloadKit();
    const node = await kit.addNode('gpu-a', { gpus: 4 });
    await kit.submit(processJob('xid', 2));
    await kit.runAll('xid');
    const [victim, bystander] = await kit.allocs('xid');
    const bad = victim!.gpus[0]!;
    await kit.registry.states.gpu(node, bad.uuid!, 'mark-unhealthy', 'policy:xid-79', 'Xid 79: fallen off the bus');
    await kit.settle();

    const old = await kit.svc.allocation(victim!.id);
    expect(old).toMatchObject({ desired: 'stop', status: 'stopping', stopCause: 'gpu_unhealthy' });
    expect(old!.message).toMatch(new RegExp(`GPU ${bad.index} .*UNHEALTHY`));
    const replacement = await kit.svc.allocation(old!.replacedBy!);
    expect(replacement).toMatchObject({ group: victim!.group, index: victim!.index, desired: 'run', status: 'pending', replaces: victim!.id });
    expect(replacement!.gpus[0]!.index).not.toBe(bad.index);
    expect(replacement!.gpus[0]!.index).not.toBe(bystander!.gpus[0]!.index);
    // Nothing else on the node moved.
    expect(await kit.svc.allocation(bystander!.id)).toMatchObject({ desired: 'run', status: 'running', replacedBy: null });
    const stops = kit.sessions.allocOrders(node).filter((o) => o.op === 'stop');
    expect(stops).toMatchObject([{ allocId: victim!.id, specHash: expect.stringMatching(/^[0-9a-f]{64}$/) }]);
    // Until the host confirms, the bad GPU stays claimed by the old allocation.
    expect(kit.svc.claims.gpuHolder(node, bad.index)).toBe(victim!.id);
    expect(kit.svc.runningOn(node)).toBe(3);
    await kit.report(victim!.id, 'stopped', { message: 'stopped on the server order' });
    expect(await kit.svc.allocation(victim!.id)).toMatchObject({ status: 'stopped', desired: 'stop' });
    expect(kit.svc.claims.gpuHolder(node, bad.index)).toBeNull();
    expect((await kit.store.listGpuClaims()).some((c) => c.allocId === victim!.id)).toBe(false);
    expect(kit.svc.runningOn(node)).toBe(2);
  });

  it('a node OFFLINE is left alone within the grace; past it, its allocations are lost and placed elsewhere; the host is told to stop them when it returns', async () => {
    kit = await workloadKit();
    const a = await kit.addNode('gpu-a', { gpus: 2 });
    await kit.submit(processJob('lost', 2, { reschedule: { offline_grace: '30s' } }));
    await kit.runAll('lost');
    const b = await kit.addNode('gpu-b', { gpus: 2 });
    kit.goOffline(a);
    await kit.settle();
    expect((await kit.live('lost')).every((x) => x.nodeId === a && x.status === 'running')).toBe(true);
    // Keep b alive past the grace; a stays silent.
    kit.clock.advance(20_000);
    kit.registry.seen(b);
    await kit.settle();
    const all = await kit.allocs('lost');
    const lost = all.filter((x) => x.nodeId === a);
    expect(lost.map((x) => [x.status, x.desired, x.stopCause])).toEqual([
      ['lost', 'stop', 'node_lost'],
      ['lost', 'stop', 'node_lost'],
    ]);
    const moved = all.filter((x) => x.nodeId === b);
    expect(moved.map((x) => x.replaces).sort()).toEqual(lost.map((x) => x.id).sort());
    // Lost allocations hold nothing (the node may never come back).
    expect((await kit.store.listGpuClaims()).every((c) => c.nodeId === b)).toBe(true);
    expect(kit.svc.runningOn(a)).toBe(0);

    // The host comes back still running them: it is told to stop both, and its confirmation ends them for good.
    kit.reconnect(a);
    expect(
      kit.sessions
        .allocOrders(a)
        .filter((o) => o.op === 'stop')
        .map((o) => o.allocId)
        .sort(),
    ).toEqual(lost.map((x) => x.id).sort());
    await kit.report(lost[0]!.id, 'running');
    expect(await kit.svc.allocation(lost[0]!.id)).toMatchObject({ status: 'lost' });
    expect(kit.sessions.allocOrders(a).filter((o) => o.op === 'stop' && o.allocId === lost[0]!.id)).toHaveLength(2);
    await kit.report(lost[0]!.id, 'stopped');
    expect(await kit.svc.allocation(lost[0]!.id)).toMatchObject({ status: 'stopped', stopCause: 'node_lost' });
  });

  it('a drain moves the allocations away, then the node is DRAINED', async () => {
    kit = await workloadKit();
    const a = await kit.addNode('gpu-a', { gpus: 2 });
    await kit.submit(processJob('drain', 2));
    await kit.runAll('drain');
    const b = await kit.addNode('gpu-b', { gpus: 2 });
    const t = await kit.drains.drain(a, 'token:ops', 'maintenance');
    expect(t.to).toBe('DRAINING');
    await kit.settle();
    const onA = (await kit.allocs('drain')).filter((x) => x.nodeId === a);
    expect(onA.map((x) => [x.status, x.stopCause])).toEqual([
      ['stopping', 'node_drained'],
      ['stopping', 'node_drained'],
    ]);
    expect((await kit.live('drain')).map((x) => x.nodeId)).toEqual([b, b]);
    expect(kit.registry.states.mark(a, null)?.state).toBe('DRAINING');
    await kit.report(onA[0]!.id, 'stopped');
    expect(await kit.drains.check(a)).toBe(false);
    await kit.report(onA[1]!.id, 'stopped');
    // The allocation event on the node checks the drain (hub), as the server's drain service does.
    await kit.drains.stop();
    expect(kit.registry.states.mark(a, null)?.state).toBe('DRAINED');
  });

  it('a failed allocation is replaced after a backoff, a bounded number of times; then the slot is left failed', async () => {
    kit = await workloadKit({ retry: { maxReplacements: 2, baseDelayMs: 10_000, maxDelayMs: 60_000 } });
    await kit.addNode('gpu-a', { gpus: 4 });
    await kit.submit(processJob('crash', 1));
    const ids: string[] = [];
    for (let round = 0; round < 3; round++) {
      const [a] = await kit.live('crash');
      ids.push(a!.id);
      await kit.report(a!.id, 'failed', { exitCode: 3, restarts: 3, message: 'out of restarts' });
      await kit.settle();
      expect(await kit.svc.allocation(a!.id)).toMatchObject({ desired: 'stop', stopCause: 'failed', status: 'failed', exitCode: 3 });
      expect(await kit.live('crash')).toEqual([]);
      // 10 s after the first failure, 20 s after the second.
      kit.clock.advance(10_000 * 2 ** round - 1);
      await kit.settle();
      if (round < 2) {
        expect(await kit.live('crash')).toEqual([]);
        kit.clock.advance(1);
        await kit.settle();
        const [next] = await kit.live('crash');
        expect(next).toMatchObject({ replaces: a!.id, status: 'pending' });
      }
    }
    kit.clock.advance(600_000);
    await kit.settle();
    expect(await kit.live('crash')).toEqual([]);
    const detail = await kit.reads.job('crash');
    expect(detail.exhausted).toEqual(['web-0']);
    expect(detail.status).toBe('failed');
    expect(new Set(ids).size).toBe(3);
  });

  it('a refused allocation is placed again, not on the node that refused it', async () => {
    kit = await workloadKit({ retry: { maxReplacements: 3, baseDelayMs: 1000, maxDelayMs: 1000 } });
    await kit.addNode('gpu-a', { gpus: 8 });
    await kit.addNode('gpu-b', { gpus: 1 });
    await kit.submit(processJob('picky', 1));
    const [first] = await kit.live('picky');
    await kit.report(first!.id, 'refused', { reason: 'selector_mismatch', message: 'this host does not match' });
    expect(await kit.svc.allocation(first!.id)).toMatchObject({ status: 'refused', message: 'selector_mismatch: this host does not match' });
    kit.clock.advance(1000);
    await kit.settle();
    const [second] = await kit.live('picky');
    expect(second!.nodeId).not.toBe(first!.nodeId);
    expect(second!.replaces).toBe(first!.id);
  });

  it('stopping a job stops every allocation; purge forgets it and frees its GPUs', async () => {
    kit = await workloadKit();
    const n = await kit.addNode('gpu-a', { gpus: 4 });
    await kit.submit(processJob('bye', 2));
    await kit.runAll('bye');
    await kit.svc.stopJob('bye', { reason: 'done for today' }, 'token:ops(t2)');
    const allocs = await kit.allocs('bye');
    expect(allocs.every((a) => a.desired === 'stop' && a.status === 'stopping' && a.stopCause === 'job_stopped')).toBe(true);
    expect(allocs[0]!.message).toMatch(/the job was stopped by token:ops\(t2\): done for today/);
    expect(kit.sessions.allocOrders(n).filter((o) => o.op === 'stop')).toHaveLength(2);
    expect(await kit.reads.job('bye')).toMatchObject({ status: 'stopped', desired: 0 });
    // A stopped job is not placed again by evaluations.
    await kit.report(allocs[0]!.id, 'stopped');
    await kit.settle();
    expect(await kit.live('bye')).toEqual([]);
    // The same spec submitted again runs it again (no new version), on GPUs the stopping one does not hold.
    const again = await kit.submit(processJob('bye', 2));
    expect(again).toMatchObject({ created: false, version: 1 });
    const back = await kit.live('bye');
    expect(back).toHaveLength(2);
    expect(back.some((x) => x.gpus[0]!.index === allocs[1]!.gpus[0]!.index)).toBe(false);

    await kit.svc.stopJob('bye', { purge: true }, 'token:ops(t2)');
    expect(await kit.store.getJob('bye')).toBeUndefined();
    expect(await kit.store.listGpuClaims()).toEqual([]);
    await expect(kit.reads.job('bye')).rejects.toMatchObject({ code: 'not_found' });
    // Forgotten, but what still runs on the host keeps its GPU until the host confirms the stop.
    const onHost = [allocs[1]!, ...back];
    expect(kit.svc.runningOn(n)).toBe(3);
    for (const a of onHost) expect(kit.svc.claims.gpuHolder(n, a.gpus[0]!.index)).toBe(a.id);
    const placed = await kit.submit(processJob('other', 2));
    // Four GPUs, three held: one placed now, on the free one.
    expect(placed.plan.placements).toHaveLength(1);
    expect(onHost.map((a) => a.gpus[0]!.index)).not.toContain(placed.plan.placements[0]!.gpus[0]!.index);
    for (const a of onHost) await kit.report(a.id, 'stopped', { nodeId: n });
    expect(kit.svc.runningOn(n)).toBe(1);
    for (const a of onHost) expect(kit.svc.claims.gpuHolder(n, a.gpus[0]!.index)).toBeNull();
    await kit.settle();
    expect(await kit.live('other')).toHaveLength(2);
  });

  it('a stop before the start ever left the server ends the allocation at once', async () => {
    kit = await workloadKit();
    const n = await kit.addNode('gpu-a');
    kit.sessions.connected.delete(n);
    await kit.submit(processJob('never', 1));
    await kit.svc.stopJob('never', {}, 'token:ops');
    const [a] = await kit.allocs('never');
    expect(a).toMatchObject({ status: 'stopped', desired: 'stop' });
    expect(a!.message).toMatch(/^never started/);
    expect(await kit.store.listGpuClaims()).toEqual([]);
  });

  it('a host is told to stop an allocation the server does not know; a report about another node’s allocation is ignored', async () => {
    kit = await workloadKit();
    const a = await kit.addNode('gpu-a');
    const b = await kit.addNode('gpu-b');
    await kit.report('UnknownAlloc123', 'running', { nodeId: a, specHash: 'a'.repeat(64) });
    expect(kit.sessions.allocOrders(a)).toMatchObject([{ op: 'stop', allocId: 'UnknownAlloc123', specHash: 'a'.repeat(64) }]);
    await kit.submit(processJob('mine', 1, { pin: { 'web-0': 'gpu-a' } }));
    const [x] = await kit.live('mine');
    expect(x!.nodeId).toBe(a);
    await kit.report(x!.id, 'failed', { nodeId: b });
    expect(await kit.svc.allocation(x!.id)).toMatchObject({ status: 'pending', desired: 'run' });
  });

  it('a connected host that never confirms a stop is not waited for forever', async () => {
    kit = await workloadKit({ stopConfirmMs: 60_000 });
    const n = await kit.addNode('gpu-a');
    await kit.submit(processJob('mute', 1));
    await kit.runAll('mute');
    await kit.svc.stopJob('mute', {}, 'token:ops');
    kit.clock.advance(60_001);
    kit.registry.seen(n);
    await kit.settle();
    const [a] = await kit.allocs('mute');
    expect(a).toMatchObject({ status: 'stopped' });
    expect(a!.message).toMatch(/did not confirm the stop/);
  });
});
