/** Row shapes of the SSH host tables (0009_ssh_hosts); same conventions as schema.ts. */

export interface SshHostsTable {
  node_id: string;
  address: string;
  port: number;
  user_name: string;
  login_kind: string;
  bastion_address: string | null;
  bastion_port: number | null;
  bastion_user: string | null;
  host_key_algorithm: string | null;
  host_key_fingerprint: string | null;
  host_key_blob: string | null;
  host_key_pinned_at: number | null;
  host_key_source: string | null;
  bastion_key_algorithm: string | null;
  bastion_key_fingerprint: string | null;
  bastion_key_blob: string | null;
  bastion_key_pinned_at: number | null;
  bastion_key_source: string | null;
  refused_key_algorithm: string | null;
  refused_key_fingerprint: string | null;
  refused_key_blob: string | null;
  refused_key_seen_at: number | null;
  last_contact_at: number | null;
  last_error: string | null;
  facts_at: number | null;
  unreachable_since: number | null;
  created_at: number;
}

export interface SshCredentialsTable {
  id: string;
  node_id: string;
  purpose: string;
  key_version: number;
  sealed: string;
  created_at: number;
  rotated_at: number | null;
}

export interface SshHostTables {
  ssh_hosts: SshHostsTable;
  ssh_credentials: SshCredentialsTable;
}
