import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ROLLOUT_ID } from '@gpufleet/protocol';
import { writeAtomic } from '../runtime/file-state.js';

/**
 * The record of an agent switch in flight, in the data dir, shared by three processes: the
 * old build writes it before it exits into the new one, the launcher reads it to know it must
 * watch the new build, and the build that runs next reports from it. States:
 * `switched` (the new build must pass its self-check before the deadline), `confirmed` (it
 * did: the new build reports healthy), `rolled-back` (it did not: the launcher went back, and
 * the old build reports the failure with `reason`).
 */
export const PENDING_UPDATE_FILE = 'agent-update.json';

export interface PendingUpdate {
  v: 1;
  /** Null for a side-loaded release. */
  rolloutId: string | null;
  /** 'update': to a new release; 'rollback': back to the build before (an order from the server). */
  op: 'update' | 'rollback';
  fromVersion: string;
  toVersion: string;
  /** The release version the reports are about (the rollout's, for a rollback too). */
  version: string;
  state: 'switched' | 'confirmed' | 'rolled-back';
  switchedAt: number;
  reason: string | null;
  /** False for a side-loaded build: its self-check passes without a server (the host may have no route to one). Absent: true. */
  needsServer?: boolean;
  /**
   * A side-load asks the running launcher to restart the agent into the new build ('asked'; the
   * launcher sets 'taken' as it does). Absent: whoever switched restarts the agent (the agent
   * itself online; the operator after `sideload --install --no-restart`).
   */
  launcherRestart?: 'asked' | 'taken';
}

const text = (v: unknown, max = 64): v is string => typeof v === 'string' && v.length <= max;

/** A record as written by writePendingUpdate; anything else is not one. */
function isPendingUpdate(r: Partial<PendingUpdate> | null): r is PendingUpdate {
  return (
    r !== null &&
    typeof r === 'object' &&
    r.v === 1 &&
    (r.rolloutId === null || (typeof r.rolloutId === 'string' && ROLLOUT_ID.test(r.rolloutId))) &&
    (r.op === 'update' || r.op === 'rollback') &&
    text(r.fromVersion) &&
    text(r.toVersion) &&
    text(r.version) &&
    (r.state === 'switched' || r.state === 'confirmed' || r.state === 'rolled-back') &&
    Number.isSafeInteger(r.switchedAt) &&
    (r.reason === null || text(r.reason, 2048)) &&
    (r.needsServer === undefined || typeof r.needsServer === 'boolean') &&
    (r.launcherRestart === undefined || r.launcherRestart === 'asked' || r.launcherRestart === 'taken')
  );
}

export function pendingUpdatePath(dataDir: string): string {
  return join(dataDir, PENDING_UPDATE_FILE);
}

/** The record, or null when there is none or it is unreadable (then it is of no use to anyone). */
export function readPendingUpdate(dataDir: string): PendingUpdate | null {
  const file = pendingUpdatePath(dataDir);
  if (!existsSync(file)) return null;
  try {
    const record = JSON.parse(readFileSync(file, 'utf8')) as Partial<PendingUpdate> | null;
    return isPendingUpdate(record) ? record : null;
  } catch {
    return null;
  }
}

export function writePendingUpdate(dataDir: string, record: PendingUpdate): void {
  writeAtomic(pendingUpdatePath(dataDir), `${JSON.stringify(record)}\n`, 0o600);
}

export function clearPendingUpdate(dataDir: string): void {
  rmSync(pendingUpdatePath(dataDir), { force: true });
}
