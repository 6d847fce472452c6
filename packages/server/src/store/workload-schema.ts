import type { Generated } from 'kysely';

/**
 * Row shapes of the workload tables (0007_workloads); same conventions as schema.ts: times are
 * bigint epoch ms, JSON is text, booleans are integers 0/1.
 */

export interface JobsTable {
  name: string;
  kind: string;
  state: string;
  current_version: number;
  /** The highest version number ever given to this job: the next one is this plus one, even after a revert. */
  last_version: number;
  submitted_by: string;
  created_at: number;
  updated_at: number;
  stopped_at: number | null;
}

export interface JobVersionsTable {
  job: string;
  version: number;
  spec_hash: string;
  signed: string; // JSON SignedJob, as submitted
  source: string | null;
  invoker: string;
  submitted_by: string;
  submitted_at: number;
  status: string;
}

export interface AllocationsTable {
  id: string;
  job: string;
  job_version: number;
  alloc_group: string;
  alloc_index: number;
  node_id: string;
  hostname: string;
  desired: string;
  status: string;
  healthy: number | null; // 0/1, null: no verdict
  healthy_since: number | null;
  restarts: number;
  exit_code: number | null;
  message: string;
  gpus: string; // JSON AssignedGpu[]
  cpu: number | null; // cores, may be fractional
  memory: number | null;
  replaces: string | null;
  replaced_by: string | null;
  stop_cause: string | null;
  created_at: number;
  updated_at: number;
}

/** One row per claimed GPU; the primary key (node_id, gpu_index) refuses a second claim. */
export interface GpuClaimsTable {
  node_id: string;
  gpu_index: number;
  gpu_uuid: string | null;
  alloc_id: string;
}

export interface AllocOutputTable {
  id: Generated<number>;
  alloc_id: string;
  stream: string;
  chunk: number;
  data: string;
  at: number;
}

export interface DeploymentsTable {
  id: string;
  job: string;
  from_version: number | null;
  to_version: number;
  state: string;
  message: string;
  started_at: number;
  finished_at: number | null;
}

export interface WorkloadTables {
  jobs: JobsTable;
  job_versions: JobVersionsTable;
  allocations: AllocationsTable;
  gpu_claims: GpuClaimsTable;
  alloc_output: AllocOutputTable;
  deployments: DeploymentsTable;
}
