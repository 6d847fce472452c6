import type { Generated } from 'kysely';

/**
 * Row shapes of the pool tables (0008_pools); same conventions as schema.ts: times are bigint
 * epoch ms, JSON is text, and a pool or provider is named, not referenced by a foreign key
 * (members, operations and events of a removed pool stay as history).
 */

/** The providers of the applied pools file. */
export interface PoolProvidersTable {
  name: string;
  spec: string; // JSON ProviderSpec
  base_dir: string;
  applied_at: number;
  applied_by: string;
}

/** The pools of the applied pools file. */
export interface PoolConfigsTable {
  name: string;
  spec: string; // JSON PoolSpec
  applied_at: number;
  applied_by: string;
}

export interface PoolStatesTable {
  pool: string;
  desired: number;
  desired_source: string;
  manual_reason: string | null;
  last_scale_up_at: number | null;
  last_scale_down_at: number | null;
  updated_at: number;
}

export interface PoolMembersTable {
  instance_id: string;
  pool: string;
  provider: string;
  operation_id: string;
  join_token_id: string;
  node_id: string | null;
  instance_type: string;
  zone: string | null;
  state: string;
  price_per_hour: number | null; // $/h, may be fractional
  provisioned_at: number;
  joined_at: number | null;
  terminated_at: number | null;
  idle_since: number | null;
}

export interface PoolOperationsTable {
  id: string;
  pool: string;
  kind: string;
  stage: string;
  reason: string;
  old_node_id: string | null;
  instance_id: string | null;
  join_token_id: string | null;
  new_node_id: string | null;
  zone: string | null;
  zones_tried: string; // JSON string[]
  attempts: number;
  error: string | null;
  started_at: number;
  updated_at: number;
  deadline_at: number | null;
  not_before: number | null;
}

export interface PoolEventsTable {
  id: Generated<number>;
  pool: string;
  at: number;
  kind: string;
  message: string;
  operation_id: string | null;
  node_id: string | null;
  instance_id: string | null;
}

/** One row per pool and time: a second sample at the same time replaces the first. */
export interface PoolSizeSamplesTable {
  pool: string;
  at: number;
  ready: number;
  desired: number;
}

/** Each provider's small key-value state (the ssh provider's host leases, ...). */
export interface ProviderStateTable {
  provider: string;
  key: string;
  value: string; // JSON
}

export interface PoolTables {
  pool_providers: PoolProvidersTable;
  pool_configs: PoolConfigsTable;
  pool_states: PoolStatesTable;
  pool_members: PoolMembersTable;
  pool_operations: PoolOperationsTable;
  pool_events: PoolEventsTable;
  pool_size_samples: PoolSizeSamplesTable;
  provider_state: ProviderStateTable;
}
