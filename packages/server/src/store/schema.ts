import type { Generated } from 'kysely';

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
}

export interface SettingsTable {
  key: string;
  value: string;
}

/** The whole database as Kysely's type parameter. */
export interface Database {
  nodes: NodesTable;
  join_tokens: JoinTokensTable;
  api_tokens: ApiTokensTable;
  agent_events: AgentEventsTable;
  audit_log: AuditLogTable;
  settings: SettingsTable;
}
