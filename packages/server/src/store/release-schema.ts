/** Row shapes of the release tables (0012_releases); same conventions as schema.ts. */

export interface ReleaseMetadataTable {
  role: string;
  version: number;
  json: string;
  created_at: number;
}

export interface ReleaseBlobsTable {
  sha256: string;
  length: number;
  bytes: Uint8Array;
  created_at: number;
}

export interface ReleaseTargetsTable {
  path: string;
  sha256: string;
  length: number;
  kind: string;
  name: string;
  version: string;
  targets_version: number;
  published_at: number;
}

export interface ReleaseTables {
  release_metadata: ReleaseMetadataTable;
  release_blobs: ReleaseBlobsTable;
  release_targets: ReleaseTargetsTable;
}
