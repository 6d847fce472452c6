import type { AllocationRecord } from '../../../store/workload-records.js';

/** A running allocation of job llama on `nodeId` holding `gpus`; any field overridable. */
export function allocation(id: string, nodeId: string, gpus: number[], patch: Partial<AllocationRecord> = {}): AllocationRecord {
  return {
    id,
    job: 'llama',
    jobVersion: 1,
    group: 'web',
    index: 0,
    nodeId,
    hostname: `host-${nodeId}`,
    desired: 'run',
    status: 'running',
    healthy: null,
    healthySince: null,
    restarts: 0,
    exitCode: null,
    message: '',
    gpus: gpus.map((index) => ({ index, uuid: `GPU-${nodeId}-${index}` })),
    cpu: null,
    memory: null,
    replaces: null,
    replacedBy: null,
    stopCause: null,
    createdAt: 0,
    updatedAt: 0,
    ...patch,
  };
}
