import { ALLOC_DESIRED, ALLOC_STATUSES, ALLOC_STOP_CAUSES, FleetError, type AllocDesired, type AllocStatus, type AllocStopCause } from '@gpufleet/protocol';
import type { Selectable, Updateable } from 'kysely';
import type { AllocationsTable, AllocOutputTable, DeploymentsTable, GpuClaimsTable, JobsTable, JobVersionsTable } from './workload-schema.js';
import type {
  AllocationPatch,
  AllocationRecord,
  AllocOutputInput,
  AllocOutputRecord,
  DeploymentRecord,
  GpuClaimRecord,
  JobRecord,
  JobVersionRecord,
} from './workload-records.js';
import {
  checkArray,
  checkId,
  checkInt,
  checkIntOrNull,
  checkObject,
  checkOneOf,
  checkText,
  checkTextOrNull,
  dbInt,
  dbIntOrNull,
  fromJson,
  toJson,
} from './store-checks.js';

/** Conversions between workload records and rows, both ways, for both dialects (0007_workloads). */

export const JOB_STATES: readonly JobRecord['state'][] = ['active', 'stopped'];
export const JOB_VERSION_STATUSES: readonly JobVersionRecord['status'][] = ['current', 'superseded', 'reverted'];
export const DEPLOYMENT_STATES: readonly DeploymentRecord['state'][] = ['running', 'succeeded', 'failed', 'reverted'];
export const ALLOC_OUTPUT_STREAMS: readonly AllocOutputInput['stream'][] = ['stdout', 'stderr'];
/** Statuses after which an allocation holds nothing on its host. */
export const FINAL_ALLOC_STATUSES: readonly AllocStatus[] = ['failed', 'complete', 'refused', 'stopped', 'lost'];

/** GPUs an allocation may hold: the most any node reports, with room to spare. */
const MAX_ALLOC_GPUS = 1024;

function checkNonNegative(field: string, value: unknown): number {
  const n = checkInt(field, value);
  if (n < 0) throw new FleetError('invalid_argument', `store: ${field} must not be negative, got ${n}`);
  return n;
}

function checkNonNegativeOrNull(field: string, value: unknown): number | null {
  return value === null ? null : checkNonNegative(field, value);
}

function checkPositive(field: string, value: unknown): number {
  const n = checkInt(field, value);
  if (n < 1) throw new FleetError('invalid_argument', `store: ${field} must be at least 1, got ${n}`);
  return n;
}

function checkHealthy(field: string, value: unknown): number | null {
  if (value === null) return null;
  if (typeof value !== 'boolean') throw new FleetError('invalid_argument', `store: ${field} must be a boolean or null`);
  return value ? 1 : 0;
}

/** CPU cores: a finite non-negative number (fractions allowed) or null. */
function checkCpu(field: string, value: unknown): number | null {
  if (value === null) return null;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new FleetError('invalid_argument', `store: ${field} must be a non-negative number or null`);
  }
  return value;
}

/** Assigned GPUs: index + UUID each, no index twice (the allocation would claim it twice). */
function checkGpus(field: string, value: unknown): string {
  const gpus = checkArray(field, value);
  if (gpus.length > MAX_ALLOC_GPUS) throw new FleetError('invalid_argument', `store: ${field} holds more than ${MAX_ALLOC_GPUS} GPUs`);
  const seen = new Set<number>();
  const clean = gpus.map((g, i) => {
    const gpu = checkObject(`${field}[${i}]`, g);
    const index = checkNonNegative(`${field}[${i}].index`, gpu.index);
    if (seen.has(index)) throw new FleetError('invalid_argument', `store: ${field} names GPU ${index} twice`);
    seen.add(index);
    // Only the two known keys are stored: what is read back is what the claims say.
    return { index, uuid: checkTextOrNull(`${field}[${i}].uuid`, gpu.uuid) };
  });
  return toJson(field, clean);
}

// ---- jobs and versions ----

export function rowToJob(row: Selectable<JobsTable>): JobRecord {
  return {
    name: row.name,
    kind: row.kind as JobRecord['kind'],
    state: row.state as JobRecord['state'],
    currentVersion: dbInt(row.current_version),
    submittedBy: row.submitted_by,
    createdAt: dbInt(row.created_at),
    updatedAt: dbInt(row.updated_at),
    stoppedAt: dbIntOrNull(row.stopped_at),
  };
}

/** The job version row of addJobVersion's input (version and status are the store's to set). */
export function jobVersionInputToRow(input: Omit<JobVersionRecord, 'version' | 'status'>): Omit<JobVersionsTable, 'version' | 'status'> {
  checkObject('job version', input);
  return {
    job: checkId('job', input.job),
    spec_hash: checkId('specHash', input.specHash),
    signed: toJson('signed', input.signed),
    source: checkTextOrNull('source', input.source),
    invoker: checkId('invoker', input.invoker),
    submitted_by: checkText('submittedBy', input.submittedBy),
    submitted_at: checkInt('submittedAt', input.submittedAt),
  };
}

export function rowToJobVersion(row: Selectable<JobVersionsTable>): JobVersionRecord {
  return {
    job: row.job,
    version: dbInt(row.version),
    specHash: row.spec_hash,
    signed: fromJson(`job_versions.signed of ${row.job} v${row.version}`, row.signed),
    source: row.source,
    invoker: row.invoker,
    submittedBy: row.submitted_by,
    submittedAt: dbInt(row.submitted_at),
    status: row.status as JobVersionRecord['status'],
  };
}

// ---- allocations ----

/**
 * How each patchable AllocationRecord field becomes a column value; also the list of allowed patch
 * keys. `gpus` is not among them: GPUs are claimed when a plan places the allocation, and a patch
 * that changed them would leave the claims saying otherwise (a new placement is a new allocation).
 */
const allocationColumns: { [K in Exclude<keyof AllocationPatch, 'gpus'>]-?: (v: unknown) => Partial<AllocationsTable> } = {
  jobVersion: (v) => ({ job_version: checkPositive('jobVersion', v) }),
  hostname: (v) => ({ hostname: checkText('hostname', v) }),
  desired: (v) => ({ desired: checkOneOf('desired', v, ALLOC_DESIRED) }),
  status: (v) => ({ status: checkOneOf('status', v, ALLOC_STATUSES) }),
  healthy: (v) => ({ healthy: checkHealthy('healthy', v) }),
  healthySince: (v) => ({ healthy_since: checkIntOrNull('healthySince', v) }),
  restarts: (v) => ({ restarts: checkNonNegative('restarts', v) }),
  exitCode: (v) => ({ exit_code: checkIntOrNull('exitCode', v) }),
  message: (v) => ({ message: checkText('message', v) }),
  cpu: (v) => ({ cpu: checkCpu('cpu', v) }),
  memory: (v) => ({ memory: checkNonNegativeOrNull('memory', v) }),
  replaces: (v) => ({ replaces: checkTextOrNull('replaces', v) }),
  replacedBy: (v) => ({ replaced_by: checkTextOrNull('replacedBy', v) }),
  stopCause: (v) => ({ stop_cause: v === null ? null : checkOneOf('stopCause', v, ALLOC_STOP_CAUSES) }),
  updatedAt: (v) => ({ updated_at: checkInt('updatedAt', v) }),
};

export function allocationToRow(a: AllocationRecord, where = 'allocation'): AllocationsTable {
  checkObject(where, a);
  const f = (name: string) => `${where}.${name}`;
  const row: Partial<AllocationsTable> = {
    id: checkId(f('id'), a.id),
    job: checkId(f('job'), a.job),
    alloc_group: checkId(f('group'), a.group),
    alloc_index: checkNonNegative(f('index'), a.index),
    node_id: checkId(f('nodeId'), a.nodeId),
    gpus: checkGpus(f('gpus'), a.gpus),
    created_at: checkInt(f('createdAt'), a.createdAt),
  };
  for (const [key, toColumn] of Object.entries(allocationColumns)) {
    try {
      Object.assign(row, toColumn(a[key as keyof typeof allocationColumns]));
    } catch (err) {
      throw prefixed(err, where);
    }
  }
  return row as AllocationsTable;
}

/** The field names of a patch's errors are those of the record; this names the allocation too. */
function prefixed(err: unknown, where: string): unknown {
  if (err instanceof FleetError && err.code === 'invalid_argument') {
    return new FleetError('invalid_argument', err.message.replace(/^store: /, `store: ${where}.`), { cause: err });
  }
  return err;
}

/**
 * Only the keys present in the patch are written (an `undefined` value counts as absent); keys that
 * cannot change (id, job, group, index, nodeId, createdAt, gpus) and unknown ones are refused.
 */
export function allocationPatchToRow(patch: AllocationPatch, where = 'patch'): Updateable<AllocationsTable> {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) throw new FleetError('invalid_argument', `store: ${where} must be an object`);
  const row: Updateable<AllocationsTable> = {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    if (!Object.hasOwn(allocationColumns, key)) {
      const why = key === 'gpus' ? ' (GPUs are claimed when the allocation is placed)' : '';
      throw new FleetError('invalid_argument', `store: allocation field '${key}' cannot be patched${why}`);
    }
    try {
      Object.assign(row, (allocationColumns as Record<string, (v: unknown) => Partial<AllocationsTable>>)[key]!(value));
    } catch (err) {
      throw prefixed(err, where);
    }
  }
  return row;
}

export function rowToAllocation(row: Selectable<AllocationsTable>): AllocationRecord {
  return {
    id: row.id,
    job: row.job,
    jobVersion: dbInt(row.job_version),
    group: row.alloc_group,
    index: dbInt(row.alloc_index),
    nodeId: row.node_id,
    hostname: row.hostname,
    desired: row.desired as AllocDesired,
    status: row.status as AllocStatus,
    healthy: row.healthy === null ? null : dbInt(row.healthy) === 1,
    healthySince: dbIntOrNull(row.healthy_since),
    restarts: dbInt(row.restarts),
    exitCode: dbIntOrNull(row.exit_code),
    message: row.message,
    gpus: fromJson(`allocations.gpus of ${row.id}`, row.gpus) as AllocationRecord['gpus'],
    // float8 comes back as a number from both drivers; Number() covers a numeric string.
    cpu: row.cpu === null ? null : Number(row.cpu),
    memory: dbIntOrNull(row.memory),
    replaces: row.replaces,
    replacedBy: row.replaced_by,
    stopCause: row.stop_cause as AllocStopCause | null,
    createdAt: dbInt(row.created_at),
    updatedAt: dbInt(row.updated_at),
  };
}

/** The claim rows of an allocation row: one per assigned GPU. */
export function claimsOf(row: AllocationsTable): GpuClaimsTable[] {
  const gpus = JSON.parse(row.gpus) as AllocationRecord['gpus'];
  return gpus.map((g) => ({ node_id: row.node_id, gpu_index: g.index, gpu_uuid: g.uuid, alloc_id: row.id }));
}

export function rowToGpuClaim(row: Selectable<GpuClaimsTable>): GpuClaimRecord {
  return { nodeId: row.node_id, gpuIndex: dbInt(row.gpu_index), gpuUuid: row.gpu_uuid, allocId: row.alloc_id };
}

// ---- deployments and output ----

export function deploymentToRow(d: DeploymentRecord): DeploymentsTable {
  checkObject('deployment', d);
  return {
    id: checkId('deployment.id', d.id),
    job: checkId('deployment.job', d.job),
    from_version: d.fromVersion === null ? null : checkPositive('deployment.fromVersion', d.fromVersion),
    to_version: checkPositive('deployment.toVersion', d.toVersion),
    state: checkOneOf('deployment.state', d.state, DEPLOYMENT_STATES),
    message: checkText('deployment.message', d.message),
    started_at: checkInt('deployment.startedAt', d.startedAt),
    finished_at: checkIntOrNull('deployment.finishedAt', d.finishedAt),
  };
}

export function rowToDeployment(row: Selectable<DeploymentsTable>): DeploymentRecord {
  return {
    id: row.id,
    job: row.job,
    fromVersion: dbIntOrNull(row.from_version),
    toVersion: dbInt(row.to_version),
    state: row.state as DeploymentRecord['state'],
    message: row.message,
    startedAt: dbInt(row.started_at),
    finishedAt: dbIntOrNull(row.finished_at),
  };
}

export function allocOutputToRow(o: AllocOutputInput, i = 0): Omit<AllocOutputTable, 'id'> {
  const f = (name: string) => `chunks[${i}].${name}`;
  checkObject(`chunks[${i}]`, o);
  return {
    alloc_id: checkId(f('allocId'), o.allocId),
    stream: checkOneOf(f('stream'), o.stream, ALLOC_OUTPUT_STREAMS),
    chunk: checkNonNegative(f('chunk'), o.chunk),
    data: checkText(f('data'), o.data),
    at: checkInt(f('at'), o.at),
  };
}

export function rowToAllocOutput(row: Selectable<AllocOutputTable>): AllocOutputRecord {
  return {
    id: dbInt(row.id),
    allocId: row.alloc_id,
    stream: row.stream as AllocOutputRecord['stream'],
    chunk: dbInt(row.chunk),
    data: row.data,
    at: dbInt(row.at),
  };
}
