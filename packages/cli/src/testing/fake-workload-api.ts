import type { AllocationView, JobDetailView, JobSpec, PlanView } from '@gpufleet/protocol';
import { FakeRunApi } from './fake-run-api.js';

/**
 * Views of workloads for the jobs/allocs commands' tests, shaped as workload-views.ts says the
 * server answers. The server is FakeRunApi (JSON routes and scripted SSE streams).
 */
export { FakeRunApi as FakeWorkloadApi };

export const T0 = '2025-06-01T12:00:00.000Z';

/** An allocation of job `job`, group web, with defaults; `over` sets any field. */
export function allocOf(index: number, over: Partial<AllocationView> = {}): AllocationView {
  const group = over.group ?? 'web';
  return {
    id: `alloc_${group}${index}_0000000000`,
    job: 'llama',
    jobVersion: 1,
    group,
    index,
    name: `${group}-${index}`,
    nodeId: `did:key:z6MkHost${index}`,
    hostname: `gpu-node-${String(index + 1).padStart(2, '0')}`,
    desired: 'run',
    status: 'running',
    healthy: null,
    restarts: 0,
    exitCode: null,
    message: '',
    gpus: [{ index: 0, uuid: `GPU-${index}f2a1c3e-7d4b-4c1e-9a2b-000000000000`, name: 'NVIDIA H100 80GB HBM3' }],
    replaces: null,
    replacedBy: null,
    stopCause: null,
    createdAt: T0,
    updatedAt: T0,
    ...over,
  };
}

/** A small normalized spec (web: `count` containers of one GPU each), as the server keeps it. */
export function specOf(count: number, health = false): JobSpec {
  return {
    name: 'llama',
    kind: 'service',
    allocations: {
      web: {
        count,
        executor: 'container',
        image: 'busybox',
        env: {},
        resources: { gpus: 1 },
        ...(health ? { health: { http: ':8000/health', interval: 10_000, timeout: 2_000, grace: 30_000, failures: 3 } } : {}),
        restart: { attempts: 3, within: 600_000, delay: 5_000 },
        stop_grace: 10_000,
      },
    },
    constraints: [],
    strategy: 'binpack',
    pin: {},
    update: { max_parallel: 1, canary: 0, healthy_for: 30_000, auto_revert: false, deadline: 600_000 },
    reschedule: { offline_grace: 120_000 },
  };
}

/** A job detail with its allocations; counts follow the allocations unless `over` sets them. */
export function jobOf(allocations: AllocationView[], over: Partial<JobDetailView> = {}): JobDetailView {
  const version = over.version ?? 1;
  const current = allocations.filter((a) => a.jobVersion === version && a.desired === 'run');
  return {
    name: 'llama',
    kind: 'service',
    status: current.length > 0 && current.every((a) => a.status === 'running') ? 'running' : 'pending',
    version,
    desired: 4,
    running: current.filter((a) => a.status === 'running').length,
    gpus: current.reduce((n, a) => n + a.gpus.length, 0),
    submittedBy: 'token:ops(t1)',
    createdAt: T0,
    updatedAt: T0,
    spec: specOf(over.desired ?? 4),
    source: null,
    versions: [
      {
        version,
        specHash: 'ab'.repeat(32),
        invoker: 'did:key:z6MkOperatorAAAAAAAAAAAAAAAAAAAAAAAAAAA',
        submittedBy: 'token:ops(t1)',
        submittedAt: T0,
        status: 'current',
      },
    ],
    allocations,
    deployment: null,
    ...over,
  };
}

/** A plan for job llama; `over` sets placements, failures and the rest. */
export function planOf(over: Partial<PlanView> = {}): PlanView {
  return { job: 'llama', version: 1, placements: [], unchanged: 0, stops: [], failures: [], nodesEvaluated: 12, ...over };
}
