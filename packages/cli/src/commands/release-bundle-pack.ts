import { lstatSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { BUNDLE_MANIFEST_FILE, FleetError, type BundleManifest } from '@gpufleet/protocol';
import { parseBundleFile, readBundleArchive, sourcesOf, writeBundleArchive } from '@gpufleet/agent';
import { CliError } from '../errors.js';

/** A packed bundle: the archive and what it holds. */
export interface PackedBundle {
  tar: Buffer;
  manifest: BundleManifest;
}

/** A mistake in the bundle folder: bad input, exit code 2, as a bad job or pools file. */
function bad(message: string): never {
  throw new FleetError('invalid_argument', message);
}

/**
 * Reads one file of the bundle folder. It must be a regular file inside the folder: a link is
 * followed only when it stays inside (a bundle must not carry /etc/shadow by accident).
 */
function readInside(folder: string, realFolder: string, path: string, shown: string): Buffer {
  const file = join(folder, path);
  try {
    lstatSync(file);
  } catch (err) {
    bad(`${shown} is not in the bundle folder (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
  const real = realpathSync(file);
  const rel = relative(realFolder, real);
  if (rel === '' || rel.startsWith(`..${sep}`) || rel === '..' || rel.startsWith(sep)) bad(`${shown} is a link to ${real}, outside the bundle folder: refused`);
  if (!statSync(real).isFile()) bad(`${shown} is not a regular file`);
  return readFileSync(real);
}

/**
 * Packs a bundle folder (`bundle.yaml`, and the files under files/ and units/ it names) into the
 * archive that is published: bundle.yaml must parse, pin every image by digest, and say the
 * name and version given on the command line (both are written twice on purpose: a typo cannot
 * publish another bundle's or version's contents). Only bundle.yaml and the files it names go in,
 * so nothing else in the folder is published by accident; the archive is the same bytes for the
 * same folder.
 */
export function packBundleFolder(folder: string, shownFolder: string, expect: { name: string; version: string }): PackedBundle {
  let isFolder: boolean;
  try {
    isFolder = statSync(folder).isDirectory();
  } catch (err) {
    throw new CliError(`cannot read ${shownFolder}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (!isFolder) throw new CliError(`${shownFolder} is not a folder: a bundle is a folder holding ${BUNDLE_MANIFEST_FILE}, files/ and units/`);
  const realFolder = realpathSync(folder);
  const shown = (p: string) => join(shownFolder, p);
  const text = readInside(folder, realFolder, BUNDLE_MANIFEST_FILE, shown(BUNDLE_MANIFEST_FILE)).toString('utf8');
  const manifest = parseBundleFile(text, shown(BUNDLE_MANIFEST_FILE));
  if (manifest.name !== expect.name) bad(`${shown(BUNDLE_MANIFEST_FILE)} names bundle '${manifest.name}', but --name is '${expect.name}'`);
  if (manifest.version !== expect.version) bad(`${shown(BUNDLE_MANIFEST_FILE)} says version '${manifest.version}', but --version is '${expect.version}'`);
  const sources = new Map<string, Uint8Array>();
  for (const source of sourcesOf(manifest)) {
    sources.set(source, new Uint8Array(readInside(folder, realFolder, source, `${shown(source)}, named in ${BUNDLE_MANIFEST_FILE},`)));
  }
  const tar = writeBundleArchive(text, sources);
  // What hosts will read: the same reader, so a bundle that packs here is one they accept.
  readBundleArchive(tar, expect);
  return { tar, manifest };
}
