import { Key, Metadata, Targets, type Root } from '@tufjs/models';
// The models' index leaves these two out; their modules are part of the same pinned package.
import { Delegations } from '@tufjs/models/dist/delegations.js';
import { DelegatedRole } from '@tufjs/models/dist/role.js';
import { FleetError, teamBundlePattern, teamNameProblem, teamRoleName } from '@gpufleet/protocol';
import { checkOutsideTeams, teamDelegations } from './delegation-checks.js';
import { targetEntries } from './publish-checks.js';
import type { TeamPublicKey } from './team-keys.js';
import { checkTargetsKey, withTarget, type NewTarget } from './targets-signing.js';
import { signWith, type TufSigningKey } from './tuf-keys.js';
import { parseMetadata, tufExpires } from './tuf-metadata.js';

/**
 * Signing team delegations on the machines that hold the keys (issue 14): the operator re-signs
 * the top-level targets with a team added, changed or removed (`releases teams add|remove`), and a
 * team signs the next version of its own targets metadata (`releases publish bundle --team`).
 * Built with @tufjs/models' Delegations and DelegatedRole; the server checks all of it again.
 */

function teamName(team: string): string {
  const problem = teamNameProblem(team);
  if (problem) throw new FleetError('invalid_argument', problem);
  return team;
}

/** What `releases teams` changes. */
export type TeamChange = { add: { team: string; keys: ReadonlyArray<TeamPublicKey>; threshold: number } } | { remove: string };

/**
 * The next top-level targets: the same targets, the delegations changed, version +1, signed with
 * the targets key. Adding a team that exists replaces its keys and threshold (a key rotation).
 */
export function nextTargetsWithTeams(o: {
  current: unknown | null;
  root: Metadata<Root>;
  key: TufSigningKey;
  change: TeamChange;
  validMs: number;
  now: number;
}): { metadata: Metadata<Targets>; replaced: boolean } {
  checkTargetsKey(o.root, o.key);
  const current = o.current === null ? null : parseMetadata('targets', o.current, 'the current targets metadata');
  const keys: Record<string, Key> = { ...(current?.signed.delegations?.keys ?? {}) };
  const roles: Record<string, DelegatedRole> = { ...(current?.signed.delegations?.roles ?? {}) };
  let replaced = false;
  if ('add' in o.change) {
    const { team, threshold } = o.change.add;
    const role = teamRoleName(teamName(team));
    const ids = [...new Set(o.change.add.keys.map((k) => k.keyId))].sort();
    if (ids.length === 0) throw new FleetError('invalid_argument', `team ${team} needs at least one key`);
    if (!Number.isSafeInteger(threshold) || threshold < 1 || threshold > ids.length)
      throw new FleetError('invalid_argument', `--threshold must be from 1 to the ${ids.length} key(s) given, got ${threshold}`);
    for (const k of o.change.add.keys) keys[k.keyId] = Key.fromJSON(k.keyId, { ...k.publicJson, keyval: { ...k.publicJson.keyval } });
    replaced = role in roles;
    roles[role] = new DelegatedRole({ name: role, keyIDs: ids, threshold, terminating: true, paths: [teamBundlePattern(team)] });
  } else {
    const role = teamRoleName(teamName(o.change.remove));
    if (!(role in roles)) throw new FleetError('not_found', `there is no team ${o.change.remove} (see \`gpufleet releases teams ls\`)`);
    delete roles[role];
  }
  // A key no team names any more leaves with its last team.
  const used = new Set(Object.values(roles).flatMap((r) => r.keyIDs));
  for (const id of Object.keys(keys)) if (!used.has(id)) delete keys[id];
  const version = (current?.signed.version ?? 0) + 1;
  const signed = new Targets({
    version,
    specVersion: '1.0.31',
    expires: tufExpires(o.now, o.validMs),
    targets: { ...(current?.signed.targets ?? {}) },
    ...(Object.keys(roles).length > 0 ? { delegations: new Delegations({ keys, roles }) } : {}),
  });
  // Through the JSON form, as the server will read it, so what is signed is what is checked.
  const metadata = parseMetadata('targets', new Metadata(signed).toJSON(), `targets version ${version}`);
  checkOutsideTeams(targetEntries(metadata), teamDelegations(metadata), `targets version ${version}`);
  signWith(metadata, o.key);
  return { metadata, replaced };
}

/**
 * A team's next targets metadata: its current one (null before its first publish) plus one
 * bundle, version `version`, signed with the team's key. Checked here against the delegation the
 * server's top-level targets hold, so a key or a bundle name the server would refuse stops first.
 */
export function nextTeamTargets(o: {
  team: string;
  /** The server's current top-level targets. */
  topLevel: unknown;
  /** The team's current metadata (null before its first publish). */
  current: unknown | null;
  /** The team's newest stored version (its next is this + 1), kept across a removal and re-adding. */
  storedVersion: number;
  key: TufSigningKey;
  add: NewTarget;
  validMs: number;
  now: number;
}): Metadata<Targets> {
  const team = teamName(o.team);
  const role = teamRoleName(team);
  const top = parseMetadata('targets', o.topLevel, 'the top-level targets metadata');
  const d = teamDelegations(top).find((t) => t.role.name === role);
  if (!d) throw new FleetError('not_found', `there is no team ${team} on the server (the targets key adds it: \`gpufleet releases teams add ${team}\`)`);
  if (!d.role.keyIDs.includes(o.key.keyId)) {
    throw new FleetError(
      'failed_precondition',
      `the team key given (${o.key.keyId.slice(0, 12)}) is not a key of team ${team} (${d.role.keyIDs.map((k: string) => k.slice(0, 12)).join(', ')})`,
    );
  }
  if (o.add.custom.kind !== 'bundle') throw new FleetError('invalid_argument', 'a team publishes bundles; agent builds are signed by the targets key');
  if (!d.role.isDelegatedPath(o.add.path)) {
    throw new FleetError('invalid_argument', `bundle ${o.add.custom.name} is not team ${team}'s: its bundles are named ${team}-*, e.g. ${team}-inference`);
  }
  const current = o.current === null ? null : parseMetadata('targets', o.current, `the current ${role} metadata`);
  const version = o.storedVersion + 1;
  const metadata = parseMetadata(
    'targets',
    {
      signed: { _type: 'targets', spec_version: '1.0.31', version, expires: tufExpires(o.now, o.validMs), targets: withTarget(current, o.add) },
      signatures: [],
    },
    `${role} version ${version}`,
  );
  signWith(metadata, o.key);
  return metadata;
}
