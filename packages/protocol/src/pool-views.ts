/**
 * REST shapes of pools (issue 11), plain types with no schema library so the dashboard can import
 * this file by relative path. Times are ISO 8601.
 */

/** What a pool operation is doing. */
export const POOL_OP_KINDS = ['provision', 'replace', 'scale-down'] as const;
export type PoolOpKind = (typeof POOL_OP_KINDS)[number];

/**
 * Stages of an operation, stored before each step so a restarted server resumes where it was:
 * - provision: requested → provisioning → joining → done | failed
 * - replace:   requested → provisioning → joining → draining → terminating → done | failed
 *   (the old node is cordoned at `requested`; it is drained only once the new one is READY;
 *   a replacement that cannot come up ends failed with the old node kept, cordoned)
 * - scale-down: draining → terminating → done | failed
 */
export const POOL_OP_STAGES = ['requested', 'provisioning', 'joining', 'draining', 'terminating', 'done', 'failed'] as const;
export type PoolOpStage = (typeof POOL_OP_STAGES)[number];

/** Errors from a provider, one closed list; transient ones are retried with backoff. */
export const PROVIDER_ERROR_KINDS = ['quota', 'capacity', 'auth', 'invalid', 'not_found', 'transient'] as const;
export type ProviderErrorKind = (typeof PROVIDER_ERROR_KINDS)[number];

/** A pool member's life: provisioning (asked the provider) → joining (instance up, agent not enrolled) → active → terminating → terminated. */
export const POOL_MEMBER_STATES = ['provisioning', 'joining', 'active', 'terminating', 'terminated'] as const;
export type PoolMemberState = (typeof POOL_MEMBER_STATES)[number];

export interface PoolView {
  name: string;
  provider: string;
  providerType: string;
  instanceType: string;
  /** Members whose node is READY (enrolled, online, not cordoned). */
  ready: number;
  /** Members that exist in any state but terminated (provisioning, joining, active, terminating). */
  current: number;
  desired: number;
  /** Why `desired` is what it is: the floor, an operator's `pools scale`, or the autoscaler. */
  desiredSource: 'min' | 'manual' | 'autoscale';
  minNodes: number;
  maxNodes: number;
  gpus: number;
  /** Share of the pool's GPUs held by allocations, 0..100; null: the pool has no GPUs. */
  allocatedPct: number | null;
  /** Sum of active members' price; null when a member's price is unknown. */
  costPerHour: number | null;
  /** Operations not yet done or failed. */
  inFlight: number;
  /** When the last scale decision was made; cooldowns count from it. */
  lastScaleAt: string | null;
}

export interface PoolMemberView {
  instanceId: string;
  /** The node it enrolled as; null until it joins. */
  nodeId: string | null;
  hostname: string | null;
  zone: string | null;
  instanceType: string;
  state: PoolMemberState;
  /** The node's status (READY, CORDONED, DRAINING, OFFLINE, ...) once it joined. */
  nodeStatus: string | null;
  /** The node's health verdict once it joined. */
  health: 'healthy' | 'degraded' | 'unhealthy' | 'unknown' | null;
  gpus: number;
  allocations: number;
  pricePerHour: number | null;
  provisionedAt: string;
  joinedAt: string | null;
}

export interface PoolOperationView {
  id: string;
  pool: string;
  kind: PoolOpKind;
  stage: PoolOpStage;
  reason: string;
  /** The node being replaced or removed (replace, scale-down). */
  oldNodeId: string | null;
  /** The old node's hostname while the fleet still knows it (a terminated node is removed). */
  oldHostname: string | null;
  /** The instance asked for (provision, replace) or removed (scale-down). */
  instanceId: string | null;
  newNodeId: string | null;
  newHostname: string | null;
  zone: string | null;
  zonesTried: string[];
  attempts: number;
  error: string | null;
  startedAt: string;
  updatedAt: string;
  /** When the current stage gives up (join timeout, drain deadline); null: none. */
  deadlineAt: string | null;
}

export interface PoolDetailView extends PoolView {
  zones: string[];
  labels: Record<string, string>;
  cooldownMs: number;
  autoscaling: {
    pendingAllocations: boolean;
    scaleUpAtPct: number | null;
    scaleDownAtPct: number | null;
    idleForMs: number;
  } | null;
  health: { replaceAfterMs: number; maxParallelReplacements: number; maxUnavailable: string; joinTimeoutMs: number };
  members: PoolMemberView[];
  operations: PoolOperationView[];
  /** The operator's reason for the last `pools scale`, if desired came from one. */
  manualReason: string | null;
  /** Size over time for the dashboard: newest last, at most one point per minute for 24 h. */
  history: Array<{ at: string; ready: number; desired: number }>;
}

/** Kinds of pool events: each decision and each step, with its reason in `message`. */
export const POOL_EVENT_KINDS = [
  'applied',
  'scale-up',
  'scale-down',
  'manual-scale',
  'provision-started',
  'provisioned',
  'joined',
  'provision-failed',
  'replace-started',
  'draining',
  'terminated',
  'replace-done',
  'replace-failed',
  'held',
  'resumed',
] as const;
export type PoolEventKind = (typeof POOL_EVENT_KINDS)[number];

export interface PoolEventView {
  id: number;
  pool: string;
  at: string;
  kind: PoolEventKind;
  /** A sentence: "scale up 2: 5 allocations pending, no free H100". */
  message: string;
  operationId: string | null;
  nodeId: string | null;
  instanceId: string | null;
}

/** POST /api/v1/pools/{name}/scale */
export interface ScalePoolRequest {
  to: number;
  reason: string;
}

/** POST /api/v1/pools/apply: the pools file's text (YAML), parsed by the server so errors name the line. */
export interface ApplyPoolsRequest {
  source: string;
  /** The file's name, for error messages. */
  filename?: string;
  /** Where relative paths in it (an ssh provider's hosts_file) resolve; default the server's working folder. */
  baseDir?: string;
}

export interface ApplyPoolsResult {
  pools: Array<{ name: string; change: 'created' | 'updated' | 'unchanged' | 'removed' }>;
  providers: Array<{ name: string; change: 'created' | 'updated' | 'unchanged' | 'removed' }>;
}

/** POST /api/v1/pools/{name}/replace: an operator marks a node for replacement. */
export interface ReplaceNodeRequest {
  node: string;
  reason: string;
}
