import type { GpuInfo, HostFacts, NodeMode, Role, ToolFailure } from '@gpufleet/protocol';
import type { TrustStore } from './trust-records.js';
import type { RunStore } from './run-records.js';
import type { WorkloadStore } from './workload-records.js';
import type { PoolStore } from './pool-records.js';
import type { SshHostStore } from './ssh-host-records.js';
import type { GroupStore } from './group-records.js';
import type { PlayStore } from './play-records.js';
import type { ReleaseStore } from './release-records.js';
import type { RolloutStore } from './rollout-records.js';
import type { NodeKeyHandoverStore } from './node-key-handover.js';

export type * from './trust-records.js';
export type * from './run-records.js';
export type * from './workload-records.js';
export type * from './pool-records.js';
export type * from './ssh-host-records.js';
export type * from './group-records.js';
export type * from './play-records.js';
export type * from './release-records.js';
export type * from './rollout-records.js';

/**
 * Node administrative state; liveness (online/offline) is kept in memory, not here. Changed only
 * through the transition table in health/node-state-machine.ts.
 */
export type AdminState = 'pending' | 'active' | 'cordoned' | 'draining' | 'drained' | 'unhealthy' | 'decommissioned';

/** Times are epoch milliseconds throughout the store. */
export interface NodeRecord {
  id: string; // did:key of the node's Ed25519 public key
  hostname: string;
  adminState: AdminState;
  /** Labels from the join token used to enroll. */
  tokenLabels: Record<string, string>;
  /** Labels set by operators; they win over token labels and never over built-in ones. */
  userLabels: Record<string, string>;
  facts: HostFacts;
  gpus: GpuInfo[];
  toolFailures: ToolFailure[];
  agentVersion: string;
  simulated: boolean;
  joinTokenId: string | null;
  enrolledAt: number;
  lastSeenAt: number | null;
  /** Highest outbox seq stored for this node: everything at or below it is applied. */
  ackedSeq: number;
  cordonReason: string | null;
  /** How the control plane reaches it (issue 12): its agent, or SSH from the server. */
  mode: NodeMode;
}

export type NodePatch = Partial<Omit<NodeRecord, 'id' | 'enrolledAt'>>;

export interface JoinTokenRecord {
  id: string;
  /** SHA-256 hex of the secret; the secret itself is never stored. */
  secretHash: string;
  description: string;
  labels: Record<string, string>;
  reusable: boolean;
  needsApproval: boolean;
  createdAt: number;
  expiresAt: number | null;
  revokedAt: number | null;
  uses: number;
  createdBy: string;
}

export interface ApiTokenRecord {
  id: string;
  /** SHA-256 hex of the secret part of `gft_<id>_<secret>`. */
  secretHash: string;
  name: string;
  role: Role;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

/** An outbox item as stored: de-duplicated by (nodeId, seq). */
export interface AgentEventRecord {
  nodeId: string;
  seq: number;
  id: string;
  ts: number;
  kind: string;
  gpuUuid: string | null;
  pciBusId: string | null;
  message: string;
  data: Record<string, unknown>;
  receivedAt: number;
}

export interface AuditInput {
  at: number;
  actor: string;
  action: string;
  target: string | null;
  result: 'ok' | 'error';
  details: unknown;
}

export interface AuditEntry extends AuditInput {
  id: number;
}

export interface ListAuditQuery {
  since?: number;
  actor?: string;
  action?: string;
  limit?: number; // default 100, newest first
}

export interface ListAgentEventsQuery {
  nodeId?: string;
  /** Any of these nodes (a label selector resolved by the caller); an empty list matches nothing. */
  nodeIds?: readonly string[];
  /** Events about one GPU: its UUID or its PCI bus id matches (either may be null). */
  gpu?: { uuid: string | null; pciBusId: string | null };
  since?: number;
  kind?: string;
  /** None of these kinds (e.g. a node's health timeline leaves out run output). */
  excludeKinds?: readonly string[];
  limit?: number; // default 100, newest first
}

/** Who put a node (gpuKey null) or one of its GPUs into a state other than READY, why and when. */
export interface StateMarkRecord {
  nodeId: string;
  gpuKey: string | null;
  /** A GPU state (CORDONED, UNHEALTHY) or a node state (READY, CORDONED, DRAINING, ...). */
  state: string;
  actor: string;
  reason: string | null;
  since: number;
  /** DRAINING nodes only: when the drain stops waiting for running work. */
  deadline: number | null;
}

/** What the health timeline records besides raw agent events. */
export type HealthEventType = 'verdict' | 'transition' | 'match';

export interface HealthEventInput {
  at: number;
  nodeId: string;
  /** The GPU concerned; null for the node as a whole. */
  gpuKey: string | null;
  type: HealthEventType;
  /** The policy rule behind a verdict or a match. */
  rule: string | null;
  /** The state-machine operation of a transition (cordon, drain, ...). */
  op: string | null;
  /** Verdicts or states before and after. */
  from: string | null;
  to: string | null;
  actor: string;
  /** The cause or the operator's reason. */
  reason: string;
  /** Kernel line, counter values or metric values behind it (any JSON). */
  evidence: unknown;
}

export interface HealthEventRecord extends HealthEventInput {
  id: number;
}

export interface ListHealthEventsQuery {
  nodeId?: string;
  nodeIds?: readonly string[];
  /** Records about any of these GPU keys (UUID, PCI bus id or #index). */
  gpuKeys?: readonly string[];
  type?: HealthEventType;
  since?: number;
  limit?: number; // default 100, newest first
}

/** An active finding: a rule's verdict on a GPU (or the node, gpuKey null) that sticks. */
export interface HealthFindingRecord {
  nodeId: string;
  gpuKey: string | null;
  rule: string;
  verdict: 'degraded' | 'unhealthy';
  cause: string;
  evidence: unknown;
  since: number;
  lastMatchAt: number;
}

/**
 * One state-machine step, written in one transaction: the node row (node transitions only), the
 * mark (null: the node or GPU is back to plain READY and its mark goes) and the timeline record.
 */
export interface StateChange {
  nodeId: string;
  gpuKey: string | null;
  node?: { adminState: AdminState; cordonReason: string | null };
  mark: StateMarkRecord | null;
  event: HealthEventInput;
}

/** Findings added or updated, findings gone, and their timeline records, in one transaction. */
export interface FindingsChange {
  upsert: ReadonlyArray<HealthFindingRecord>;
  remove: ReadonlyArray<{ nodeId: string; gpuKey: string | null; rule: string }>;
  events: ReadonlyArray<HealthEventInput>;
}

/**
 * Everything the control plane keeps durably. Two implementations (SQLite via better-sqlite3
 * and PostgreSQL via pg, both through Kysely with one set of migrations) pass one contract suite.
 */
export interface Store
  extends TrustStore,
    RunStore,
    WorkloadStore,
    PoolStore,
    SshHostStore,
    GroupStore,
    PlayStore,
    ReleaseStore,
    RolloutStore,
    NodeKeyHandoverStore {
  readonly kind: 'sqlite' | 'postgres';
  /** Applies pending migrations; safe to call on every start. */
  migrate(): Promise<void>;
  close(): Promise<void>;

  insertNode(node: NodeRecord): Promise<void>; // already_exists FleetError when the id is taken
  getNode(id: string): Promise<NodeRecord | undefined>;
  listNodes(): Promise<NodeRecord[]>;
  updateNode(id: string, patch: NodePatch): Promise<void>; // not_found FleetError when absent
  /** Many lastSeenAt updates in one transaction (hot path: heartbeats are batched). */
  touchNodes(seen: ReadonlyArray<{ id: string; lastSeenAt: number }>): Promise<void>;
  /** Many outbox positions (ackedSeq) in one transaction, like touchNodes. */
  saveAckedSeqs(acked: ReadonlyArray<{ id: string; ackedSeq: number }>): Promise<void>;
  deleteNode(id: string): Promise<void>;

  insertJoinToken(token: JoinTokenRecord): Promise<void>;
  getJoinToken(id: string): Promise<JoinTokenRecord | undefined>;
  listJoinTokens(): Promise<JoinTokenRecord[]>;
  revokeJoinToken(id: string, at: number): Promise<boolean>; // false when absent or already revoked
  /**
   * Atomically counts one use. For a single-use token it succeeds only while uses = 0, so two
   * hosts racing with the same token cannot both enroll. Returns whether the use was granted.
   */
  consumeJoinToken(id: string): Promise<boolean>;

  insertApiToken(token: ApiTokenRecord): Promise<void>;
  getApiToken(id: string): Promise<ApiTokenRecord | undefined>;
  listApiTokens(): Promise<ApiTokenRecord[]>;
  revokeApiToken(id: string, at: number): Promise<boolean>;
  touchApiToken(id: string, at: number): Promise<void>;

  /** Inserts outbox items, ignoring any (nodeId, seq) already stored; returns how many were new. */
  insertAgentEvents(events: ReadonlyArray<AgentEventRecord>): Promise<number>;
  listAgentEvents(query: ListAgentEventsQuery): Promise<AgentEventRecord[]>;
  /** Deletes up to `limit` events received before `receivedBefore` (epoch ms), oldest first; returns how many. */
  pruneAgentEventsBefore(receivedBefore: number, limit: number): Promise<number>;
  /** Nodes holding more than `maxPerNode` events, most first. */
  nodesOverEventCap(maxPerNode: number): Promise<Array<{ nodeId: string; events: number }>>;
  /** Deletes up to `limit` of a node's oldest events so that at most `keep` remain; returns how many. */
  trimNodeEvents(nodeId: string, keep: number, limit: number): Promise<number>;

  /**
   * Appends one entry chained to the newest one (prev_hash, hash: audit/audit-hash.ts), serialized
   * across processes (SQLite's write lock, a PostgreSQL advisory lock); returns its id.
   */
  appendAudit(entry: AuditInput): Promise<number>;
  listAudit(query: ListAuditQuery): Promise<AuditEntry[]>;

  /** Applies one node/GPU state transition atomically; returns the timeline record's id. */
  applyStateChange(change: StateChange): Promise<number>;
  listStateMarks(): Promise<StateMarkRecord[]>;
  /** Saves finding changes and their timeline records atomically. */
  saveFindings(change: FindingsChange): Promise<void>;
  listFindings(): Promise<HealthFindingRecord[]>;
  appendHealthEvents(events: ReadonlyArray<HealthEventInput>): Promise<void>;
  /** Newest first (by `at`, then id); `since` is inclusive. */
  listHealthEvents(query: ListHealthEventsQuery): Promise<HealthEventRecord[]>;

  /** Small durable settings (server key, first-start flags). */
  getSetting(key: string): Promise<string | undefined>;
  setSetting(key: string, value: string): Promise<void>;
}
