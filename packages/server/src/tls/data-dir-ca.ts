import { existsSync, readFileSync, renameSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { FleetError } from '@gpufleet/protocol';
import { caKeyPem, createCa, parseCa, pemFingerprint, type Ca } from './ca-material.js';
import { TLS_FILES, writeAtomic, writeSecret } from './tls-files.js';

/**
 * The CA kept in a data dir's `tls/` folder (ca.pem, ca-key.pem), or null where there is no
 * ca.pem. One that is there but unusable is refused, never replaced: join tokens may pin it.
 */
export function readDataDirCa(dir: string, now: number): Ca | null {
  const certPath = join(dir, TLS_FILES.ca);
  if (!existsSync(certPath)) return null;
  try {
    const keyPath = join(dir, TLS_FILES.caKey);
    return parseCa(readFileSync(certPath, 'utf8'), existsSync(keyPath) ? readFileSync(keyPath) : '', now, { cert: TLS_FILES.ca, key: TLS_FILES.caKey });
  } catch (err) {
    throw new FleetError(
      'failed_precondition',
      `the server CA in ${dir} is unusable (${(err as Error).message}); fix or restore it, or delete the folder to make a new CA (existing join tokens and enrolled agents then stop trusting this server)`,
      { cause: err },
    );
  }
}

/** Writes a CA into the data dir: the key first, so a ca.pem never stands without its key. */
export function writeDataDirCa(dir: string, ca: Ca): void {
  writeSecret(join(dir, TLS_FILES.caKey), caKeyPem(ca));
  writeCaCopy(dir, ca);
}

/** Writes only the CA certificate (public): with a shared CA, the data dir keeps a copy for operators and clients. */
export function writeCaCopy(dir: string, ca: Ca): void {
  writeAtomic(join(dir, TLS_FILES.ca), ca.pem, 0o644);
}

/** The per-data-dir CA (no master key, or a single server): the kept one, or a new one written there. */
export async function loadOrCreateDataDirCa(dir: string, now: number): Promise<Ca> {
  const kept = readDataDirCa(dir, now);
  if (kept) return kept;
  // No CA certificate means no fingerprint was ever handed out: a fresh CA breaks nothing.
  // A stray ca-key.pem without it (a crash mid-write) is simply replaced.
  const ca = await createCa(now);
  writeDataDirCa(dir, ca);
  return ca;
}

/** What a data dir holds of a CA, read without judging it. */
export interface DataDirCaFiles {
  /** The fingerprint of ca.pem; null where ca.pem is there but unreadable, undefined where it is absent. */
  fingerprint: string | null | undefined;
  hasKey: boolean;
}

export function peekDataDirCa(dir: string): DataDirCaFiles {
  const certPath = join(dir, TLS_FILES.ca);
  return {
    fingerprint: existsSync(certPath) ? pemFingerprint(readFileSync(certPath, 'utf8')) : undefined,
    hasKey: existsSync(join(dir, TLS_FILES.caKey)),
  };
}

/** Removes ca-key.pem once the same key is sealed in the store (a copy in the clear would defeat the seal). */
export function dropDataDirCaKey(dir: string): void {
  unlinkSync(join(dir, TLS_FILES.caKey));
}

/**
 * Moves the data dir's CA files aside (`ca.superseded-<stamp>.pem`, `ca-key.superseded-<stamp>.pem`,
 * modes kept) rather than deleting them: an operator who pointed the server at the wrong store can
 * still put them back. Returns the new paths.
 */
export function supersedeDataDirCa(dir: string, now: number): string[] {
  const stamp = new Date(now)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  // Both files get one suffix, never one already taken (a second move within the same second).
  let suffix = stamp;
  for (let n = 2; [TLS_FILES.ca, TLS_FILES.caKey].some((f) => existsSync(join(dir, aside(f, suffix)))); n++) suffix = `${stamp}-${n}`;
  const moved: string[] = [];
  for (const file of [TLS_FILES.ca, TLS_FILES.caKey]) {
    const from = join(dir, file);
    if (!existsSync(from)) continue;
    const to = join(dir, aside(file, suffix));
    renameSync(from, to);
    moved.push(to);
  }
  return moved;
}

function aside(file: string, suffix: string): string {
  return file.replace(/\.pem$/, `.superseded-${suffix}.pem`);
}
