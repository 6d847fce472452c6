import { stringify } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import type { AllocOutputData } from '@gpufleet/protocol';
import type { AgentEventRecord } from '../store/store.js';
import { processJob, workloadKit, type WorkloadKit } from './__tests__/workload-kit.js';
import { followAllocLogs } from './alloc-log-follow.js';

let kit: WorkloadKit;
afterEach(async () => kit?.close());

let seq = 1000;
function outputEvent(nodeId: string, data: AllocOutputData): AgentEventRecord {
  seq++;
  return {
    nodeId,
    seq,
    id: `out-${seq}`,
    ts: kit.clock.now(),
    kind: 'alloc-output',
    gpuUuid: null,
    pciBusId: null,
    message: '',
    data: data as unknown as Record<string, unknown>,
    receivedAt: kit.clock.now(),
  };
}

describe('allocation output', () => {
  it('is stored as the allocation’s output, in order, and trimmed to the newest part past the limit', async () => {
    kit = await workloadKit({ outputKeepBytes: 1000 });
    const n = await kit.addNode('gpu-a');
    await kit.submit(processJob('logs', 1));
    const [a] = await kit.live('logs');
    // As the gateway hands them over: in order, each awaited by its own outbox item (batched into few writes).
    await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        kit.svc.onHostOutput(
          outputEvent(n, { allocId: a!.id, stream: i % 2 ? 'stderr' : 'stdout', chunk: i, data: `${String(i).padStart(2, '0')}${'x'.repeat(98)}` }),
        ),
      ),
    );
    const page = await kit.reads.output(a!.id, {});
    // 30 chunks of 100 bytes with 1000 kept: the oldest went, the newest stayed, in order.
    expect(page.items.length).toBeGreaterThanOrEqual(10);
    expect(page.items.length).toBeLessThanOrEqual(15);
    expect(page.items.at(-1)!.chunk).toBe(29);
    const chunks = page.items.map((x) => x.chunk);
    expect(chunks).toEqual([...chunks].sort((x, y) => x - y));
    expect(page.items[0]).toMatchObject({ stream: expect.stringMatching(/^std(out|err)$/), at: new Date(kit.clock.now()).toISOString() });
    // Paging by item id.
    const after = await kit.reads.output(a!.id, { after: page.items[4]!.id, limit: 2 });
    expect(after.items.map((x) => x.chunk)).toEqual([page.items[5]!.chunk, page.items[6]!.chunk]);
    expect(after.next).toBe(after.items[1]!.id);
    // Not agent events.
    expect(await kit.store.listAgentEvents({ nodeId: n, limit: 100 })).toEqual([]);
  });

  it('of an unknown allocation, or sent by another node, is not kept', async () => {
    kit = await workloadKit();
    const n = await kit.addNode('gpu-a');
    const other = await kit.addNode('gpu-b');
    await kit.submit(processJob('mine', 1, { pin: { 'web-0': 'gpu-a' } }));
    const [a] = await kit.live('mine');
    await kit.svc.onHostOutput(outputEvent(other, { allocId: a!.id, stream: 'stdout', chunk: 0, data: 'forged' }));
    await kit.svc.onHostOutput(outputEvent(n, { allocId: 'NoSuchAlloc1', stream: 'stdout', chunk: 0, data: 'ghost' }));
    await kit.svc.onHostOutput(outputEvent(n, { allocId: a!.id, stream: 'bogus' as 'stdout', chunk: 0, data: 'bad' }));
    expect((await kit.reads.output(a!.id, {})).items).toEqual([]);
    await expect(kit.reads.output('NoSuchAlloc1', {})).rejects.toMatchObject({ code: 'not_found' });
  });

  it('is followed live: history after `after`, new chunks as they are stored, then `end` once the allocation ended', async () => {
    kit = await workloadKit();
    const n = await kit.addNode('gpu-a');
    await kit.submit(processJob('tail', 1));
    const [a] = await kit.live('tail');
    await kit.svc.onHostOutput(outputEvent(n, { allocId: a!.id, stream: 'stdout', chunk: 0, data: 'first\n' }));
    const events: Array<[string, any]> = [];
    let ended!: () => void;
    const done = new Promise<void>((r) => (ended = r));
    const stop = followAllocLogs({ reads: kit.reads, hub: kit.hub }, a!.id, 0, { send: (e, d) => events.push([e, d]), end: () => ended() });
    await kit.svc.onHostOutput(outputEvent(n, { allocId: a!.id, stream: 'stderr', chunk: 1, data: 'second\n' }));
    await kit.report(a!.id, 'running');
    await kit.svc.stopJob('tail', {}, 'token:ops');
    await kit.svc.onHostOutput(outputEvent(n, { allocId: a!.id, stream: 'stdout', chunk: 2, data: 'bye\n' }));
    await kit.report(a!.id, 'stopped');
    await done;
    stop();
    expect(events.filter(([e]) => e === 'output').map(([, d]) => d.data)).toEqual(['first\n', 'second\n', 'bye\n']);
    expect(events.at(-1)![0]).toBe('end');
    expect(events.at(-1)![1]).toMatchObject({ id: a!.id, status: 'stopped' });
  });
});

describe('jobs plan (dry run)', () => {
  it('says where each allocation would go, or why not, and stores and claims nothing', async () => {
    kit = await workloadKit();
    await kit.addNode('gpu-a', { gpus: 2, labels: { region: 'eu' } });
    await kit.addNode('gpu-b', { gpus: 2, labels: { region: 'us', spot: 'true' } });
    const plan = kit.svc.plan(stringify(processJob('dry', 3, { constraints: ['!spot'] })));
    expect(plan).toMatchObject({ job: 'dry', version: null, unchanged: 0, stops: [] });
    expect(plan.placements.map((p) => p.hostname)).toEqual(['gpu-a', 'gpu-a']);
    expect(plan.placements[0]!.gpus[0]).toMatchObject({ name: 'NVIDIA H100 80GB HBM3', uuid: expect.stringMatching(/^GPU-gpu-a-/) });
    expect(plan.failures).toHaveLength(1);
    expect(plan.failures[0]!.message).toMatch(/!spot/);
    expect(await kit.store.listJobs()).toEqual([]);
    expect(await kit.store.listGpuClaims()).toEqual([]);
    expect(kit.svc.claims.size).toBe(0);
  });

  it('for a running job: the same file changes nothing; a changed one replaces its allocations (placed as if theirs were free)', async () => {
    kit = await workloadKit();
    await kit.addNode('gpu-a', { gpus: 2 });
    await kit.submit(processJob('web', 2));
    await kit.runAll('web');
    const same = kit.svc.plan(stringify(processJob('web', 2)));
    expect(same).toMatchObject({ version: 1, unchanged: 2, placements: [], stops: [], failures: [] });
    const changed = kit.svc.plan(stringify(processJob('web', 2, {}, { env: { NEW: '1' } })));
    expect(changed).toMatchObject({ version: null, unchanged: 0, stops: ['web-0', 'web-1'], failures: [] });
    expect(changed.placements).toHaveLength(2);
    expect(() => kit.svc.plan('name: [')).toThrow(/line 1/);
  });
});

describe('a restart of the service', () => {
  it('takes up jobs, allocations and claims from the store; nodes offline during the restart are not lost at once', async () => {
    kit = await workloadKit();
    const n = await kit.addNode('gpu-a', { gpus: 2 });
    await kit.submit(processJob('kept', 2, { reschedule: { offline_grace: '1m' } }));
    await kit.runAll('kept');
    const before = await kit.allocs('kept');
    // The node was last heard of long ago (the server was down); it has not reconnected yet.
    kit.sessions.connected.delete(n);
    kit.clock.advance(10 * 60_000);
    kit.registry.sweep(() => false);
    await kit.restart();
    await kit.settle();
    expect((await kit.live('kept')).map((a) => a.id).sort()).toEqual(before.map((a) => a.id).sort());
    expect(kit.svc.runningOn(n)).toBe(2);
    expect(kit.svc.gpuAllocation(n, before[0]!.gpus[0]!.index)).toMatchObject({ id: before[0]!.id, job: 'kept', name: `web-${before[0]!.index}` });
    // The grace counts from the restart.
    kit.clock.advance(60_000);
    await kit.settle();
    expect(await kit.live('kept')).toEqual([]);
    expect((await kit.allocs('kept')).filter((a) => a.status === 'lost')).toHaveLength(2);
  });
});
