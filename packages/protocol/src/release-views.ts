import { z } from 'zod';

export * from './release-teams.js';

/**
 * Signed releases (issue 14): the control plane serves a TUF repository of gpufleet-agent builds
 * (and, later, host bundles). These are the REST shapes and the naming rules the CLI, the server
 * and the agent share.
 *
 *   GET  /tuf/metadata/{N.root.json | timestamp.json | N.snapshot.json | N.targets.json}   (public)
 *   GET  /tuf/targets/{dir}/{sha256}.{name}                         (public, consistent snapshots)
 *   POST /api/v1/releases/keys      UploadReleaseKeysRequest → ReleaseRepositoryView   (admin)
 *   POST /api/v1/releases/root      NewReleaseRootRequest → ReleaseRepositoryView      (admin)
 *   POST /api/v1/releases/publish   PublishReleaseRequest → ReleaseList                (admin)
 *   GET  /api/v1/releases           → ReleaseList                                      (viewer)
 *   (teams, delegated from the targets role: release-teams.ts)
 */

export const RELEASE_KINDS = ['agent', 'bundle'] as const;
export type ReleaseKind = (typeof RELEASE_KINDS)[number];

/** A release version: letters, digits and `. + _ -`, starting with a letter or digit (semver fits). */
export const RELEASE_VERSION = /^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$/;

/** A target path: relative, `/`-separated segments of safe characters, none starting with a dot. */
export const TARGET_PATH = /^(?:[A-Za-z0-9_+-][A-Za-z0-9._+-]{0,127}\/){0,3}[A-Za-z0-9_+-][A-Za-z0-9._+-]{0,127}$/;

/** Where an agent build lives in the repository; the agent finds a version by this path. */
export function agentTargetPath(version: string): string {
  if (!RELEASE_VERSION.test(version)) throw new Error(`'${version}' is not a release version (letters, digits and . + _ -, e.g. 0.3.0)`);
  return `agent/gpufleet-agent-${version}.tgz`;
}

/** A bundle's name: lowercase letters, digits and `-`, starting with a letter (it names containers and folders on hosts). */
export const BUNDLE_NAME = /^[a-z][a-z0-9-]{0,47}$/;

/** The name every agent release carries. */
export const AGENT_RELEASE_NAME = 'gpufleet-agent';

/** Where a host bundle lives in the repository: one folder per bundle, one ustar file per version. */
export function bundleTargetPath(name: string, version: string): string {
  if (!BUNDLE_NAME.test(name)) throw new Error(`'${name}' is not a bundle name (lowercase letters, digits and -, starting with a letter, e.g. inference)`);
  if (!RELEASE_VERSION.test(version)) throw new Error(`'${version}' is not a release version (letters, digits and . + _ -, e.g. 12)`);
  return `bundles/${name}/${name}-${version}.tar`;
}

/** The TUF target path of a release of either kind (the name is ignored for agent releases). */
export function releaseTargetPath(ref: ReleaseRef): string {
  return ref.kind === 'agent' ? agentTargetPath(ref.version) : bundleTargetPath(ref.name, ref.version);
}

/** Which release: agent builds are all named gpufleet-agent; bundles by their own name. */
export interface ReleaseRef {
  kind: ReleaseKind;
  name: string;
  version: string;
}

/**
 * `agent@0.3.0` or `bundle:inference@12` (also `inference@12` for a bundle) → the release; null
 * when the text is not of that form.
 */
export function parseReleaseRef(text: string): ReleaseRef | null {
  const at = text.lastIndexOf('@');
  if (at <= 0) return null;
  const head = text.slice(0, at);
  const version = text.slice(at + 1);
  if (!RELEASE_VERSION.test(version)) return null;
  if (head === 'agent') return { kind: 'agent', name: AGENT_RELEASE_NAME, version };
  const name = head.startsWith('bundle:') ? head.slice('bundle:'.length) : head;
  if (!BUNDLE_NAME.test(name) || name === 'agent' || name === 'bundle') return null;
  return { kind: 'bundle', name, version };
}

/** How a release is written for people and in rollout refs: agent@0.3.0, inference@12. */
export function releaseRefText(ref: ReleaseRef): string {
  return ref.kind === 'agent' ? `agent@${ref.version}` : `${ref.name}@${ref.version}`;
}

/** Signed TUF metadata as JSON (`{ signed, signatures }`); its content is checked by the repository. */
const SignedMetadata = z.record(z.string(), z.unknown());

/** Private keys are PKCS#8 PEM; a few hundred bytes for Ed25519. */
const PrivateKeyPem = z.string().min(1).max(8192);

export const UploadReleaseKeysRequest = z.strictObject({
  /**
   * Root versions the server does not have yet, ascending: on an empty repository they start at
   * 1.root.json; otherwise they continue the stored chain. May be empty when only keys change.
   */
  roots: z.array(SignedMetadata).max(64),
  /** The online keys of the newest root's snapshot and timestamp roles, sealed by the server. */
  snapshotKey: PrivateKeyPem,
  timestampKey: PrivateKeyPem,
});
export type UploadReleaseKeysRequest = z.infer<typeof UploadReleaseKeysRequest>;

export const NewReleaseRootRequest = z.strictObject({
  /** The next root version, signed by a threshold of the current root's keys and of its own. */
  root: SignedMetadata,
});
export type NewReleaseRootRequest = z.infer<typeof NewReleaseRootRequest>;

export const PublishReleaseRequest = z.strictObject({
  /** The next targets metadata, signed by the targets key on the operator's machine. */
  targets: SignedMetadata,
  /** The bytes of targets the server does not hold yet, base64. */
  files: z
    .array(
      z.strictObject({
        path: z.string().regex(TARGET_PATH, 'a relative target path such as agent/gpufleet-agent-0.3.0.tgz'),
        data: z.string(),
      }),
    )
    .max(16),
});
export type PublishReleaseRequest = z.infer<typeof PublishReleaseRequest>;

/** Where the repository stands: each role's newest version (0 when there is none yet). */
export interface ReleaseRepositoryView {
  rootVersion: number;
  /** ISO 8601; null before the first root. A new root must be signed (`keys sign-root`) before it. */
  rootExpires: string | null;
  targetsVersion: number;
  snapshotVersion: number;
  timestampVersion: number;
  /** ISO 8601; null before the first publish. */
  timestampExpires: string | null;
  /** Whether the server holds the snapshot and timestamp keys of the newest root. */
  onlineKeys: boolean;
}

/** One published target as `releases ls` shows it. */
export interface ReleaseView {
  kind: ReleaseKind;
  name: string;
  version: string;
  /** The TUF target path. */
  path: string;
  sha256: string;
  length: number;
  /** ISO 8601: when the publish that added it was accepted. */
  publishedAt: string;
  /** The TUF role that signed it: `targets` (the top-level targets key) or a team's `team-NAME`. */
  signedBy: string;
}

export interface ReleaseList {
  repository: ReleaseRepositoryView;
  /** Newest first. */
  items: ReleaseView[];
}
