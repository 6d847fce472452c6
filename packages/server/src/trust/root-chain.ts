import { isDidKey, verifyRootsUpdate } from '@gpufleet/protocol';
import type { RootsVersionRecord } from '../store/store.js';

/**
 * Why a stored root history is not a valid signature chain, or null when it is. Version 1 is
 * the admin's `roots init` (unsigned: it is the anchor); every later version n must follow n-1
 * without a gap and carry a RootsUpdate for version n, signed by a root of version n-1 (as hosts
 * check it), naming exactly the roots stored for n. Someone who can write the database can add
 * a row or change one, but cannot sign as a root: such a row breaks the chain here.
 */
export function rootChainProblem(versions: readonly RootsVersionRecord[]): string | null {
  const sorted = [...versions].sort((a, b) => a.version - b.version);
  for (const [i, v] of sorted.entries()) {
    if (!Array.isArray(v.roots) || v.roots.length === 0 || !v.roots.every((d) => typeof d === 'string' && isDidKey(d))) {
      return `version ${v.version} does not hold a list of did:key roots`;
    }
    if (i === 0) {
      if (v.version !== 1) return `the history starts at version ${v.version}, not 1`;
      if (v.update !== null) return 'version 1 carries an update, but it can only come from `roots init`';
      continue;
    }
    const prev = sorted[i - 1]!;
    if (v.version !== prev.version + 1) return `version ${v.version} follows version ${prev.version}: a version is missing`;
    if (v.update === null) return `version ${v.version} has no signed update`;
    const verdict = verifyRootsUpdate(v.update, prev.roots, { currentVersion: prev.version });
    if (!verdict.ok) return `version ${v.version}: ${verdict.message}`;
    if (v.update.version !== v.version) return `version ${v.version} stores an update signed for version ${v.update.version}`;
    const signed = new Set(v.update.roots);
    if (signed.size !== new Set(v.roots).size || !v.roots.every((d) => signed.has(d)))
      return `version ${v.version} stores other roots than its signed update names`;
  }
  return null;
}
