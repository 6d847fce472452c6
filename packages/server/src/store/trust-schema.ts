/** Row shapes of the trust tables (0004_trust); same conventions as schema.ts. */

/** One row per version of the fleet's root set; version 1 comes from `roots init` and has no update. */
export interface FleetRootsTable {
  version: number;
  roots: string; // JSON string[]
  update_doc: string | null; // JSON RootsUpdate, null for the first version
  actor: string;
  at: number;
}

/** Capabilities operators registered for listing (agents verify their own copy, never this one). */
export interface CapabilitiesTable {
  id: string; // capabilityId: sha256 hex of the signed token
  iss: string;
  aud: string;
  can: string; // JSON Ability[]
  on_selector: string;
  nbf: number;
  exp: number;
  token: string; // JSON Capability
  added_at: number;
  added_by: string;
}

export interface RevocationsTable {
  id: string; // sha256 hex of the canonical revocation
  target_kind: string; // 'capability' | 'did'
  target: string;
  iss: string;
  at: number;
  doc: string; // JSON Revocation
  added_at: number;
  added_by: string;
}

export interface ScriptsTable {
  name: string;
  version: number;
  content: string;
  sha256: string;
  signer: string;
  signature: string; // JSON ScriptSignature
  created_at: number;
  created_by: string;
  removed_at: number | null;
}

/** Secrets sealed with AES-256-GCM under a key derived from the master key (see trust/secret-box.ts). */
export interface SecretsTable {
  id: string;
  sealed: string; // JSON SealedSecret
  created_at: number;
}

/** The tables 0004_trust adds, merged into `Database` in schema.ts. */
export interface TrustTables {
  fleet_roots: FleetRootsTable;
  capabilities: CapabilitiesTable;
  revocations: RevocationsTable;
  scripts: ScriptsTable;
  secrets: SecretsTable;
  label_attestations: LabelAttestationsTable;
}

/** Each node's latest signed label attestation (0005_label_attestations). */
export interface LabelAttestationsTable {
  node_id: string;
  version: number;
  doc: string; // JSON LabelAttestation
  actor: string;
  at: number;
}
