import { BUNDLE_MANIFEST_FILE, FleetError, type BundleManifest } from '@gpufleet/protocol';
import { readTar, writeTar } from '../updates/ustar.js';
import { parseBundleFile } from './bundle-file.js';

/** A bundle archive read and checked: its manifest and the files it names, by their archive path. */
export interface BundleArchive {
  manifest: BundleManifest;
  /** bundle.yaml as written (kept in the host's copy of the version). */
  manifestText: string;
  /** `files/...` and `units/...` entries, each named by the manifest. */
  sources: Map<string, Buffer>;
}

/** A bundle archive holds bundle.yaml and a few hundred files at most; anything bigger is not one. */
const LIMITS = { maxEntries: 1 + 256 + 64, maxTotalBytes: 1024 ** 3 };

function refuse(message: string): never {
  throw new FleetError('invalid_argument', `not a bundle: ${message}`);
}

/** The archive paths the manifest needs: every file's and unit's source. */
export function sourcesOf(m: BundleManifest): string[] {
  return [...new Set([...m.files.map((f) => f.source), ...m.units.map((u) => u.source)])].sort();
}

/**
 * Reads a bundle archive (ustar) and checks it: bundle.yaml parses, every source it names is
 * there, nothing else is, and (when `expect` is given) its name and version are the ones the
 * signed target says. Throws FleetError('invalid_argument') saying what is wrong; reads nothing
 * from the host.
 */
export function readBundleArchive(bytes: Uint8Array, expect?: { name: string; version: string }): BundleArchive {
  const entries = readTar(bytes, LIMITS);
  const raw = entries.get(BUNDLE_MANIFEST_FILE);
  if (!raw) refuse(`the archive has no ${BUNDLE_MANIFEST_FILE}`);
  const manifestText = raw.toString('utf8');
  const manifest = parseBundleFile(manifestText, BUNDLE_MANIFEST_FILE);
  if (expect && (manifest.name !== expect.name || manifest.version !== expect.version)) {
    refuse(`${BUNDLE_MANIFEST_FILE} says ${manifest.name}@${manifest.version}, but the release is ${expect.name}@${expect.version}`);
  }
  const needed = sourcesOf(manifest);
  const sources = new Map<string, Buffer>();
  for (const path of needed) {
    const file = entries.get(path);
    if (!file) refuse(`${BUNDLE_MANIFEST_FILE} names ${path}, which the archive does not hold`);
    sources.set(path, file);
  }
  const extra = [...entries.keys()].filter((p) => p !== BUNDLE_MANIFEST_FILE && !sources.has(p));
  if (extra.length > 0)
    refuse(`the archive holds ${extra.slice(0, 3).join(', ')}${extra.length > 3 ? ', …' : ''}, which ${BUNDLE_MANIFEST_FILE} does not name`);
  return { manifest, manifestText, sources };
}

/**
 * The archive of a bundle: bundle.yaml first, then the sources in name order. The writer puts
 * no times, owners or modes of its own in (modes come from bundle.yaml), so the same folder always
 * gives the same bytes, and so the same SHA-256 in the signed targets.
 */
export function writeBundleArchive(manifestText: string, sources: ReadonlyMap<string, Uint8Array>): Buffer {
  const names = [...sources.keys()].sort();
  return writeTar([
    { name: BUNDLE_MANIFEST_FILE, bytes: new Uint8Array(Buffer.from(manifestText, 'utf8')) },
    ...names.map((name) => ({ name, bytes: sources.get(name)! })),
  ]);
}
