import type { Metadata, Targets } from '@tufjs/models';
import { FleetError, type ReleaseTeamList } from '@gpufleet/protocol';
import type { ReleaseRole, Store } from '../store/store.js';
import { teamDelegations, type TeamDelegation } from './delegation-checks.js';
import { targetEntries } from './publish-checks.js';
import { parseMetadata } from './tuf-metadata.js';

/** A stored targets metadata (top-level or a team's), parsed, with when it was stored. */
export interface StoredTargets {
  metadata: Metadata<Targets>;
  createdAt: number;
}

/** The newest stored targets metadata of a targets role (null when there is none). */
export async function storedTargets(store: Store, role: ReleaseRole): Promise<StoredTargets | null> {
  const record = await store.getReleaseMetadata(role);
  if (!record) return null;
  try {
    return { metadata: parseMetadata('targets', JSON.parse(record.json), `stored ${role} version ${record.version}`), createdAt: record.createdAt };
  } catch (err) {
    throw new FleetError('internal', `the stored ${role} metadata version ${record.version} is damaged: ${(err as Error).message}`, { cause: err });
  }
}

/** A team the current top-level targets delegates to, with its newest metadata (null before its first publish). */
export interface CurrentTeam extends TeamDelegation {
  stored: StoredTargets | null;
}

/** The teams of the current top-level targets, in its order. */
export async function currentTeams(store: Store, topLevel?: Metadata<Targets> | null): Promise<CurrentTeam[]> {
  const top = topLevel === undefined ? (await storedTargets(store, 'targets'))?.metadata : topLevel;
  if (!top) return [];
  return Promise.all(teamDelegations(top).map(async (d) => ({ ...d, stored: await storedTargets(store, d.role.name as ReleaseRole) })));
}

/** What `releases teams ls` shows. */
export async function teamList(store: Store): Promise<ReleaseTeamList> {
  const top = (await storedTargets(store, 'targets'))?.metadata ?? null;
  const teams = await currentTeams(store, top);
  return {
    targetsVersion: top?.signed.version ?? 0,
    items: teams.map((t) => ({
      name: t.team,
      role: t.role.name,
      keyIds: [...t.role.keyIDs],
      threshold: t.role.threshold,
      paths: [...(t.role.paths ?? [])],
      version: t.stored?.metadata.signed.version ?? 0,
      expires: t.stored ? new Date(t.stored.metadata.signed.expires).toISOString() : null,
      releases: t.stored ? targetEntries(t.stored.metadata).length : 0,
    })),
  };
}
