import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { FleetError } from '@gpufleet/protocol';

export const LOCK_FILE = 'agent.pid';
const BOOT_ID_PATH = '/proc/sys/kernel/random/boot_id';

/**
 * Takes the data dir for this process: two agents on one data dir would share a key (each
 * replacing the other's session) and interleave the outbox file. The lock file holds
 * `<pid> <boot id>`; a lock from an earlier boot or from a process that no longer runs is stale
 * and taken over (after a reboot the same pid may well come back). Returns the release function.
 */
export function lockDataDir(dataDir: string, options: { pid?: number; bootId?: string } = {}): () => void {
  const pid = options.pid ?? process.pid;
  const bootId = options.bootId ?? safeRead(BOOT_ID_PATH).trim();
  const path = join(dataDir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new FleetError('failed_precondition', `cannot lock the data dir ${dataDir}: ${(err as Error).message}`, { cause: err });
      }
      const [pidText = '', holderBoot = ''] = safeRead(path).trim().split(/\s+/);
      const holder = Number.parseInt(pidText, 10);
      const sameBoot = holderBoot === bootId;
      if (Number.isInteger(holder) && holder > 0 && sameBoot && isRunning(holder)) {
        throw new FleetError('failed_precondition', `another gpufleet-agent (pid ${holder}) is already running on ${dataDir}; stop it first (systemctl stop gpufleet-agent)`);
      }
      rmSync(path, { force: true }); // stale: an earlier boot, a dead process, or garbage
      continue;
    }
    writeSync(fd, `${pid} ${bootId}\n`);
    closeSync(fd);
    return () => {
      if (safeRead(path).trim() === `${pid} ${bootId}`.trim()) rmSync(path, { force: true });
    };
  }
  throw new FleetError('failed_precondition', `cannot lock the data dir ${dataDir}: ${path} keeps coming back`);
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else; still running.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
