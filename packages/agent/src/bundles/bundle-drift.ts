import { createHash } from 'node:crypto';
import { bundleContainerName, type DriftItem } from '@gpufleet/protocol';
import { containerDrift } from './bundle-containers.js';
import type { BundleEngine } from './bundle-engine.js';
import type { StoredVersion } from './bundle-store.js';
import { ownedFiles, readHostFile } from './host-files.js';

const short = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex').slice(0, 16)}`;

/**
 * How the host differs from a bundle version's desired state: each container missing, stopped,
 * on another image or with other settings, and each file (units included) whose content changed
 * (a file's item names its path where a container's names the container). Sorted, so two checks
 * of the same host give the same list.
 */
export async function bundleDrift(engine: BundleEngine, root: string, v: StoredVersion): Promise<DriftItem[]> {
  const items: DriftItem[] = [];
  const images = new Map<string, string | null>();
  for (const c of v.manifest.containers) {
    if (!images.has(c.image)) images.set(c.image, await engine.imageId(c.image));
    const state = await engine.container(bundleContainerName(v.manifest.name, c.name));
    items.push(...containerDrift(v.manifest, c, state, images.get(c.image) ?? null));
  }
  for (const f of ownedFiles(v)) {
    const now = readHostFile(root, f.path);
    if (now?.equals(f.bytes)) continue;
    items.push({ container: f.path.slice(0, 128), kind: 'file-changed', expected: short(f.bytes), actual: now ? short(now) : 'missing' });
  }
  return items.sort((a, b) => a.container.localeCompare(b.container) || a.kind.localeCompare(b.kind));
}

/** One drift list as a key: the same drift gives the same key, so only changes are reported. */
export function driftKey(items: readonly DriftItem[]): string {
  return JSON.stringify(items);
}
