import { Readable } from 'node:stream';
import { readFile } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { BaseFetcher } from 'tuf-js';
import { DownloadHTTPError } from 'tuf-js/dist/error.js';

/** The files of a repository copy by relative path (`metadata/1.root.json`); undefined when absent. */
export type FileLookup = (relativePath: string) => Promise<Uint8Array | undefined>;

/** The base tuf-js joins file names onto; only this fetcher understands it. */
export const OFFLINE_BASE = 'offline://repository/';

/**
 * A tuf-js Fetcher over local files (an unpacked offline bundle, a folder): tuf-js asks for URLs
 * under OFFLINE_BASE and gets the files' bytes, or a 404 for an absent one, which is how it
 * learns that no newer root exists. What it reads is verified by tuf-js exactly as online.
 */
export class FileFetcher extends BaseFetcher {
  constructor(private readonly lookup: FileLookup) {
    super();
  }

  override async fetch(url: string): Promise<NodeJS.ReadableStream> {
    if (!url.startsWith(OFFLINE_BASE)) throw new DownloadHTTPError(`not a file of the offline repository: ${url}`, 404);
    const relative = decodeURIComponent(url.slice(OFFLINE_BASE.length));
    const bytes = await this.lookup(relative);
    if (bytes === undefined) throw new DownloadHTTPError(`the offline repository has no ${relative}`, 404);
    return Readable.from([Buffer.from(bytes)]);
  }
}

/** Files in a map (a tar read into memory). */
export function mapLookup(files: ReadonlyMap<string, Uint8Array>): FileLookup {
  return async (relative) => files.get(relative);
}

/** Files under a folder; a path that would leave it (`..`, absolute) is simply absent. */
export function folderLookup(dir: string): FileLookup {
  const root = resolve(dir);
  return async (relative) => {
    const file = resolve(join(root, relative));
    if (!file.startsWith(root + sep)) return undefined;
    try {
      return await readFile(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'EISDIR') return undefined;
      throw err;
    }
  };
}
