import type { AllocDesired, AllocStatus, AllocStopCause, AssignedGpu } from '@gpufleet/protocol';

/**
 * Workloads as stored (issue 10, migration 0007): jobs, their signed versions, allocations and
 * the GPU claims that make double-booking impossible (one row per node GPU, primary key
 * (node_id, gpu_index), so a second claim of the same GPU fails in the database itself).
 * Times are epoch ms.
 */

export interface JobRecord {
  name: string;
  kind: 'service' | 'batch';
  /** active: the scheduler keeps its allocations placed; stopped: an operator stopped it. */
  state: 'active' | 'stopped';
  currentVersion: number;
  /** The API principal that submitted the current version. */
  submittedBy: string;
  createdAt: number;
  updatedAt: number;
  stoppedAt: number | null;
}

export interface JobVersionRecord {
  job: string;
  version: number;
  /** jobSpecHash of the signed spec. */
  specHash: string;
  /** The SignedJob exactly as submitted (any JSON): delivered verbatim to hosts. */
  signed: unknown;
  /** The job file's text, when the submitter sent it. */
  source: string | null;
  invoker: string;
  submittedBy: string;
  submittedAt: number;
  status: 'current' | 'superseded' | 'reverted';
}

export interface AllocationRecord {
  id: string;
  job: string;
  jobVersion: number;
  group: string;
  index: number;
  nodeId: string;
  hostname: string;
  desired: AllocDesired;
  status: AllocStatus;
  healthy: boolean | null;
  /** When the host last reported it healthy without a break since (rolling updates wait on it); null otherwise. */
  healthySince: number | null;
  restarts: number;
  exitCode: number | null;
  message: string;
  gpus: AssignedGpu[];
  /** CPU cores and memory bytes reserved on the node (null: none asked for). */
  cpu: number | null;
  memory: number | null;
  replaces: string | null;
  replacedBy: string | null;
  stopCause: AllocStopCause | null;
  createdAt: number;
  updatedAt: number;
}

/**
 * The fields a patch may change. `gpus` is refused at run time (invalid_argument): GPUs are
 * claimed when a plan places the allocation, and a new placement is a new allocation.
 */
export type AllocationPatch = Partial<Omit<AllocationRecord, 'id' | 'job' | 'group' | 'index' | 'nodeId' | 'createdAt'>>;

/** A GPU held by an allocation. Released when the allocation ends (stopped, failed, complete, lost, refused). */
export interface GpuClaimRecord {
  nodeId: string;
  gpuIndex: number;
  gpuUuid: string | null;
  allocId: string;
}

export interface DeploymentRecord {
  id: string;
  job: string;
  fromVersion: number | null;
  toVersion: number;
  state: 'running' | 'succeeded' | 'failed' | 'reverted';
  message: string;
  startedAt: number;
  finishedAt: number | null;
}

export interface AllocOutputInput {
  allocId: string;
  stream: 'stdout' | 'stderr';
  /**
   * Counts up per allocation and stream over the allocation's whole life on its host, restarts
   * included: a chunk stored already (same allocation, stream, chunk) is skipped, so an outbox
   * item sent again after a reconnect does not repeat output (as run output).
   */
  chunk: number;
  data: string;
  at: number;
}

export interface AllocOutputRecord extends AllocOutputInput {
  /** Increasing id: a follower asks for what came after the last one it saw. */
  id: number;
}

export interface ListAllocationsQuery {
  job?: string;
  nodeId?: string;
  /** Only allocations whose desired state is run or whose status is not final. */
  active?: boolean;
}

/** What a plan commits atomically: new allocations with their claims, and changes to existing ones. */
export interface PlanCommit {
  inserts: AllocationRecord[];
  updates: Array<{ id: string; patch: AllocationPatch }>;
  /** Allocations whose GPU claims are released in the same transaction. */
  release: string[];
}

/** A commit refused because a GPU it claims is already claimed (another plan won the race). */
export interface PlanConflict {
  nodeId: string;
  gpuIndex: number;
  heldBy: string;
}

export interface WorkloadStore {
  /**
   * Records a new version of a job (creating the job at version 1), marks the previous current
   * version superseded, and points the job at it, in one transaction. Returns the version number:
   * one more than any the job ever had (reverts included), never the same for concurrent calls.
   * The job becomes active again (stoppedAt null): submitting means wanting it to run.
   */
  addJobVersion(input: Omit<JobVersionRecord, 'version' | 'status'> & { kind: JobRecord['kind']; at: number }): Promise<number>;
  getJob(name: string): Promise<JobRecord | undefined>;
  listJobs(): Promise<JobRecord[]>;
  /** Newest first. */
  listJobVersions(job: string): Promise<JobVersionRecord[]>;
  getJobVersion(job: string, version: number): Promise<JobVersionRecord | undefined>;
  /** Sets the job's state (stopped / active again) and, for a revert, which version is current (that one 'current', the others 'superseded' except those marked 'reverted'). not_found for an unknown job or version. */
  updateJob(name: string, patch: Partial<Pick<JobRecord, 'state' | 'currentVersion' | 'stoppedAt' | 'updatedAt'>>): Promise<void>;
  /** not_found for an unknown job or version. */
  setJobVersionStatus(job: string, version: number, status: JobVersionRecord['status']): Promise<void>;
  /** Forgets a job: versions, allocations, their claims and output, deployments. An unknown job is no error. */
  purgeJob(name: string): Promise<void>;

  /**
   * Applies a plan in one transaction; when a claim conflicts nothing is written and the conflicts
   * are returned. An update of an unknown allocation is not_found and an insert of a taken id
   * already_exists (nothing written either way); releasing an allocation holding no claims is no error.
   */
  commitPlan(plan: PlanCommit): Promise<{ ok: true } | { ok: false; conflicts: PlanConflict[] }>;
  /** not_found when absent. Claims stay: endAllocation releases them. */
  updateAllocation(id: string, patch: AllocationPatch): Promise<void>;
  /** Releases an allocation's GPU claims (and sets the patch) in one transaction; not_found when absent. */
  endAllocation(id: string, patch: AllocationPatch): Promise<void>;
  getAllocation(id: string): Promise<AllocationRecord | undefined>;
  /** Oldest first (createdAt, then id). */
  listAllocations(query: ListAllocationsQuery): Promise<AllocationRecord[]>;
  /** Every claim, by node then GPU index. */
  listGpuClaims(): Promise<GpuClaimRecord[]>;

  upsertDeployment(d: DeploymentRecord): Promise<void>;
  /** The job's newest deployment. */
  latestDeployment(job: string): Promise<DeploymentRecord | undefined>;

  appendAllocOutput(chunks: ReadonlyArray<AllocOutputInput>): Promise<void>;
  /** Oldest first, ids above afterId. */
  listAllocOutput(allocId: string, afterId: number, limit: number): Promise<AllocOutputRecord[]>;
  /** Keeps only the newest `keepBytes` of an allocation's output (by data length); returns rows deleted. */
  trimAllocOutput(allocId: string, keepBytes: number): Promise<number>;
}
