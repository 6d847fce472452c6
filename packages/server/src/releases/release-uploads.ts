import { FleetError, type PublishReleaseRequest } from '@gpufleet/protocol';
import type { ReleaseBlobRecord, ReleaseTargetRecord, Store } from '../store/store.js';
import { checkUploads, type TargetEntry, type UploadedFile } from './publish-checks.js';

/** What a publish writes beside its metadata: the new bytes and the rows of paths published for the first time. */
export interface AcceptedUploads {
  uploads: UploadedFile[];
  blobs: ReleaseBlobRecord[];
  rows: ReleaseTargetRecord[];
}

/**
 * The uploads of a publish (top-level or a team's), checked against its signed targets: every
 * target's bytes are uploaded now or stored already, and a path published before, by any role,
 * keeps its bytes (the server serves a path under the hash it was first published with).
 */
export async function acceptUploads(
  store: Store,
  o: { entries: ReadonlyArray<TargetEntry>; files: PublishReleaseRequest['files']; metadataVersion: number; now: number },
): Promise<AcceptedUploads> {
  const uploads = checkUploads(o.files, o.entries);
  const published = new Map((await store.listReleaseTargets()).map((t) => [t.path, t]));
  for (const e of o.entries) {
    const before = published.get(e.path);
    if (before && (before.sha256 !== e.sha256 || before.length !== e.length)) {
      throw new FleetError('already_exists', `${e.path} was published before with other bytes: a release never changes, publish a new version instead`);
    }
  }
  const uploaded = new Set(uploads.map((u) => u.sha256));
  const need = [...new Set(o.entries.filter((e) => !uploaded.has(e.sha256)).map((e) => e.sha256))];
  const stored = new Map((await store.releaseBlobLengths(need)).map((b) => [b.sha256, b.length]));
  for (const e of o.entries) {
    if (!uploaded.has(e.sha256) && stored.get(e.sha256) !== e.length) {
      throw new FleetError('failed_precondition', `the bytes of ${e.path} were neither uploaded nor published before: send them in files`);
    }
  }
  const blobs = [...new Map(uploads.map((u) => [u.sha256, { sha256: u.sha256, length: u.bytes.length, bytes: u.bytes, createdAt: o.now }])).values()];
  const rows = o.entries
    .filter((e) => !published.has(e.path))
    .map((e) => ({ path: e.path, sha256: e.sha256, length: e.length, ...e.custom, targetsVersion: o.metadataVersion, publishedAt: o.now }));
  return { uploads, blobs, rows };
}
