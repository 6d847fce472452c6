import type { Generated } from 'kysely';
import type { PoolTables } from './pool-schema.js';
import type { SshHostTables } from './ssh-host-schema.js';
import type { GroupTables } from './group-schema.js';
import type { PlayTables } from './play-schema.js';
import type { ReleaseTables } from './release-schema.js';
import type { RolloutTables } from './rollout-schema.js';
import type { TrustTables } from './trust-schema.js';
import type { WorkloadTables } from './workload-schema.js';

/**
 * Row shapes of the store's tables, as Kysely sees them. Both dialects store the same thing:
 * times are bigint epoch ms (the PostgreSQL pool parses int8 into numbers, see postgres-store.ts),
 * JSON is text, booleans are integers 0/1 so one code path serves SQLite and PostgreSQL.
 */
export interface NodesTable {
  id: string;
  hostname: string;
  admin_state: string;
  token_labels: string; // JSON object
  user_labels: string; // JSON object
  facts: string; // JSON HostFacts
  gpus: string; // JSON GpuInfo[]
  tool_failures: string; // JSON ToolFailure[]
  agent_version: string;
  simulated: number; // 0/1
  join_token_id: string | null;
  enrolled_at: number;
  last_seen_at: number | null;
  acked_seq: number;
  cordon_reason: string | null;
  mode: string; // 'agent' | 'ssh' (0009_ssh_hosts)
}

export interface JoinTokensTable {
  id: string;
  secret_hash: string;
  description: string;
  labels: string; // JSON object
  reusable: number; // 0/1
  needs_approval: number; // 0/1
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
  uses: number;
  created_by: string;
}

export interface ApiTokensTable {
  id: string;
  secret_hash: string;
  name: string;
  role: string;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

export interface AgentEventsTable {
  node_id: string;
  seq: number;
  id: string;
  ts: number;
  kind: string;
  gpu_uuid: string | null;
  pci_bus_id: string | null;
  message: string;
  data: string; // JSON object
  received_at: number;
}

export interface AuditLogTable {
  id: Generated<number>;
  at: number;
  actor: string;
  action: string;
  target: string | null;
  result: string;
  details: string; // JSON, 'null' when there were none
  /** Hash chain (0004_trust): null on rows written before it; see audit/audit-hash.ts. */
  prev_hash?: string | null;
  hash?: string | null;
}

export interface SettingsTable {
  key: string;
  value: string;
}

/**
 * Who put a node or a GPU into its current state (0002_health). `gpu_key` is '' for the node
 * itself (a primary key column cannot be null in PostgreSQL). A READY GPU has no row.
 */
export interface StateMarksTable {
  node_id: string;
  gpu_key: string;
  state: string;
  actor: string;
  reason: string | null;
  since: number;
  /** DRAINING only: when the drain stops waiting for running work. */
  deadline: number | null;
}

/** Active health findings: a rule's sticky verdict on a GPU ('' = the node) (0002_health). */
export interface HealthFindingsTable {
  node_id: string;
  gpu_key: string;
  rule: string;
  verdict: string;
  cause: string;
  evidence: string; // JSON
  since: number;
  last_match_at: number;
}

/** The health timeline: verdict changes, state transitions and recorded matches (0002_health). */
export interface HealthEventsTable {
  id: Generated<number>;
  at: number;
  node_id: string;
  gpu_key: string | null;
  type: string;
  rule: string | null;
  op: string | null;
  from_state: string | null;
  to_state: string | null;
  actor: string;
  reason: string;
  evidence: string; // JSON, 'null' when there is none
}

/** Runs: one row per signed command fanned out (0003_runs). */
export interface RunsTable {
  id: string;
  created_at: number;
  created_by: string;
  invoker: string;
  capability_id: string | null;
  ability: string;
  selector: string;
  summary: string;
  command: string; // JSON SignedCommand
  batch: string; // JSON batch policy
  state: string;
  counts: string; // JSON target count per state
  reason: string | null;
  deadline: number;
  finished_at: number | null;
  canceled_by: string | null;
}

/** One row per host of a run (0003_runs). */
export interface RunTargetsTable {
  run_id: string;
  node_id: string;
  hostname: string;
  batch: number;
  state: string;
  exit_code: number | null;
  signal: string | null;
  reason: string | null;
  sent_at: number | null;
  started_at: number | null;
  finished_at: number | null;
  duration_ms: number | null;
  output_bytes: number;
  truncated: number; // 0/1
}

/** Output chunks of a run per host, in arrival order (0003_runs). */
export interface RunOutputTable {
  id: Generated<number>;
  run_id: string;
  node_id: string;
  stream: string;
  chunk: number;
  data: string;
  at: number;
}

/** The whole database as Kysely's type parameter. */
export interface Database extends TrustTables, WorkloadTables, PoolTables, SshHostTables, GroupTables, PlayTables, ReleaseTables, RolloutTables {
  nodes: NodesTable;
  join_tokens: JoinTokensTable;
  api_tokens: ApiTokensTable;
  agent_events: AgentEventsTable;
  audit_log: AuditLogTable;
  settings: SettingsTable;
  state_marks: StateMarksTable;
  health_findings: HealthFindingsTable;
  health_events: HealthEventsTable;
  runs: RunsTable;
  run_targets: RunTargetsTable;
  run_output: RunOutputTable;
}
