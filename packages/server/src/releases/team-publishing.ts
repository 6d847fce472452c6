import type { Metadata, Root, Targets } from '@tufjs/models';
import { canonicalJson, FleetError, teamNameProblem, teamRoleName, type PublishTeamReleaseRequest, type ReleaseTeamsRequest } from '@gpufleet/protocol';
import type { ReleaseMetadataRecord, ReleaseRole, Store } from '../store/store.js';
import { checkOutsideTeams, delegationsText, teamDelegations, teamTargetEntries } from './delegation-checks.js';
import { checkImmutable, targetEntries } from './publish-checks.js';
import { acceptUploads, type AcceptedUploads } from './release-uploads.js';
import { storedTargets } from './team-reads.js';
import { expiresMs, parseMetadata, verifyRoleSignatures } from './tuf-metadata.js';

/**
 * What the server checks before it stores a change of teams (the top-level targets re-signed
 * with other delegations) or a team's publish (the team's own metadata). Nothing is written here:
 * each returns what the repository commits with a new snapshot and timestamp.
 */

function checkFresh(md: Metadata<Targets>, what: string, now: number): void {
  if (expiresMs(md) <= now) throw new FleetError('invalid_argument', `${what} expired at ${md.signed.expires}`);
}

function checkNextVersion(what: string, got: number, currentVersion: number): void {
  const expected = currentVersion + 1;
  if (got !== expected) {
    throw new FleetError(
      'failed_precondition',
      `the next ${what} must be version ${expected} (the current one is ${currentVersion})${got <= currentVersion ? ', so an older one is a rollback' : ''}, got ${got}`,
    );
  }
}

/** A change of teams, checked. */
export interface TeamsChangePlan {
  record: ReleaseMetadataRecord;
  version: number;
  added: string[];
  removed: string[];
  changed: string[];
}

/** The next top-level targets of `releases teams add|remove`: signed by the targets key, the same targets, other teams. */
export async function planTeamsChange(store: Store, root: Metadata<Root>, req: ReleaseTeamsRequest, now: number): Promise<TeamsChangePlan> {
  const targets = parseMetadata('targets', req.targets, 'the targets metadata');
  const v = targets.signed.version;
  const what = `targets version ${v}`;
  verifyRoleSignatures(root, 'targets', targets, what);
  const current = (await storedTargets(store, 'targets'))?.metadata ?? null;
  checkNextVersion('targets', v, current?.signed.version ?? 0);
  checkFresh(targets, what, now);
  const entries = targetEntries(targets);
  const keyed = (md: Metadata<Targets> | null) => canonicalJson(Object.fromEntries(Object.entries(md?.signed.targets ?? {}).map(([p, f]) => [p, f.toJSON()])));
  if (keyed(targets) !== keyed(current))
    throw new FleetError(
      'invalid_argument',
      `${what} changes the published targets: a teams change keeps them as they are (publish with \`releases publish\`)`,
    );
  if (delegationsText(targets) === delegationsText(current)) throw new FleetError('invalid_argument', `${what} changes no team`);
  const teams = teamDelegations(targets, what);
  checkOutsideTeams(entries, teams, what);
  const before = new Map((current ? teamDelegations(current) : []).map((t) => [t.team, canonicalJson(t.role.toJSON())]));
  const after = new Map(teams.map((t) => [t.team, canonicalJson(t.role.toJSON())]));
  return {
    record: { role: 'targets', version: v, json: JSON.stringify(req.targets), createdAt: now },
    version: v,
    added: [...after.keys()].filter((t) => !before.has(t)),
    removed: [...before.keys()].filter((t) => !after.has(t)),
    changed: [...after.keys()].filter((t) => before.has(t) && before.get(t) !== after.get(t)),
  };
}

/** A team's publish, checked. */
export interface TeamPublishPlan {
  role: ReleaseRole;
  version: number;
  record: ReleaseMetadataRecord;
  accepted: AcceptedUploads;
  added: string[];
}

/**
 * The team's next metadata: signed by a threshold of the keys the current top-level targets
 * name for it, version +1 of what is stored (even across a removal), not expired, only bundles
 * in its paths, and published releases unchanged.
 */
export async function planTeamPublish(store: Store, team: string, req: PublishTeamReleaseRequest, now: number): Promise<TeamPublishPlan> {
  const problem = teamNameProblem(team);
  if (problem) throw new FleetError('invalid_argument', problem);
  const role = teamRoleName(team) as ReleaseRole;
  const top = (await storedTargets(store, 'targets'))?.metadata ?? null;
  const d = top ? teamDelegations(top).find((t) => t.team === team) : undefined;
  if (!top || !d) throw new FleetError('not_found', `there is no team ${team} (the targets key adds it: \`gpufleet releases teams add ${team}\`)`);
  const md = parseMetadata('targets', req.metadata, `the ${role} metadata`);
  const v = md.signed.version;
  const what = `${role} version ${v}`;
  try {
    top.verifyDelegate(role, md);
  } catch (err) {
    throw new FleetError(
      'invalid_argument',
      `${what} is not signed by team ${team}'s key(s) in targets version ${top.signed.version}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  const stored = await storedTargets(store, role);
  checkNextVersion(role, v, stored?.metadata.signed.version ?? 0);
  checkFresh(md, what, now);
  const entries = teamTargetEntries(d, md);
  const before = stored ? targetEntries(stored.metadata) : [];
  checkImmutable(before, entries);
  const accepted = await acceptUploads(store, { entries, files: req.files, metadataVersion: v, now });
  const had = new Set(before.map((e) => e.path));
  return {
    role,
    version: v,
    record: { role, version: v, json: JSON.stringify(req.metadata), createdAt: now },
    accepted,
    added: entries.filter((e) => !had.has(e.path)).map((e) => e.path),
  };
}
