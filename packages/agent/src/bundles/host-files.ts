import { chmodSync, lstatSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { BundleManifest } from '@gpufleet/protocol';
import type { DisplacedRecord, StoredVersion } from './bundle-store.js';

/** Where systemd looks for units an administrator installs. */
export const UNIT_DIR = '/etc/systemd/system';

/** A host file a bundle version owns: its absolute path (before `root`), bytes and mode. */
export interface OwnedFile {
  path: string;
  bytes: Buffer;
  mode: number;
}

/** Every host file a version owns: its files, and its units as files under /etc/systemd/system. */
export function ownedFiles(v: { manifest: BundleManifest; sources: ReadonlyMap<string, Buffer> }): OwnedFile[] {
  return [
    ...v.manifest.files.map((f) => ({ path: f.path, bytes: v.sources.get(f.source)!, mode: Number.parseInt(f.mode, 8) })),
    ...v.manifest.units.map((u) => ({ path: `${UNIT_DIR}/${u.name}`, bytes: v.sources.get(u.source)!, mode: 0o644 })),
  ];
}

/** The path on this host: manifest paths are absolute without `..` (the schema says so), under `root`. */
export function onHost(root: string, path: string): string {
  return join(root, path);
}

/** Writes a host file whole (temp file and rename) with its mode, making its folders. */
export function writeHostFile(root: string, f: OwnedFile): void {
  const target = onHost(root, f.path);
  mkdirSync(dirname(target), { recursive: true, mode: 0o755 });
  const tmp = `${target}.gpufleet-${process.pid}`;
  writeFileSync(tmp, f.bytes, { mode: f.mode });
  chmodSync(tmp, f.mode); // the umask would narrow the mode
  renameSync(tmp, target);
}

/** The bytes of a host file, or null when there is no regular file there. */
export function readHostFile(root: string, path: string): Buffer | null {
  try {
    return lstatSync(onHost(root, path)).isFile() ? readFileSync(onHost(root, path)) : null;
  } catch {
    return null;
  }
}

/**
 * What the target's files displace: for a path the version before owned too, its record is
 * carried over (the host's original predates both); for a new path, what is on the host now.
 * Returns the records and the original bytes to keep with the version.
 */
export function displacedBy(
  root: string,
  target: ReadonlyArray<OwnedFile>,
  from: StoredVersion | null,
): { records: Record<string, DisplacedRecord>; saved: Map<string, Buffer> } {
  const records: Record<string, DisplacedRecord> = {};
  const saved = new Map<string, Buffer>();
  target.forEach((f, i) => {
    const name = `displaced/${i}`;
    const before = from?.displaced[f.path];
    if (before) {
      records[f.path] = before.existed ? { existed: true, mode: before.mode, saved: name } : { existed: false };
      if (before.existed) saved.set(name, readFileSync(join(from!.dir, before.saved)));
      return;
    }
    const host = onHost(root, f.path);
    try {
      const st = lstatSync(host);
      if (!st.isFile()) throw new Error(`${host} is not a regular file: a bundle will not replace it`);
      records[f.path] = { existed: true, mode: st.mode & 0o7777, saved: name };
      saved.set(name, readFileSync(host));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      records[f.path] = { existed: false };
    }
  });
  return { records, saved };
}

/**
 * Makes the host's files those of `target`: writes each of its files, and gives back the paths
 * only `from` owned (the original restored from `from`'s record, or the file removed).
 */
export function convergeFiles(root: string, target: ReadonlyArray<OwnedFile>, from: StoredVersion | null): void {
  for (const f of target) writeHostFile(root, f);
  if (!from) return;
  const kept = new Set(target.map((f) => f.path));
  for (const f of ownedFiles(from)) {
    if (kept.has(f.path)) continue;
    const record = from.displaced[f.path];
    if (record?.existed) writeHostFile(root, { path: f.path, bytes: readFileSync(join(from.dir, record.saved)), mode: record.mode });
    else rmSync(onHost(root, f.path), { force: true });
  }
}
