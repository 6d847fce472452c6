/** Row shapes of the template and play tables (0011_plays); same conventions as schema.ts. */

export interface PlayTemplatesTable {
  name: string;
  version: number;
  description: string;
  category: string;
  builtin: number;
  become: number;
  timeout_ms: number;
  vars: string;
  playbook: string;
  sha256: string;
  created_at: number;
  created_by: string;
}

export interface PlaysTable {
  id: string;
  template: string;
  template_version: number;
  selector: string;
  serial: string | null;
  max_fail_percentage: number | null;
  check_mode: number;
  extra_vars: string;
  timeout_ms: number;
  state: string;
  created_by: string;
  created_at: number;
  started_at: number | null;
  ended_at: number | null;
  exit_code: number | null;
  error: string | null;
  reason: string | null;
  /** 0014_play_runners: both null for plays stored before it. */
  runner_replica: string | null;
  runner_instance: string | null;
}

export interface PlayHostsTable {
  play_id: string;
  node_id: string;
  hostname: string;
  ok: number;
  changed: number;
  failed: number;
  unreachable: number;
  skipped: number;
  state: string;
}

export interface PlayEventsTable {
  play_id: string;
  seq: number;
  at: number;
  kind: string;
  host: string | null;
  task: string | null;
  status: string | null;
  message: string;
}

export interface PlayTables {
  play_templates: PlayTemplatesTable;
  plays: PlaysTable;
  play_hosts: PlayHostsTable;
  play_events: PlayEventsTable;
}
