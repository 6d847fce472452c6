import type { ApplyPoolsResult, PoolDetailView, PoolEventView, PoolOperationView, PoolsConfig, PoolView } from '@gpufleet/protocol';

/**
 * What the REST routes, the CLI's local calls and the dashboard ask of pools (issue 11). The pool
 * manager implements it; errors are FleetErrors (not_found, invalid_argument, failed_precondition)
 * whose messages say what to do.
 */
export interface PoolsApi {
  list(): Promise<PoolView[]>;
  /** not_found for an unknown pool. */
  get(name: string): Promise<PoolDetailView>;
  /** Oldest first after `after`; without `after`, the newest `limit` (default 100, at most 1000). One pool or all (null). */
  events(pool: string | null, query: { after?: number; limit?: number }): Promise<PoolEventView[]>;
  /**
   * Applies a whole pools file: providers and pools not in it are removed (a removed pool's nodes
   * are left running and lose nothing; they are no longer managed). invalid_argument when a pool
   * names a provider the file does not define or a provider type this server lacks.
   */
  apply(config: PoolsConfig, baseDir: string, actor: string): Promise<ApplyPoolsResult>;
  /** Sets the desired size; invalid_argument outside min..max (the message gives the range). */
  scale(name: string, to: number, reason: string, actor: string): Promise<PoolView>;
  /** Marks a member node for replacement (provision first, then drain, then terminate). */
  replace(name: string, nodeRef: string, reason: string, actor: string): Promise<PoolOperationView>;
}

/**
 * Allocations waiting because nothing fits (the workload service): the pool manager grows a pool
 * whose new nodes would take them. One entry per job group with unplaced slots.
 */
export interface PendingDemand {
  pendingSlots(): PendingSlots[];
}

export interface PendingSlots {
  job: string;
  group: string;
  /** Slots of this group not placed. */
  count: number;
  gpusPerSlot: number;
  /** Models the slot accepts (the job's gpu_model); empty: any. */
  gpuModels: string[];
  /** GPU memory per GPU the slot needs, bytes; 0: any. */
  gpuMemoryMinBytes: number;
  /** The job's constraints as selector text ("region in (eu,us)", "!spot"). */
  constraints: string[];
  /** Since when the oldest of them waits. */
  since: number;
}
