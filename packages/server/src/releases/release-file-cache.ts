import type { Store } from '../store/store.js';
import { hashedTargetName, metadataFile, missingTarget } from './release-reads.js';

/** Target bytes kept in memory at most; a target bigger than a quarter of it is read from the store each time. */
const DEFAULT_MAX_BYTES = 256 * 1024 ** 2;
/** Versioned metadata files kept (each a few KiB). */
const MAX_METADATA_FILES = 512;

/**
 * What the public TUF routes serve, kept in memory where it cannot change: targets by sha256 (a
 * published path never changes its bytes) and versioned metadata by name (consistent
 * snapshots); timestamp.json is read from the store every time. The hosts of a wave fetch the
 * same files at once: without this, each request listed every published target and read the
 * whole target from the store (bench/rollout.ts). Requests for one target that arrive together
 * share one store read. Least recently used first out.
 */
export class ReleaseFileCache {
  private readonly blobs = new Map<string, Uint8Array>();
  private blobBytes = 0;
  private readonly reading = new Map<string, Promise<Uint8Array | undefined>>();
  private readonly metadata = new Map<string, string>();
  /** `path\nsha256` of every published target, read again when a request names one not in it. */
  private published = new Set<string>();
  private listing: Promise<void> | null = null;

  constructor(
    private readonly store: Store,
    private readonly maxBytes = DEFAULT_MAX_BYTES,
  ) {}

  async metadataFile(name: string): Promise<string> {
    if (name === 'timestamp.json') return metadataFile(this.store, name);
    const hit = this.metadata.get(name);
    if (hit !== undefined) return touch(this.metadata, name, hit);
    const text = await metadataFile(this.store, name);
    this.metadata.set(name, text);
    if (this.metadata.size > MAX_METADATA_FILES) this.metadata.delete(this.metadata.keys().next().value!);
    return text;
  }

  async targetFile(path: string): Promise<Uint8Array> {
    const name = hashedTargetName(path);
    if (!name) throw missingTarget(path);
    const key = `${name.logical}\n${name.sha256}`;
    if (!this.published.has(key)) {
      // Maybe published since (here or on another replica): the list only grows.
      await this.relist();
      if (!this.published.has(key)) throw missingTarget(path);
    }
    const hit = this.blobs.get(name.sha256);
    if (hit) return touch(this.blobs, name.sha256, hit);
    let pending = this.reading.get(name.sha256);
    if (!pending) {
      pending = this.store.getReleaseBlob(name.sha256).then((b) => b?.bytes);
      this.reading.set(name.sha256, pending);
      void pending.finally(() => this.reading.delete(name.sha256)).catch(() => undefined);
    }
    const bytes = await pending;
    if (!bytes) throw missingTarget(path);
    this.keep(name.sha256, bytes);
    return bytes;
  }

  private relist(): Promise<void> {
    this.listing ??= this.store
      .listReleaseTargets()
      .then((targets) => {
        this.published = new Set(targets.map((t) => `${t.path}\n${t.sha256}`));
      })
      .finally(() => {
        this.listing = null;
      });
    return this.listing;
  }

  private keep(sha256: string, bytes: Uint8Array): void {
    if (this.blobs.has(sha256) || bytes.byteLength > this.maxBytes / 4) return;
    this.blobs.set(sha256, bytes);
    this.blobBytes += bytes.byteLength;
    for (const [oldest, b] of this.blobs) {
      if (this.blobBytes <= this.maxBytes) break;
      this.blobs.delete(oldest);
      this.blobBytes -= b.byteLength;
    }
  }
}

/** Marks an entry most recently used (Map order is insertion order) and returns it. */
function touch<T>(map: Map<string, T>, key: string, value: T): T {
  map.delete(key);
  map.set(key, value);
  return value;
}
