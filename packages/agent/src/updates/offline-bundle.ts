import { AGENT_RELEASE_NAME, BUNDLE_NAME, FleetError, RELEASE_KINDS, RELEASE_VERSION, TARGET_PATH, type ReleaseKind } from '@gpufleet/protocol';
import { mapLookup, type FileLookup } from './file-fetcher.js';
import { readTar, writeTar, type TarEntry } from './ustar.js';

/**
 * An offline release bundle (`gpufleet releases export agent@V -o offline.tar`): a ustar file
 * with the repository's metadata as clients fetch it (`metadata/N.root.json` for every root
 * version, `metadata/timestamp.json`, `metadata/N.snapshot.json`, `metadata/N.targets.json`, and
 * `metadata/N.team-NAME.json` when a team signed the release),
 * the target under its consistent-snapshot name (`targets/agent/<sha256>.<file>`), and a small
 * unsigned manifest naming which release to look for. Nothing in it is trusted as is: the agent
 * verifies it with TUF against the root it already trusts, exactly as online.
 */

export const BUNDLE_MANIFEST = 'gpufleet-release.json';

export interface BundleManifest {
  format: 'gpufleet-offline-release';
  v: 1;
  kind: ReleaseKind;
  /** The release's name: a bundle's own (absent in exports made before bundles: gpufleet-agent). */
  name?: string;
  version: string;
  /** The TUF target path (informative: the agent looks the release up by kind, name and version). */
  targetPath: string;
}

export interface BundleParts {
  kind: ReleaseKind;
  /** Said in the manifest when given (bundles). */
  name?: string;
  version: string;
  /** Every root version's text, ascending from 1, so a host on an old root can follow rotations. */
  roots: ReadonlyArray<{ version: number; text: string }>;
  timestamp: string;
  snapshot: { version: number; text: string };
  targets: { version: number; text: string };
  /** Metadata of the delegated roles (teams) the target is found through, named as the snapshot names them. */
  delegated?: ReadonlyArray<{ role: string; version: number; text: string }>;
  target: { path: string; sha256: string; bytes: Uint8Array };
}

/** The tar of an offline bundle. */
export function writeBundle(p: BundleParts): Buffer {
  const utf8 = (text: string) => new Uint8Array(Buffer.from(text, 'utf8'));
  const slash = p.target.path.lastIndexOf('/');
  const hashed = slash === -1 ? `${p.target.sha256}.${p.target.path}` : `${p.target.path.slice(0, slash)}/${p.target.sha256}.${p.target.path.slice(slash + 1)}`;
  const manifest: BundleManifest = {
    format: 'gpufleet-offline-release',
    v: 1,
    kind: p.kind,
    ...(p.name === undefined ? {} : { name: p.name }),
    version: p.version,
    targetPath: p.target.path,
  };
  const entries: TarEntry[] = [
    { name: BUNDLE_MANIFEST, bytes: utf8(`${JSON.stringify(manifest, null, 2)}\n`) },
    ...p.roots.map((r) => ({ name: `metadata/${r.version}.root.json`, bytes: utf8(r.text) })),
    { name: 'metadata/timestamp.json', bytes: utf8(p.timestamp) },
    { name: `metadata/${p.snapshot.version}.snapshot.json`, bytes: utf8(p.snapshot.text) },
    { name: `metadata/${p.targets.version}.targets.json`, bytes: utf8(p.targets.text) },
    ...(p.delegated ?? []).map((d) => ({ name: `metadata/${d.version}.${d.role}.json`, bytes: utf8(d.text) })),
    { name: `targets/${hashed}`, bytes: p.target.bytes },
  ];
  return writeTar(entries);
}

/** Reads a bundle: its manifest (checked for shape only) and its files for the verifier. */
export function readBundle(tar: Uint8Array): { manifest: BundleManifest; lookup: FileLookup; files: number } {
  const files = readTar(tar);
  const raw = files.get(BUNDLE_MANIFEST);
  if (!raw)
    throw new FleetError(
      'invalid_argument',
      `not a release bundle: it has no ${BUNDLE_MANIFEST} (make one with \`gpufleet releases export agent@VERSION -o FILE\`)`,
    );
  let m: Partial<BundleManifest>;
  try {
    m = JSON.parse(raw.toString('utf8')) as Partial<BundleManifest>;
  } catch {
    throw new FleetError('invalid_argument', `not a release bundle: ${BUNDLE_MANIFEST} is not JSON`);
  }
  const ok =
    m !== null &&
    typeof m === 'object' &&
    m.format === 'gpufleet-offline-release' &&
    m.v === 1 &&
    (RELEASE_KINDS as readonly unknown[]).includes(m.kind) &&
    // A host bundle is found by its name; an agent export may leave it out (it was added with bundles).
    (m.name === undefined
      ? m.kind === 'agent'
      : typeof m.name === 'string' && (m.kind === 'agent' ? m.name === AGENT_RELEASE_NAME : BUNDLE_NAME.test(m.name))) &&
    typeof m.version === 'string' &&
    RELEASE_VERSION.test(m.version) &&
    typeof m.targetPath === 'string' &&
    TARGET_PATH.test(m.targetPath);
  if (!ok) throw new FleetError('invalid_argument', `not a release bundle: ${BUNDLE_MANIFEST} is not a manifest this agent understands`);
  return { manifest: m as BundleManifest, lookup: mapLookup(files), files: files.size };
}
