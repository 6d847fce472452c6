import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { writeAtomic } from '../runtime/file-state.js';
import { AGENT_ENTRY } from './agent-release.js';

/**
 * The sha256 of every file of an installed agent build, kept in its slot (issue 14), so the
 * launcher can tell a build still as it was verified from one changed since (a bad disk,
 * someone editing it) before it starts it. The hashes are of the installed files, not of the
 * release archive: the launcher starts those files, the archive is not kept next to them, and a
 * per-file record says which file changed. They are taken from the bytes unpacked from the
 * TUF-verified archive, before they are written, so a write that went wrong is caught too.
 */
export const SLOT_MANIFEST = '.gpufleet-slot.json';

/** Files an agent slot may hold: a bundled build has two, so this only bounds garbage. */
const MAX_FILES = 1024;
const SHA256 = /^[0-9a-f]{64}$/;

export interface SlotManifest {
  v: 1;
  /** Path inside the slot → sha256 (hex) of its bytes as installed. */
  files: Record<string, string>;
}

export function manifestOf(files: ReadonlyMap<string, Uint8Array>): SlotManifest {
  const out: Record<string, string> = {};
  for (const [name, bytes] of files) out[name] = createHash('sha256').update(bytes).digest('hex');
  return { v: 1, files: out };
}

/** Written after the files, so a slot filled halfway has no manifest and is never started. */
export function writeSlotManifest(slotDir: string, manifest: SlotManifest): void {
  writeAtomic(join(slotDir, SLOT_MANIFEST), `${JSON.stringify(manifest)}\n`, 0o644);
}

function readManifest(slotDir: string): SlotManifest | string {
  const file = join(slotDir, SLOT_MANIFEST);
  if (!existsSync(file)) return `it has no record of its installed files (${SLOT_MANIFEST})`;
  let m: Partial<SlotManifest> | null;
  try {
    m = JSON.parse(readFileSync(file, 'utf8')) as Partial<SlotManifest> | null;
  } catch (err) {
    return `its record of installed files (${SLOT_MANIFEST}) is not JSON: ${(err as Error).message.slice(0, 200)}`;
  }
  const files = m?.files;
  const entries = files && typeof files === 'object' ? Object.entries(files) : [];
  if (m?.v !== 1 || entries.length === 0 || entries.length > MAX_FILES || entries.some(([, h]) => typeof h !== 'string' || !SHA256.test(h))) {
    return `its record of installed files (${SLOT_MANIFEST}) is not one this agent writes`;
  }
  return m as SlotManifest;
}

/**
 * Why the build in `slotDir` must not be started, or null when every file its manifest names
 * has the bytes it was installed with (and the manifest names the entry point).
 */
export function slotProblem(slotDir: string): string | null {
  const manifest = readManifest(slotDir);
  if (typeof manifest === 'string') return manifest;
  if (!(AGENT_ENTRY in manifest.files)) return `its record of installed files does not name ${AGENT_ENTRY}`;
  const root = resolve(slotDir);
  for (const [name, sha256] of Object.entries(manifest.files)) {
    const path = resolve(root, name);
    if (!path.startsWith(root + sep)) return `its record of installed files names '${name.slice(0, 120)}', outside the slot`;
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch (err) {
      return `${name} is ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : `unreadable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`}`;
    }
    const now = createHash('sha256').update(bytes).digest('hex');
    if (now !== sha256) return `${name} changed since it was installed (sha256 ${now.slice(0, 16)}…, installed ${sha256.slice(0, 16)}…)`;
  }
  return null;
}
