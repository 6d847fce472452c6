import type { Metadata, Root, Targets } from '@tufjs/models';
import { FleetError, type ReleaseList, type ReleaseRepositoryView, type ReleaseView } from '@gpufleet/protocol';
import type { ReleaseRole, Store } from '../store/store.js';
import { parseMetadata } from './tuf-metadata.js';
import { targetEntries } from './publish-checks.js';
import { currentTeams, storedTargets } from './team-reads.js';

/** What clients and the API read from the repository; nothing here writes. */

/** The newest stored metadata of a role, parsed (null when there is none). */
export async function latestMetadata(store: Store, role: 'root'): Promise<Metadata<Root> | null>;
export async function latestMetadata(store: Store, role: 'targets'): Promise<Metadata<Targets> | null>;
export async function latestMetadata(store: Store, role: ReleaseRole): Promise<unknown> {
  const record = await store.getReleaseMetadata(role);
  if (!record) return null;
  try {
    return parseMetadata(role as 'root', JSON.parse(record.json), `stored ${role} version ${record.version}`);
  } catch (err) {
    throw new FleetError('internal', `the stored ${role} metadata version ${record.version} is damaged: ${(err as Error).message}`, { cause: err });
  }
}

const VERSIONED = /^([1-9]\d{0,9})\.(root|snapshot|targets|team-[a-z][a-z0-9]{0,31})\.json$/;

/**
 * The text of a metadata file as clients ask for it with consistent snapshots: `N.root.json`,
 * `timestamp.json`, `N.snapshot.json`, `N.targets.json`. Anything else is not_found.
 */
export async function metadataFile(store: Store, name: string): Promise<string> {
  if (name === 'timestamp.json') {
    const ts = await store.getReleaseMetadata('timestamp');
    if (ts) return ts.json;
    throw new FleetError('not_found', 'nothing is published yet: there is no timestamp.json');
  }
  const m = VERSIONED.exec(name);
  if (!m)
    throw new FleetError(
      'not_found',
      `no metadata file '${name.slice(0, 80)}': ask for N.root.json, timestamp.json, N.snapshot.json, N.targets.json or N.team-NAME.json`,
    );
  const version = Number(m[1]);
  const record = version <= 2_147_483_647 ? await store.getReleaseMetadata(m[2] as ReleaseRole, version) : undefined;
  if (!record) throw new FleetError('not_found', `there is no ${name}`);
  return record.json;
}

const HASHED = /^(?:(.+)\/)?([0-9a-f]{64})\.([^/]+)$/;

/** `dir/<sha256>.<file>` (the consistent-snapshot name clients use) → the published path and hash; null when not of that form. */
export function hashedTargetName(path: string): { logical: string; sha256: string } | null {
  const m = HASHED.exec(path);
  if (!m) return null;
  const [, dir, sha256, file] = m;
  return { logical: dir === undefined ? file! : `${dir}/${file}`, sha256: sha256! };
}

export function missingTarget(path: string): FleetError {
  return new FleetError('not_found', `no target '${path.slice(0, 120)}'`);
}

/** A target's bytes by the consistent-snapshot name clients use: `dir/<sha256>.<file>`. */
export async function targetFile(store: Store, path: string): Promise<Uint8Array> {
  const name = hashedTargetName(path);
  if (!name) throw missingTarget(path);
  // Only a published path under its own hash: the store is not a general blob service.
  const listed = (await store.listReleaseTargets()).some((t) => t.path === name.logical && t.sha256 === name.sha256);
  if (!listed) throw missingTarget(path);
  const blob = await store.getReleaseBlob(name.sha256);
  if (!blob) throw missingTarget(path);
  return blob.bytes;
}

/** Each role's newest version and the expiries an operator watches. */
export async function repositoryView(store: Store, onlineKeys: (root: Metadata<Root>) => Promise<boolean>): Promise<ReleaseRepositoryView> {
  const [root, targets, snapshot, timestamp] = await Promise.all(
    (['root', 'targets', 'snapshot', 'timestamp'] as const).map((role) => store.getReleaseMetadata(role)),
  );
  const rootMd = await latestMetadata(store, 'root');
  const timestampExpires = timestamp ? ((JSON.parse(timestamp.json) as { signed?: { expires?: string } }).signed?.expires ?? null) : null;
  return {
    rootVersion: root?.version ?? 0,
    rootExpires: rootMd ? new Date(rootMd.signed.expires).toISOString() : null,
    targetsVersion: targets?.version ?? 0,
    snapshotVersion: snapshot?.version ?? 0,
    timestampVersion: timestamp?.version ?? 0,
    timestampExpires: timestampExpires === null ? null : new Date(timestampExpires).toISOString(),
    onlineKeys: rootMd ? await onlineKeys(rootMd) : false,
  };
}

/**
 * The releases the current targets metadata lists, and those of the teams it delegates to,
 * newest first, with when each was published and which role signed it.
 */
export async function releaseViews(store: Store): Promise<ReleaseView[]> {
  const top = await storedTargets(store, 'targets');
  if (!top) return [];
  const signers = [
    { role: 'targets', stored: top },
    ...(await currentTeams(store, top.metadata)).flatMap((t) => (t.stored ? [{ role: t.role.name, stored: t.stored }] : [])),
  ];
  const published = new Map((await store.listReleaseTargets()).map((t) => [t.path, t.publishedAt]));
  return signers
    .flatMap(({ role, stored }) =>
      targetEntries(stored.metadata).map((e) => ({
        kind: e.custom.kind,
        name: e.custom.name,
        version: e.custom.version,
        path: e.path,
        sha256: e.sha256,
        length: e.length,
        at: published.get(e.path) ?? stored.createdAt,
        signedBy: role,
      })),
    )
    .sort((a, b) => b.at - a.at || b.path.localeCompare(a.path))
    .map(({ at, ...view }) => ({ ...view, publishedAt: new Date(at).toISOString() }));
}

/** The whole list: the repository's state and its releases. */
export async function releaseList(store: Store, onlineKeys: (root: Metadata<Root>) => Promise<boolean>): Promise<ReleaseList> {
  return { repository: await repositoryView(store, onlineKeys), items: await releaseViews(store) };
}
