import type { JobSpec } from '@gpufleet/protocol';
import type { AllocationView, JobDetailView, PlanView } from '../lib/workloads.js';

/*
 * Workload shapes as the server writes them (protocol workload-views.ts), for component tests.
 * Tests that need the spec to be exactly right check it with the protocol's JobSpec schema.
 */

/** A normalized job spec (every default explicit): `count` container allocations of one GPU each. */
export function jobSpecFixture(name = 'llama', count = 2, over: Partial<JobSpec> = {}): JobSpec {
  return {
    name,
    kind: 'service',
    allocations: {
      web: {
        count,
        executor: 'container',
        image: 'docker.io/library/busybox:1.36',
        command: ['sh', '-c', 'echo serving; sleep 3600'],
        env: { MODEL: 'llama-3-8b' },
        resources: { gpus: 1 },
        restart: { attempts: 3, within: 600_000, delay: 5_000 },
        stop_grace: 10_000,
      },
    },
    constraints: [],
    strategy: 'binpack',
    pin: {},
    update: { max_parallel: 1, canary: 0, healthy_for: 30_000, auto_revert: true, deadline: 300_000 },
    reschedule: { offline_grace: 120_000 },
    ...over,
  };
}

export const NODE_A = 'did:key:z6MkNodeAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
export const NODE_B = 'did:key:z6MkNodeBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB';

/** One allocation of job `job`, running on gpu-a GPU `index` unless told otherwise. */
export function allocationFixture(job: string, index: number, over: Partial<AllocationView> = {}): AllocationView {
  return {
    id: `alloc_${job}_${index}_aaaaaaaa`,
    job,
    jobVersion: 1,
    group: 'web',
    index,
    name: `web-${index}`,
    nodeId: NODE_A,
    hostname: 'gpu-a',
    desired: 'run',
    status: 'running',
    healthy: true,
    restarts: 0,
    exitCode: null,
    message: '',
    gpus: [{ index, uuid: `GPU-${String(index).repeat(8)}-1111-2222-3333-444455556666`, name: 'NVIDIA H100 80GB HBM3' }],
    replaces: null,
    replacedBy: null,
    stopCause: null,
    createdAt: '2025-05-01T12:00:00.000Z',
    updatedAt: '2025-05-01T12:00:05.000Z',
    ...over,
  };
}

/** A running job of `count` allocations on gpu-a, version 1. */
export function jobDetailFixture(name = 'llama', count = 2, over: Partial<JobDetailView> = {}): JobDetailView {
  const spec = jobSpecFixture(name, count);
  return {
    name,
    kind: 'service',
    status: 'running',
    version: 1,
    desired: count,
    running: count,
    gpus: count,
    submittedBy: 'ops',
    createdAt: '2025-05-01T12:00:00.000Z',
    updatedAt: '2025-05-01T12:00:05.000Z',
    spec,
    source: `name: ${name}\nallocations:\n  web:\n    count: ${count}\n`,
    versions: [
      {
        version: 1,
        specHash: 'a'.repeat(64),
        invoker: 'did:key:z6MkOperatorAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
        submittedBy: 'ops',
        submittedAt: '2025-05-01T12:00:00.000Z',
        status: 'current',
      },
    ],
    allocations: Array.from({ length: count }, (_, i) => allocationFixture(name, i)),
    deployment: null,
    ...over,
  };
}

/** A plan that places `placed` allocations on gpu-a and cannot place `unplaced` more. */
export function planFixture(job = 'llama', placed = 2, unplaced = 0): PlanView {
  return {
    job,
    version: null,
    placements: Array.from({ length: placed }, (_, i) => ({
      name: `web-${i}`,
      group: 'web',
      index: i,
      nodeId: NODE_A,
      hostname: 'gpu-a',
      gpus: [{ index: i, uuid: `GPU-${i}`, name: 'NVIDIA H100 80GB HBM3' }],
      score: 0.5,
    })),
    unchanged: 0,
    stops: [],
    failures:
      unplaced === 0
        ? []
        : [
            {
              group: 'web',
              unplaced,
              rejections: [
                { reason: 'gpu_model', nodes: 3, message: '3 nodes lack free GPUs of model H100' },
                { reason: 'cordoned', nodes: 2, message: '2 nodes are cordoned' },
              ],
              message: '3 nodes lack free H100s, 2 are cordoned',
            },
          ],
    nodesEvaluated: 6,
  };
}
