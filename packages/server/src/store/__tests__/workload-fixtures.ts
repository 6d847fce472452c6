import type { AllocationRecord, AllocOutputInput, DeploymentRecord, JobRecord, JobVersionRecord, PlanCommit } from '../store.js';
import { T0 } from './store-fixtures.js';

/** Sample workload records for the store contract suite (0007_workloads). */

export const NODE_A = 'did:key:z6MkWorkNodeA';
export const NODE_B = 'did:key:z6MkWorkNodeB';

/** A SignedJob-shaped value: the store keeps any JSON as it came. */
export function sampleSigned(job: string, n = 1): unknown {
  return {
    payload: { spec: { name: job, allocations: { web: { count: n, env: { NOTE: 'ünï "quoted" \\ \n' } } } }, iat: T0, nonce: `n${n}` },
    sig: 'c2lnbmF0dXJl',
  };
}

export type JobVersionInput = Omit<JobVersionRecord, 'version' | 'status'> & { kind: JobRecord['kind']; at: number };

export function sampleVersionInput(job: string, n = 1, overrides: Partial<JobVersionInput> = {}): JobVersionInput {
  return {
    job,
    specHash: n.toString(16).padStart(64, '0'),
    signed: sampleSigned(job, n),
    source: `name: ${job}\nallocations:\n  web: { count: ${n} }\n`,
    invoker: 'did:key:z6MkOperator',
    submittedBy: `token:ops(t${n})`,
    submittedAt: T0 + n * 1000,
    kind: 'service',
    at: T0 + n * 1000,
    ...overrides,
  };
}

/** An allocation with every nullable field set; pass overrides for the variant under test. */
export function sampleAllocation(id: string, overrides: Partial<AllocationRecord> = {}): AllocationRecord {
  return {
    id,
    job: 'llama',
    jobVersion: 1,
    group: 'web',
    index: 0,
    nodeId: NODE_A,
    hostname: 'gpu-host-a',
    desired: 'run',
    status: 'running',
    healthy: true,
    healthySince: T0 + 10,
    restarts: 2,
    exitCode: 137,
    message: 'restarted after "exit 137" ✓',
    gpus: [{ index: 0, uuid: 'GPU-00000000-aaaa-bbbb-cccc-000000000000' }],
    cpu: 7.5,
    memory: 68_719_476_736,
    replaces: 'alloc-old-0001',
    replacedBy: 'alloc-new-0001',
    stopCause: 'gpu_unhealthy',
    createdAt: T0,
    updatedAt: T0 + 20,
    ...overrides,
  };
}

/** The same allocation as the scheduler first places it: nullable fields null. */
export function placedAllocation(id: string, overrides: Partial<AllocationRecord> = {}): AllocationRecord {
  return sampleAllocation(id, {
    status: 'pending',
    healthy: null,
    healthySince: null,
    restarts: 0,
    exitCode: null,
    message: '',
    cpu: null,
    memory: null,
    replaces: null,
    replacedBy: null,
    stopCause: null,
    updatedAt: T0,
    ...overrides,
  });
}

/** A plan that only inserts. */
export const inserting = (...inserts: AllocationRecord[]): PlanCommit => ({ inserts, updates: [], release: [] });

/** `count` GPUs with indexes from `first`, UUIDs derived from the index. */
export function gpusOf(first: number, count = 1): AllocationRecord['gpus'] {
  return Array.from({ length: count }, (_, i) => ({ index: first + i, uuid: `GPU-${String(first + i).padStart(8, '0')}` }));
}

export function sampleDeployment(id: string, overrides: Partial<DeploymentRecord> = {}): DeploymentRecord {
  return {
    id,
    job: 'llama',
    fromVersion: 1,
    toVersion: 2,
    state: 'running',
    message: 'canary 1 of 1 placed',
    startedAt: T0,
    finishedAt: T0 + 60_000,
    ...overrides,
  };
}

export function outputChunk(allocId: string, chunk: number, data = `line ${chunk}\n`, stream: AllocOutputInput['stream'] = 'stdout'): AllocOutputInput {
  return { allocId, stream, chunk, data, at: T0 + chunk };
}
