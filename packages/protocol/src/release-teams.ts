import { z } from 'zod';

/**
 * Teams that publish their own bundles (issue 14): TUF delegations from the top-level targets
 * role. A team's key signs the team's own targets metadata; the targets key only names the team,
 * its keys and the bundles it may sign.
 *
 *   GET  /tuf/metadata/N.team-NAME.json                              (public)
 *   GET  /api/v1/releases/teams            → ReleaseTeamList          (viewer)
 *   POST /api/v1/releases/teams            ReleaseTeamsRequest → ReleaseTeamList     (admin)
 *   POST /api/v1/releases/teams/{team}/publish  PublishTeamReleaseRequest → ReleaseList  (operator)
 *
 * Layout: team `ml` owns the bundles named `ml-*`, which live at `bundles/ml-<rest>/...` like
 * every bundle, so hosts find a team's bundle by its name alone. A team name has no `-`, so the
 * first `-` of a bundle name says which team may sign it, and no team's prefix covers another's.
 */

/** A team name: lowercase letters and digits, starting with a letter (no `-`: it ends the bundle prefix). */
export const TEAM_NAME = /^[a-z][a-z0-9]{0,31}$/;

/** The TUF role name of a team: `team-NAME`, which no top-level role can be and which is safe in a URL. */
export const TEAM_ROLE = /^team-[a-z][a-z0-9]{0,31}$/;

const ROLE_PREFIX = 'team-';

/** Why a team name is refused, or null when it is a good one. */
export function teamNameProblem(name: string): string | null {
  if (TEAM_NAME.test(name)) return null;
  return `'${name.slice(0, 40)}' is not a team name: lowercase letters and digits, starting with a letter, at most 32 (no '-': team ml owns the bundles named ml-*)`;
}

/** The role that signs a team's bundles. */
export function teamRoleName(team: string): string {
  const problem = teamNameProblem(team);
  if (problem) throw new Error(problem);
  return `${ROLE_PREFIX}${team}`;
}

/** The team of a delegated role name, or null when it is not a team's role. */
export function teamOfRole(role: string): string | null {
  return TEAM_ROLE.test(role) ? role.slice(ROLE_PREFIX.length) : null;
}

/** The one path pattern a team's delegation holds: every file of the bundles named `TEAM-*`. */
export function teamBundlePattern(team: string): string {
  return `bundles/${team}-*/*`;
}

/** The team whose prefix a bundle name carries (`ml-inference` → `ml`), or null when it has none. */
export function teamOfBundle(bundle: string): string | null {
  const dash = bundle.indexOf('-');
  if (dash <= 0 || dash === bundle.length - 1) return null;
  const team = bundle.slice(0, dash);
  return TEAM_NAME.test(team) ? team : null;
}

/** Signed TUF metadata as JSON (`{ signed, signatures }`); its content is checked by the repository. */
const SignedMetadata = z.record(z.string(), z.unknown());

export const ReleaseTeamsRequest = z.strictObject({
  /**
   * The next top-level targets metadata, signed by the targets key, with the same targets as the
   * current one and its delegations changed (a team added, changed or removed).
   */
  targets: SignedMetadata,
});
export type ReleaseTeamsRequest = z.infer<typeof ReleaseTeamsRequest>;

export const PublishTeamReleaseRequest = z.strictObject({
  /** The team's next targets metadata, signed by the team's key(s) on the team's machine. */
  metadata: SignedMetadata,
  /** The bytes of targets the server does not hold yet, base64. */
  files: z
    .array(
      z.strictObject({
        path: z.string().min(1).max(600),
        data: z.string(),
      }),
    )
    .max(16),
});
export type PublishTeamReleaseRequest = z.infer<typeof PublishTeamReleaseRequest>;

/** One team as `releases teams ls` shows it. */
export interface ReleaseTeamView {
  name: string;
  /** Its TUF role: team-NAME. */
  role: string;
  /** The ids of the keys that may sign for it (SHA-256 of the key's canonical JSON). */
  keyIds: string[];
  threshold: number;
  /** The target path patterns it may sign: bundles/NAME-*\/*. */
  paths: string[];
  /** Its newest targets metadata version (0 before its first publish). */
  version: number;
  /** ISO 8601: when that metadata expires; null before the first publish. */
  expires: string | null;
  /** How many releases that metadata lists. */
  releases: number;
}

export interface ReleaseTeamList {
  /** The top-level targets version that names these teams (0 when nothing is published). */
  targetsVersion: number;
  items: ReleaseTeamView[];
}
