import type { PoolEventKind, PoolMemberState, PoolOpKind, PoolOpStage, PoolSpec, ProviderSpec } from '@gpufleet/protocol';

/**
 * Pools as stored (issue 11, migration 0008): the applied pools file, each pool's desired size,
 * its members (instance <-> node), its operations with the stage they reached (a restarted
 * server resumes from there), its events, and each provider's small key-value state.
 * Times are epoch ms.
 */

export interface ProviderConfigRecord {
  name: string;
  spec: ProviderSpec;
  /** The folder relative paths resolve against (the pools file's). */
  baseDir: string;
  appliedAt: number;
  appliedBy: string;
}

export interface PoolConfigRecord {
  name: string;
  spec: PoolSpec;
  appliedAt: number;
  appliedBy: string;
}

export interface PoolStateRecord {
  pool: string;
  desired: number;
  desiredSource: 'min' | 'manual' | 'autoscale';
  manualReason: string | null;
  /** Last scale-up and scale-down decisions: the cooldown counts from them. */
  lastScaleUpAt: number | null;
  lastScaleDownAt: number | null;
  updatedAt: number;
}

export interface PoolMemberRecord {
  instanceId: string;
  pool: string;
  provider: string;
  /** The operation that started it. */
  operationId: string;
  /** The single-use join token minted for it; the node that enrolled with it is this member. */
  joinTokenId: string;
  nodeId: string | null;
  instanceType: string;
  zone: string | null;
  state: PoolMemberState;
  pricePerHour: number | null;
  provisionedAt: number;
  joinedAt: number | null;
  terminatedAt: number | null;
  /** Since when the node is idle (no allocations, no runs); null: busy or unknown. Scale-down uses it. */
  idleSince: number | null;
}

export interface PoolOperationRecord {
  id: string;
  pool: string;
  kind: PoolOpKind;
  stage: PoolOpStage;
  reason: string;
  oldNodeId: string | null;
  instanceId: string | null;
  joinTokenId: string | null;
  newNodeId: string | null;
  zone: string | null;
  zonesTried: string[];
  attempts: number;
  error: string | null;
  startedAt: number;
  updatedAt: number;
  deadlineAt: number | null;
  /** When a retry is due after a transient error or backoff; null: now. */
  notBefore: number | null;
}

export type PoolOperationPatch = Partial<Omit<PoolOperationRecord, 'id' | 'pool' | 'kind' | 'startedAt'>>;

export interface PoolEventRecord {
  id: number;
  pool: string;
  at: number;
  kind: PoolEventKind;
  message: string;
  operationId: string | null;
  nodeId: string | null;
  instanceId: string | null;
}

export interface PoolSizeSample {
  pool: string;
  at: number;
  ready: number;
  desired: number;
}

export interface PoolStore {
  /**
   * Replaces the applied providers and pools with these in one transaction (what is not listed
   * is removed; members, operations, states and events of removed pools stay, for history).
   */
  replacePoolsConfig(providers: ProviderConfigRecord[], pools: PoolConfigRecord[]): Promise<void>;
  listProviderConfigs(): Promise<ProviderConfigRecord[]>;
  listPoolConfigs(): Promise<PoolConfigRecord[]>;

  getPoolState(pool: string): Promise<PoolStateRecord | undefined>;
  putPoolState(state: PoolStateRecord): Promise<void>;

  /** Inserts or replaces by instanceId. */
  putPoolMember(member: PoolMemberRecord): Promise<void>;
  /** Oldest first; terminated members only when asked. */
  listPoolMembers(query: { pool?: string; includeTerminated?: boolean }): Promise<PoolMemberRecord[]>;

  /** already_exists for a taken id. */
  insertPoolOperation(op: PoolOperationRecord): Promise<void>;
  /**
   * Compare-and-set on the stage: applies the patch only when the stored stage is `expectedStage`,
   * and says whether it did. Two servers (or a restarted one racing its old self) can never both
   * move an operation out of the same stage, so a provision is never asked twice.
   */
  updatePoolOperation(id: string, expectedStage: PoolOpStage, patch: PoolOperationPatch): Promise<boolean>;
  getPoolOperation(id: string): Promise<PoolOperationRecord | undefined>;
  /** Oldest first; `active`: stage not done or failed. */
  listPoolOperations(query: { pool?: string; active?: boolean; limit?: number }): Promise<PoolOperationRecord[]>;

  /** Appends and returns the ids given (increasing). */
  appendPoolEvents(events: ReadonlyArray<Omit<PoolEventRecord, 'id'>>): Promise<number[]>;
  /** Oldest first after the cursor id; newest `limit` when `newest`. */
  listPoolEvents(query: { pool?: string; after?: number; limit?: number; newest?: boolean }): Promise<PoolEventRecord[]>;

  appendPoolSizeSample(sample: PoolSizeSample): Promise<void>;
  /** Oldest first, since `since`. Samples older than `before` may be pruned with prunePoolSizeSamples. */
  listPoolSizeSamples(pool: string, since: number): Promise<PoolSizeSample[]>;
  prunePoolSizeSamples(before: number): Promise<number>;

  getProviderState(provider: string, key: string): Promise<unknown | undefined>;
  putProviderState(provider: string, key: string, value: unknown): Promise<void>;
  deleteProviderState(provider: string, key: string): Promise<void>;
  listProviderState(provider: string): Promise<Array<{ key: string; value: unknown }>>;
}
