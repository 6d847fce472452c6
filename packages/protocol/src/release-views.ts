import { z } from 'zod';

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

/** `agent@0.3.0` → kind and version; null when the text is not of that form. */
export function parseReleaseRef(text: string): { kind: ReleaseKind; version: string } | null {
  const at = text.indexOf('@');
  if (at <= 0) return null;
  const kind = text.slice(0, at);
  const version = text.slice(at + 1);
  if (!(RELEASE_KINDS as readonly string[]).includes(kind) || !RELEASE_VERSION.test(version)) return null;
  return { kind: kind as ReleaseKind, version };
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
}

export interface ReleaseList {
  repository: ReleaseRepositoryView;
  /** Newest first. */
  items: ReleaseView[];
}
