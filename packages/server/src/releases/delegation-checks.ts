import type { Metadata, Targets } from '@tufjs/models';
import type { DelegatedRole } from '@tufjs/models/dist/role.js';
import { canonicalJson, FleetError, teamBundlePattern, teamOfRole } from '@gpufleet/protocol';
import { targetEntries, type TargetEntry } from './publish-checks.js';

/**
 * The rules team delegations follow here (issue 14). The top-level targets may delegate only to
 * team roles (`team-NAME`), each terminating, with exactly the one path pattern of its team
 * (`bundles/NAME-*\/*`) and Ed25519 keys; a team's own metadata lists bundles under that pattern
 * and delegates nothing further. Clients (tuf-js) enforce the paths too; the server refuses what
 * would be ignored or misread rather than storing it.
 */

/** Teams one targets metadata may name: tuf-js walks at most 32 roles per lookup by default, and one team is one role. */
export const MAX_TEAMS = 32;

/** One team's delegation in the top-level targets. */
export interface TeamDelegation {
  team: string;
  role: DelegatedRole;
}

const HEX64 = /^[0-9a-f]{64}$/;

function bad(message: string): never {
  throw new FleetError('invalid_argument', message);
}

/** The teams a top-level targets metadata delegates to, after checking each delegation's shape. */
export function teamDelegations(md: Metadata<Targets>, what = `targets version ${md.signed.version}`): TeamDelegation[] {
  const d = md.signed.delegations;
  if (!d) return [];
  if (d.succinctRoles) bad(`${what} delegates by hash bins (succinct_roles), which this repository does not serve: delegate to teams`);
  const roles = Object.values(d.roles ?? {});
  if (roles.length > MAX_TEAMS) bad(`${what} delegates to ${roles.length} roles; at most ${MAX_TEAMS} teams`);
  for (const [keyId, key] of Object.entries(d.keys)) {
    if (key.keyType !== 'ed25519' || key.scheme !== 'ed25519' || !HEX64.test(key.keyVal.public ?? ''))
      bad(`${what}: delegated key ${keyId.slice(0, 12)} must be an Ed25519 key (keytype and scheme ed25519, public key in hex)`);
  }
  return roles.map((role) => {
    const team = teamOfRole(role.name);
    if (team === null) bad(`${what} delegates to '${role.name.slice(0, 60)}', which is not a team's role (team-NAME, NAME lowercase letters and digits)`);
    const pattern = teamBundlePattern(team);
    if (role.pathHashPrefixes) bad(`${what}: ${role.name} delegates by path hash prefixes; a team holds the path ${pattern}`);
    if (role.paths?.length !== 1 || role.paths[0] !== pattern) {
      bad(`${what}: ${role.name} may sign only its own bundles, ${pattern}; its paths ${JSON.stringify(role.paths ?? []).slice(0, 120)} reach beyond them`);
    }
    if (!role.terminating) bad(`${what}: ${role.name} must be terminating (no other role may answer for its bundles)`);
    const ids = new Set(role.keyIDs);
    if (ids.size === 0) bad(`${what}: ${role.name} names no key`);
    for (const id of ids) if (!d.keys[id]) bad(`${what}: ${role.name} names key ${id.slice(0, 12)}, which the delegations do not list`);
    if (!Number.isSafeInteger(role.threshold) || role.threshold < 1 || role.threshold > ids.size)
      bad(`${what}: ${role.name}'s threshold ${role.threshold} must be from 1 to its ${ids.size} key(s)`);
    return { team, role };
  });
}

/** A targets metadata's delegations as comparable text ('' when it has none). */
export function delegationsText(md: Metadata<Targets> | null): string {
  const d = md?.signed.delegations;
  return d ? canonicalJson(d.toJSON()) : '';
}

/** The team whose paths hold `path`, if any. */
export function teamOfPath(teams: ReadonlyArray<TeamDelegation>, path: string): TeamDelegation | undefined {
  return teams.find((t) => t.role.isDelegatedPath(path));
}

/** Top-level targets stay out of the teams' paths: a team's bundle is signed by the team alone. */
export function checkOutsideTeams(entries: ReadonlyArray<TargetEntry>, teams: ReadonlyArray<TeamDelegation>, what: string): void {
  for (const e of entries) {
    const owner = teamOfPath(teams, e.path);
    if (owner) {
      throw new FleetError(
        'failed_precondition',
        `${what}: bundle ${e.custom.name} is in team ${owner.team}'s paths (${owner.role.paths?.[0]}): the team publishes it (--team ${owner.team}), not the targets key`,
      );
    }
  }
}

/** A team's metadata: targets as everywhere, each a bundle inside the team's paths, and no further delegation. */
export function teamTargetEntries(d: TeamDelegation, md: Metadata<Targets>): TargetEntry[] {
  const what = `${d.role.name} version ${md.signed.version}`;
  if (md.signed.delegations) bad(`${what} delegates further; a team signs its bundles itself`);
  const entries = targetEntries(md, what);
  for (const e of entries) {
    if (e.custom.kind !== 'bundle') bad(`${what}: ${e.path} is an agent build, which only the targets key signs`);
    if (!d.role.isDelegatedPath(e.path)) bad(`${what}: ${e.path} is outside team ${d.team}'s paths (${d.role.paths?.[0]})`);
  }
  return entries;
}
