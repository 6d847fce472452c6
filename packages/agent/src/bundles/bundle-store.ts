import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BUNDLE_MANIFEST_FILE, BUNDLE_NAME, FleetError, RELEASE_VERSION, type BundleManifest } from '@gpufleet/protocol';
import { sourcesOf, type BundleArchive } from './bundle-archive.js';
import { parseBundleFile } from './bundle-file.js';

/** Which version of a bundle runs, and which ran before it (what `rollback` goes back to). */
export interface BundlePointer {
  current: string | null;
  previous: string | null;
}

/** What a host path held before a bundle first owned it, so that giving it up restores it. */
export type DisplacedRecord = { existed: false } | { existed: true; mode: number; saved: string };

/** A version as kept on the host: its manifest and the bytes of its sources. */
export interface StoredVersion {
  manifest: BundleManifest;
  sources: Map<string, Buffer>;
  /** Host path → what it held before this bundle owned it. */
  displaced: Record<string, DisplacedRecord>;
  dir: string;
}

const POINTER = 'current.json';
const DISPLACED = 'displaced.json';

/** Writes a file whole or not at all (a crash leaves the old one). */
function writeAtomic(path: string, data: string | Uint8Array, mode = 0o600): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data, { mode });
  renameSync(tmp, path);
}

/**
 * The bundles a host runs, under `<dataDir>/bundles/<name>/`: one folder per kept version
 * (`<version>/bundle.yaml`, `files/`, `units/`, and what its files displaced) and `current.json`,
 * the pointer to the running version and the one before it. Only those two are kept.
 */
export class BundleStore {
  readonly root: string;

  constructor(dataDir: string) {
    this.root = join(dataDir, 'bundles');
  }

  private bundleDir(name: string): string {
    if (!BUNDLE_NAME.test(name)) throw new FleetError('invalid_argument', `'${name.slice(0, 64)}' is not a bundle name`);
    return join(this.root, name);
  }

  versionDir(name: string, version: string): string {
    if (!RELEASE_VERSION.test(version)) throw new FleetError('invalid_argument', `'${version.slice(0, 64)}' is not a release version`);
    return join(this.bundleDir(name), version);
  }

  /** The pointer of a bundle; both null when it was never installed (or the pointer is unreadable). */
  pointer(name: string): BundlePointer {
    const file = join(this.bundleDir(name), POINTER);
    try {
      const p = JSON.parse(readFileSync(file, 'utf8')) as Partial<BundlePointer>;
      const ok = (v: unknown): string | null => (typeof v === 'string' && RELEASE_VERSION.test(v) ? v : null);
      return { current: ok(p.current), previous: ok(p.previous) };
    } catch {
      return { current: null, previous: null };
    }
  }

  setPointer(name: string, p: BundlePointer): void {
    writeAtomic(join(this.bundleDir(name), POINTER), `${JSON.stringify(p)}\n`);
  }

  /** Bundles with a running version. */
  installed(): string[] {
    if (!existsSync(this.root)) return [];
    return readdirSync(this.root)
      .filter((n) => BUNDLE_NAME.test(n))
      .filter((n) => this.pointer(n).current !== null)
      .sort();
  }

  /**
   * Keeps a verified archive as `<name>/<version>/` (replacing any older copy), with the record of
   * what its files displaced on the host and those original bytes (`saved`: path in the folder → bytes).
   */
  save(archive: BundleArchive, displaced: Record<string, DisplacedRecord>, saved: ReadonlyMap<string, Buffer>): StoredVersion {
    const { name, version } = archive.manifest;
    const dir = this.versionDir(name, version);
    const tmp = `${dir}.new-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true, mode: 0o700 });
    writeFileSync(join(tmp, BUNDLE_MANIFEST_FILE), archive.manifestText, { mode: 0o600 });
    for (const [path, bytes] of archive.sources) writeAtomic(join(tmp, path), bytes);
    for (const [path, bytes] of saved) writeAtomic(join(tmp, path), bytes);
    writeFileSync(join(tmp, DISPLACED), `${JSON.stringify(displaced)}\n`, { mode: 0o600 });
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
    return { manifest: archive.manifest, sources: new Map(archive.sources), displaced, dir };
  }

  /** Reads a kept version back; throws when it is missing or damaged. */
  load(name: string, version: string): StoredVersion {
    const dir = this.versionDir(name, version);
    try {
      const manifest = parseBundleFile(readFileSync(join(dir, BUNDLE_MANIFEST_FILE), 'utf8'), join(dir, BUNDLE_MANIFEST_FILE));
      const sources = new Map(sourcesOf(manifest).map((p) => [p, readFileSync(join(dir, p))]));
      const displaced = JSON.parse(readFileSync(join(dir, DISPLACED), 'utf8')) as Record<string, DisplacedRecord>;
      return { manifest, sources, displaced, dir };
    } catch (err) {
      throw new FleetError('failed_precondition', `the kept copy of bundle ${name}@${version} in ${dir} cannot be read: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  /** Removes every kept version of `name` but those listed. */
  prune(name: string, keep: ReadonlyArray<string | null>): void {
    const dir = this.bundleDir(name);
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir)) {
      if (entry === POINTER || keep.includes(entry)) continue;
      rmSync(join(dir, entry), { recursive: true, force: true });
    }
  }
}
