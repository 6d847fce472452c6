/**
 * REST shapes of workloads (issue 10), plain types with no schema library so the dashboard can
 * import this file by relative path. Times are ISO 8601.
 */

/**
 * Server-side status of an allocation. pending: placed, not yet confirmed by its host;
 * starting / running / restarting / failed / complete / refused: what the host last reported;
 * stopping: told to stop, not confirmed; stopped: confirmed stopped (or its host is gone for
 * good); lost: its node was OFFLINE past the job's offline grace, so it was replaced.
 */
export const ALLOC_STATUSES = ['pending', 'starting', 'running', 'restarting', 'failed', 'complete', 'refused', 'stopping', 'stopped', 'lost'] as const;
export type AllocStatus = (typeof ALLOC_STATUSES)[number];

/** Whether the server wants the allocation running. */
export const ALLOC_DESIRED = ['run', 'stop'] as const;
export type AllocDesired = (typeof ALLOC_DESIRED)[number];

/** Why an allocation was told to stop or replaced. */
export const ALLOC_STOP_CAUSES = [
  'job_stopped',
  'gpu_unhealthy',
  'node_lost',
  'node_drained',
  'updated',
  'reverted',
  'scaled_down',
  'failed',
  'refused',
  'operator',
] as const;
export type AllocStopCause = (typeof ALLOC_STOP_CAUSES)[number];

export interface AllocGpuView {
  index: number;
  uuid: string | null;
  /** The GPU's model name as the node's inventory reports it; null when unknown. */
  name: string | null;
}

export interface AllocationView {
  id: string;
  job: string;
  jobVersion: number;
  group: string;
  index: number;
  /** `web-0`; people address an allocation as `job/name` (llama/web-0). */
  name: string;
  nodeId: string;
  hostname: string;
  desired: AllocDesired;
  status: AllocStatus;
  /** The host's health check verdict; null without a check or before the first one. */
  healthy: boolean | null;
  restarts: number;
  exitCode: number | null;
  /** The host's last message (a refusal's reason, why it failed...). */
  message: string;
  gpus: AllocGpuView[];
  /** The allocation this one replaced, and the one that replaced it. */
  replaces: string | null;
  replacedBy: string | null;
  stopCause: AllocStopCause | null;
  createdAt: string;
  updatedAt: string;
}

export const JOB_STATUSES = ['pending', 'running', 'degraded', 'complete', 'stopped', 'failed'] as const;
/**
 * pending: nothing running yet (placing, or cannot be placed); running: every allocation
 * wanted is running; degraded: some are not (failed, pending, lost); complete: a batch job
 * whose allocations all exited 0; stopped: an operator stopped it; failed: every allocation failed.
 */
export type JobStatus = (typeof JOB_STATUSES)[number];

export interface JobSummaryView {
  name: string;
  kind: 'service' | 'batch';
  status: JobStatus;
  version: number;
  /** Allocations wanted (the sum of the groups' counts) and those running now. */
  desired: number;
  running: number;
  /** GPUs held by the job's allocations. */
  gpus: number;
  submittedBy: string;
  createdAt: string;
  updatedAt: string;
}

export interface JobVersionView {
  version: number;
  specHash: string;
  /** The signer's DID. */
  invoker: string;
  submittedBy: string;
  submittedAt: string;
  /** current: the one wanted; superseded: an older one; reverted: an update that was rolled back. */
  status: 'current' | 'superseded' | 'reverted';
}

/** A rolling update in progress (or the last one). */
export interface DeploymentView {
  fromVersion: number | null;
  toVersion: number;
  state: 'running' | 'succeeded' | 'failed' | 'reverted';
  canaries: number;
  placed: number;
  healthy: number;
  message: string;
  startedAt: string;
  finishedAt: string | null;
}

export interface JobDetailView extends JobSummaryView {
  /** The current version's normalized spec (JobSpec), and the job file as submitted. */
  spec: unknown;
  source: string | null;
  versions: JobVersionView[];
  allocations: AllocationView[];
  deployment: DeploymentView | null;
  /** Why the slots that found no node could not be placed (empty when everything is placed). */
  placementFailures?: PlanFailure[];
  /** Allocation names that failed for good (out of replacements for this version). */
  exhausted?: string[];
}

/** One allocation the scheduler would place (or placed). */
export interface PlannedPlacement {
  name: string;
  group: string;
  index: number;
  nodeId: string;
  hostname: string;
  gpus: AllocGpuView[];
  score: number;
}

/**
 * Why nodes were rejected for a group: one line per reason with the node count, e.g.
 * { reason: 'gpu_model', nodes: 3, message: "3 nodes lack free GPUs of model H100" }.
 */
export interface PlanRejection {
  reason: string;
  nodes: number;
  message: string;
}

export interface PlanFailure {
  group: string;
  /** Allocations of the group that found no node. */
  unplaced: number;
  rejections: PlanRejection[];
  /** One sentence: "3 nodes lack free H100s, 2 are cordoned, 1 fails `!spot`". */
  message: string;
}

export interface PlanView {
  job: string;
  /** The version the plan is for (null for a dry run of a file never submitted). */
  version: number | null;
  placements: PlannedPlacement[];
  /** Allocations kept as they are (the same version already runs there). */
  unchanged: number;
  /** Allocations that would be stopped (a smaller count, a replaced version). */
  stops: string[];
  failures: PlanFailure[];
  nodesEvaluated: number;
}

export interface SubmitJobResponse {
  job: JobDetailView;
  /** False when the same spec was already the current version (nothing changed). */
  created: boolean;
  plan: PlanView;
}
