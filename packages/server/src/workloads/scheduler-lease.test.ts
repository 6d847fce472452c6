import { afterEach, describe, expect, it } from 'vitest';
import { FleetError } from '@gpufleet/protocol';
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
const lease: LeaseRole = { name: 'scheduler', holds: () => held, fence: () => (held ? 1 : null) };

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
});
