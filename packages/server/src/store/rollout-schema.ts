/** Row shapes of the rollout tables (0013_rollouts); same conventions as schema.ts. */
import type { Generated } from 'kysely';

export interface RolloutsTable {
  id: string;
  kind: string;
  name: string;
  version: string;
  target_path: string;
  target_sha256: string;
  selector: string;
  plan: string;
  signed: string;
  state: string;
  step: number;
  steps: string;
  forgiven_failures: number;
  message: string | null;
  created_by: string;
  created_at: number;
  updated_at: number;
}

export interface RolloutHostsTable {
  rollout_id: string;
  node_id: string;
  hostname: string;
  step: number;
  position: number;
  state: string;
  from_version: string | null;
  running_version: string | null;
  healthy_since: number | null;
  failed_at: number | null;
  rollback: string;
  message: string | null;
  updated_at: number;
}

export interface RolloutEventsTable {
  id: Generated<number>;
  rollout_id: string;
  at: number;
  kind: string;
  node_id: string | null;
  message: string;
}

export interface RolloutTables {
  rollouts: RolloutsTable;
  rollout_hosts: RolloutHostsTable;
  rollout_events: RolloutEventsTable;
}
