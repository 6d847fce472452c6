/**
 * The TUF repository of signed releases (issue 14, 0012_releases): record types and the
 * ReleaseStore interface. Times are epoch milliseconds.
 */

/** A top-level role, or a team's delegated targets role (`team-NAME`, protocol TEAM_ROLE). */
export type ReleaseRole = 'root' | 'targets' | 'snapshot' | 'timestamp' | `team-${string}`;

/** One version of one role's signed metadata, as the exact JSON text served to clients. */
export interface ReleaseMetadataRecord {
  role: ReleaseRole;
  version: number;
  json: string;
  createdAt: number;
}

/** A target file's bytes, keyed by their SHA-256 (lowercase hex). */
export interface ReleaseBlobRecord {
  sha256: string;
  length: number;
  bytes: Uint8Array;
  createdAt: number;
}

/** A target path as first published: what `releases ls` shows beside the signed metadata. */
export interface ReleaseTargetRecord {
  path: string;
  sha256: string;
  length: number;
  kind: string;
  name: string;
  version: string;
  /** The targets metadata version that added it. */
  targetsVersion: number;
  publishedAt: number;
}

/** What one accepted change writes, all or nothing. */
export interface ReleaseCommit {
  metadata: ReadonlyArray<ReleaseMetadataRecord>;
  blobs?: ReadonlyArray<ReleaseBlobRecord>;
  targets?: ReadonlyArray<ReleaseTargetRecord>;
}

export interface ReleaseStore {
  /**
   * Writes metadata versions, blobs and target rows in one transaction. A (role, version) that is
   * stored already is already_exists and nothing is written (two publishes raced); a blob whose
   * SHA-256 is stored and a target path that is listed are kept as they are.
   */
  commitRelease(commit: ReleaseCommit): Promise<void>;
  /** One version of a role's metadata, or its newest when `version` is absent. */
  getReleaseMetadata(role: ReleaseRole, version?: number): Promise<ReleaseMetadataRecord | undefined>;
  getReleaseBlob(sha256: string): Promise<ReleaseBlobRecord | undefined>;
  /** The lengths of the listed blobs that are stored (the bytes are not read). */
  releaseBlobLengths(sha256s: ReadonlyArray<string>): Promise<Array<{ sha256: string; length: number }>>;
  /** Every target path ever published, newest first. */
  listReleaseTargets(): Promise<ReleaseTargetRecord[]>;
}
