import type { Capability, LabelAttestation, Revocation, RootsUpdate, ScriptSignature } from '@gpufleet/protocol';

/**
 * Records of the trust tables (0004_trust) and the part of the Store interface that keeps them.
 * The store checks the shape of what it writes, not signatures: trust decisions belong to the
 * services in trust/ and scripts/, and in the end to the agents.
 */

/** One version of the fleet's root set. Version 1 (from `roots init`) has no signed update. */
export interface RootsVersionRecord {
  version: number;
  roots: string[];
  update: RootsUpdate | null;
  actor: string;
  at: number;
}

/** A capability registered for listing; `token` is the whole signed capability. */
export interface CapabilityRecord {
  id: string;
  iss: string;
  aud: string;
  can: string[];
  on: string;
  nbf: number;
  exp: number;
  token: Capability;
  addedAt: number;
  addedBy: string;
}

export interface RevocationRecord {
  id: string;
  targetKind: 'capability' | 'did';
  target: string;
  iss: string;
  at: number;
  revocation: Revocation;
  addedAt: number;
  addedBy: string;
}

/** One version of a script in the signed library. */
export interface ScriptRecord {
  name: string;
  version: number;
  content: string;
  sha256: string;
  signer: string;
  signature: ScriptSignature;
  createdAt: number;
  createdBy: string;
  /** When `scripts rm` marked it; history stays. */
  removedAt: number | null;
}

/** A sealed secret: `sealed` is the JSON of a SealedSecret (trust/secret-box.ts). */
export interface SecretRecord {
  id: string;
  sealed: string;
  createdAt: number;
}

/** An audit record with its chain links; both are null on rows written before 0004_trust. */
export interface AuditChainRecord {
  id: number;
  at: number;
  actor: string;
  action: string;
  target: string | null;
  result: 'ok' | 'error';
  details: unknown;
  prevHash: string | null;
  hash: string | null;
  /** Set when the stored details are not valid JSON (details then reads null). */
  damaged?: string;
}

export interface ListAuditChainQuery {
  /** Only records with a larger id (paging). */
  afterId?: number;
  /** Default 100, at most 10,000. */
  limit?: number;
}

/** A node's latest signed label attestation, as stored. */
export interface LabelAttestationRecord {
  nodeId: string;
  version: number;
  attestation: LabelAttestation;
  /** Who submitted it (the API token's actor). */
  actor: string;
  at: number;
}

/** Store methods of the trust tables; part of `Store`. */
export interface TrustStore {
  /** Adds a root-set version; already_exists when that version is taken (two racing updates). */
  insertRootsVersion(record: RootsVersionRecord): Promise<void>;
  /** Every version, oldest first. */
  listRootsVersions(): Promise<RootsVersionRecord[]>;

  /** Registers a capability; false when that id is already stored (nothing changes). */
  insertCapability(record: CapabilityRecord): Promise<boolean>;
  getCapability(id: string): Promise<CapabilityRecord | undefined>;
  /** Oldest first (addedAt, then id); `aud` filters to the capabilities delegated to one key. */
  listCapabilities(query?: { aud?: string }): Promise<CapabilityRecord[]>;

  /** Adds a revocation; false when that id is already stored. */
  insertRevocation(record: RevocationRecord): Promise<boolean>;
  /** Oldest first (addedAt, then id). */
  listRevocations(): Promise<RevocationRecord[]>;

  /** Adds a script version; already_exists when (name, version) is taken. */
  insertScriptVersion(record: ScriptRecord): Promise<void>;
  /** One version, or the newest one when `version` is omitted; removed versions included. */
  getScript(name: string, version?: number): Promise<ScriptRecord | undefined>;
  /** The newest version of every script, by name; removed ones included (check removedAt). */
  listScripts(): Promise<ScriptRecord[]>;
  /** Every version of one script, oldest first. */
  listScriptVersions(name: string): Promise<ScriptRecord[]>;
  /** Stamps removedAt on the versions not yet removed; returns how many it stamped. */
  markScriptRemoved(name: string, at: number): Promise<number>;

  /** Stores a secret unless one with that id exists; returns whether this call stored it. */
  insertSecret(record: SecretRecord): Promise<boolean>;
  getSecret(id: string): Promise<SecretRecord | undefined>;
  /**
   * Replaces a secret's sealed value only while it still is `expectedSealed` (compare-and-set: a
   * master key rotation re-seals records that several replicas may open at once); returns whether
   * this call replaced it. createdAt is kept.
   */
  replaceSecret(id: string, expectedSealed: string, sealed: string): Promise<boolean>;
  /** Every secret's id, sorted; the sealed values stay where they are. */
  listSecretIds(): Promise<string[]>;

  /** Audit records with their chain links, oldest first (by id). */
  listAuditChain(query?: ListAuditChainQuery): Promise<AuditChainRecord[]>;

  /** Stores a node's attestation when its version is newer than the stored one; returns whether it did. */
  putLabelAttestation(record: LabelAttestationRecord): Promise<boolean>;
  getLabelAttestation(nodeId: string): Promise<LabelAttestationRecord | undefined>;
  /** Every node's latest attestation, by node id. */
  listLabelAttestations(): Promise<LabelAttestationRecord[]>;
}
