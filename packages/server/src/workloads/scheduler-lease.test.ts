import { afterEach, describe, expect, it } from 'vitest';
import { FleetError, jobSpecHash } from '@gpufleet/protocol';
import type { LeaseRole } from '../replicas/leases.js';
import { processJob, workloadKit, type WorkloadKit } from './__tests__/workload-kit.js';

/**
 * With several replicas every one loads the jobs, but only the holder of the `scheduler` lease
 * changes them or places allocations: two replicas placing one job would each give it its
 * allocations, on different GPUs, and the claims could not stop that.
 */
let kit: WorkloadKit;
afterEach(async () => kit?.close());

let held = false;
let tenure = 1;
let renewals = 0;
// As a real lease: the fencing token changes with every renewal, the tenure id only with a new tenure.
const lease: LeaseRole = {
  name: 'scheduler',
  holds: () => held,
  fence: () => (held ? tenure * 1000 + ++renewals : null),
  tenure: () => (held ? tenure : null),
};

async function refusal(p: Promise<unknown>): Promise<FleetError> {
  try {
    await p;
  } catch (err) {
    if (FleetError.is(err)) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('the scheduler lease', () => {
  it('a replica without it refuses job changes, naming where they go, and places nothing', async () => {
    held = false;
    kit = await workloadKit({ lease });
    await kit.addNode('gpu-a', { gpus: 2 });
    const err = await refusal(kit.submit(processJob('llama', 1)));
    expect(err.code).toBe('failed_precondition');
    expect(err.message).toMatch(/scheduler lease.*gpufleet replicas ls/);
    expect(await kit.allocs('llama')).toEqual([]);
    expect(kit.sessions.frames).toEqual([]);
  });

  it('the holder places; once it loses the lease it neither changes nor places anything, and places again when it holds it', async () => {
    held = true;
    kit = await workloadKit({ lease });
    await kit.addNode('gpu-a', { gpus: 1 });
    const res = await kit.submit(processJob('llama', 2));
    expect(res.plan.placements).toHaveLength(1);
    held = false;
    expect((await refusal(kit.svc.stopJob('llama', {}, 'alice'))).code).toBe('failed_precondition');
    // Room for the second allocation appears: a replica that does not schedule leaves it unplaced.
    await kit.addNode('gpu-b', { gpus: 1 });
    await kit.svc.evaluateAll();
    expect(await kit.allocs('llama')).toHaveLength(1);
    held = true;
    await kit.svc.evaluateAll();
    expect(await kit.allocs('llama')).toHaveLength(2);
  });

  it("a replica without it leaves hosts' reports to the holder: it never stops an allocation of a job it has not read", async () => {
    held = true;
    kit = await workloadKit({ lease });
    await kit.addNode('gpu-a', { gpus: 1 });
    // Another replica, started before the job existed and not holding the lease.
    let peerHeld = false;
    const peer = await kit.peer({ name: 'scheduler', holds: () => peerHeld, fence: () => (peerHeld ? 7 : null), tenure: () => (peerHeld ? 7 : null) });
    await kit.submit(processJob('llama', 1));
    const [a] = await kit.allocs('llama');
    const start = kit.sessions.frames.find(({ frame }) => frame.t === 'alloc' && frame.body.op === 'start')?.frame;
    const specHash = start?.t === 'alloc' && start.body.op === 'start' ? jobSpecHash(start.body.placement.job.payload.job) : null;
    expect(specHash).toMatch(/^[0-9a-f]{64}$/);
    kit.sessions.frames.length = 0;
    const report = { id: 'ev-1', nodeId: a!.nodeId, seq: 1, ts: 1, receivedAt: 1, kind: 'alloc-state', gpuUuid: null, pciBusId: null, message: '' };
    const data = { allocId: a!.id, specHash, state: 'running', healthy: true, restarts: 0, exitCode: null, reason: null, message: '' };
    await peer.onHostReport({ ...report, data });
    peer.onSessionReady(a!.nodeId);
    expect(kit.sessions.frames).toEqual([]); // no "purged job" stop, no resend
    expect((await kit.allocs('llama'))[0]?.status).toBe(a!.status);
    // The holder applies it.
    await kit.svc.onHostReport({ ...report, data });
    expect((await kit.allocs('llama'))[0]?.status).toBe('running');
    peerHeld = false;
  });

  it('a replica that takes the lease over reads the jobs again before it acts, and hands hosts their allocations again', async () => {
    held = true;
    tenure = 1;
    kit = await workloadKit({ lease });
    await kit.addNode('gpu-a', { gpus: 2 });
    await kit.submit(processJob('llama', 1));
    // The lease moves to another replica, which stops the job.
    held = false;
    let peerHeld = true;
    const peer = await kit.peer({ name: 'scheduler', holds: () => peerHeld, fence: () => (peerHeld ? 2 : null), tenure: () => (peerHeld ? 2 : null) });
    await peer.stopJob('llama', {}, 'alice');
    await peer.onHostReport({
      id: 'ev-2',
      nodeId: (await kit.allocs('llama'))[0]!.nodeId,
      seq: 2,
      ts: 2,
      receivedAt: 2,
      kind: 'alloc-state',
      gpuUuid: null,
      pciBusId: null,
      message: '',
      data: {
        allocId: (await kit.allocs('llama'))[0]!.id,
        specHash: null,
        state: 'stopped',
        healthy: null,
        restarts: 0,
        exitCode: 0,
        reason: null,
        message: '',
      },
    });
    // And takes a new job.
    await peer.submit({ signed: kit.sign(processJob('mistral', 1)) }, 'alice');
    const [mistral] = await kit.allocs('mistral');
    peerHeld = false;
    // This replica wins the lease back under a new tenure: it must not start llama again.
    held = true;
    tenure = 3;
    kit.sessions.frames.length = 0;
    await kit.svc.evaluateAll();
    const llama = await kit.allocs('llama');
    expect(llama.filter((x) => x.desired === 'run')).toEqual([]);
    const starts = kit.sessions.frames.flatMap(({ frame }) => (frame.t === 'alloc' && frame.body.op === 'start' ? [frame.body.placement.allocId] : []));
    // Mistral, placed by the other replica, is handed to its host again (it reports its state once more); nothing else starts.
    expect(starts).toEqual([mistral!.id]);
    expect(await kit.allocs('mistral')).toHaveLength(1);
  });
});
