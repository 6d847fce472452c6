import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeAtomic } from '../runtime/file-state.js';

/**
 * Rollouts whose agent build failed here and was rolled back, in the data dir (issue 14). The
 * server sends a rollout's apply again when a host's session comes back while it still counts
 * the host as updating; the old build, back after a rollback, must answer with the failure it
 * reports anyway, not install the build that just failed again (a crash loop).
 */
const FILE = 'agent-update-failures.json';
const KEEP = 32;

export interface UpdateFailure {
  rolloutId: string;
  version: string;
  message: string;
}

export function readUpdateFailures(dataDir: string): UpdateFailure[] {
  const file = join(dataDir, FILE);
  if (!existsSync(file)) return [];
  try {
    const list = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    return Array.isArray(list)
      ? list.filter((f): f is UpdateFailure => typeof f?.rolloutId === 'string' && typeof f.version === 'string' && typeof f.message === 'string')
      : [];
  } catch {
    return [];
  }
}

/** Remembers a failed rollout (the newest KEEP). */
export function rememberUpdateFailure(dataDir: string, failure: UpdateFailure): void {
  const list = readUpdateFailures(dataDir).filter((f) => f.rolloutId !== failure.rolloutId);
  list.push(failure);
  writeAtomic(join(dataDir, FILE), `${JSON.stringify(list.slice(-KEEP))}\n`, 0o600);
}

export function updateFailure(dataDir: string, rolloutId: string): UpdateFailure | null {
  return readUpdateFailures(dataDir).find((f) => f.rolloutId === rolloutId) ?? null;
}
