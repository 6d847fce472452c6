import type { AssignedGpu, GpuVendor, JobSpec, Labels, PlanFailure } from '@gpufleet/protocol';

/**
 * The scheduler's inputs and outputs (issue 10). The scheduler is a pure, transport-neutral
 * function of these: it reads a snapshot of the fleet and the claims, never the store or the
 * network, so it can be table-tested, property-tested and benchmarked on its own.
 */

export interface SchedGpu {
  index: number;
  uuid: string | null;
  vendor: GpuVendor;
  /** Model name as the inventory reports it (`NVIDIA H100 80GB HBM3`). */
  name: string | null;
  memoryTotalBytes: number | null;
  pciBusId: string | null;
  /** The GPU's own state: only READY GPUs take new work. */
  state: 'READY' | 'CORDONED' | 'UNHEALTHY';
}

export interface SchedNode {
  id: string;
  hostname: string;
  /** Effective labels (built-in, token, operator): what job constraints and spread are matched against. */
  labels: Labels;
  /** The node's state (READY, CORDONED, DRAINING, DRAINED, UNHEALTHY, OFFLINE, PENDING...): only READY takes new work. */
  state: string;
  cpuCores: number | null;
  memoryBytes: number | null;
  gpus: SchedGpu[];
}

/** What is already taken, as the plan applier's claim table knows it. */
export interface ClaimView {
  /** The allocation holding this GPU, or null when it is free. */
  gpuHolder(nodeId: string, gpuIndex: number): string | null;
  /** CPU cores and memory bytes reserved on the node by running allocations. */
  cpuReserved(nodeId: string): number;
  memoryReserved(nodeId: string): number;
  /** How many live allocations of this job (all groups) are on the node: spread scores by it. */
  jobAllocsOnNode(job: string, nodeId: string): number;
  /**
   * The nodes where the job has live allocations, with how many on each. Optional: spread over a
   * label reads it to count per label value; without it the scheduler asks every node.
   */
  jobNodes?(job: string): ReadonlyMap<string, number>;
}

/**
 * A claim view that says when a node's claims change (the claim table), so the fleet index can
 * keep its free-GPU tiers current without rescanning the fleet.
 */
export interface ObservableClaims extends ClaimView {
  /** Calls `listener` with the node's id after any claim or release on it; returns the unsubscribe. */
  onNodeChange(listener: (nodeId: string) => void): () => void;
  /**
   * Optional: calls `listener` when a job gains (delta 1) or loses (delta -1) an allocation on a
   * node, and with null when everything was reloaded; returns the unsubscribe. With it the fleet
   * index keeps spread-over-a-label counts current instead of recounting them for every plan.
   */
  onJobChange?(listener: (change: JobClaimChange | null) => void): () => void;
}

export interface JobClaimChange {
  job: string;
  nodeId: string;
  delta: number;
}

/** One allocation to place. */
export interface PlacementRequest {
  job: JobSpec;
  group: string;
  index: number;
  /** Nodes not to use (the one a replaced allocation was lost from). */
  avoid?: readonly string[];
}

export interface Placement {
  request: PlacementRequest;
  nodeId: string;
  hostname: string;
  gpus: AssignedGpu[];
  cpu: number | null;
  memory: number | null;
  score: number;
}

export interface ScheduleResult {
  placements: Placement[];
  /** Per group, why the allocations that found no node did not (messages for `jobs plan`). */
  failures: PlanFailure[];
  nodesEvaluated: number;
}

/**
 * A scheduler places a batch of requests against a snapshot, taking its own placements into
 * account as it goes (two requests of one batch never get the same GPU). It does not commit.
 */
export interface Scheduler {
  schedule(requests: readonly PlacementRequest[], claims: ClaimView): ScheduleResult;
}
