import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { FleetError } from '@gpufleet/protocol';

export const LOCK_FILE = 'agent.pid';
const BOOT_ID_PATH = '/proc/sys/kernel/random/boot_id';

/**
 * What the agent keeps in its data dir besides `node.key` (identity.ts refuses a readable key
 * outright: it may have been copied, so it is not quietly tightened): node config, pinned CA,
 * outbox, trust log. All are written 0600; older or hand-copied ones are tightened at start. (The
 * lock file holds only a pid and is made 0600 afresh each start.)
 */
export const AGENT_STATE_FILES: readonly string[] = Object.freeze(['node.json', 'ca.pem', 'outbox.jsonl', 'trust.jsonl']);

const octal = (mode: number) => (mode & 0o777).toString(8).padStart(4, '0');

/** What {@link checkDataDir} changed and what it left for the operator. */
export interface DataDirCheck {
  /** State files tightened to 0600: `path: 0644 -> 0600`. */
  fixed: string[];
  /** A data dir others can list: left as it is, with the fix. */
  warnings: string[];
}

/**
 * Checks the agent's data dir at start: made 0700 when missing; refused when group or others can
 * write it (they could replace the key, the pinned CA or the trust log); a warning when they can
 * list it (the files inside are 0600; the folder may be the operator's own); state files this
 * agent wrote with looser modes (older versions wrote ca.pem 0644) are tightened to 0600.
 */
export function checkDataDir(dataDir: string): DataDirCheck {
  const result: DataDirCheck = { fixed: [], warnings: [] };
  try {
    if (mkdirSync(dataDir, { recursive: true, mode: 0o700 }) !== undefined) chmodSync(dataDir, 0o700);
  } catch (err) {
    throw new FleetError('failed_precondition', `cannot create the data dir ${dataDir}: ${(err as Error).message}`, { cause: err });
  }
  const st = statSync(dataDir);
  if (!st.isDirectory()) throw new FleetError('failed_precondition', `the data dir ${dataDir} is not a folder`);
  const mode = st.mode & 0o777;
  if ((mode & 0o022) !== 0) {
    throw new FleetError(
      'failed_precondition',
      `refusing the data dir ${dataDir}: its mode is ${octal(mode)}, so group or others can write it and replace the node key, pinned CA or trust log; run 'chmod 700 ${dataDir}'`,
    );
  }
  if ((mode & 0o055) !== 0)
    result.warnings.push(
      `the data dir ${dataDir} is mode ${octal(mode)}: group or others can list it (its files are 0600); 'chmod 700 ${dataDir}' makes it private`,
    );
  for (const name of AGENT_STATE_FILES) {
    const path = join(dataDir, name);
    let fileMode: number;
    try {
      const fst = statSync(path);
      if (!fst.isFile()) throw new FleetError('failed_precondition', `refusing ${path}: it should be a file the agent wrote, not a folder or device`);
      fileMode = fst.mode & 0o777;
    } catch (err) {
      if (err instanceof FleetError) throw err;
      continue; // not there
    }
    if ((fileMode & 0o077) === 0) continue;
    try {
      chmodSync(path, 0o600);
    } catch (err) {
      throw new FleetError('failed_precondition', `refusing ${path}: its mode is ${octal(fileMode)} and it cannot be made 0600: ${(err as Error).message}`, {
        cause: err,
      });
    }
    result.fixed.push(`${path}: ${octal(fileMode)} -> 0600`);
  }
  return result;
}

/**
 * Takes the data dir for this process: two agents on one data dir would share a key (each
 * replacing the other's session) and interleave the outbox file. The lock file holds
 * `<pid> <boot id>`; a lock from an earlier boot or from a process that no longer runs is stale
 * and taken over (after a reboot the same pid may well come back). The dir's modes are checked
 * first ({@link checkDataDir}); what it fixed or warns about goes to `warn` (default stderr).
 * Returns the release function.
 */
export function lockDataDir(dataDir: string, options: { pid?: number; bootId?: string; warn?: (message: string) => void } = {}): () => void {
  const warn = options.warn ?? ((message: string) => void process.stderr.write(`gpufleet-agent: warning: ${message}\n`));
  const checked = checkDataDir(dataDir);
  for (const message of checked.warnings) warn(message);
  for (const fixed of checked.fixed) warn(`made a state file private: ${fixed}`);
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
        throw new FleetError(
          'failed_precondition',
          `another gpufleet-agent (pid ${holder}) is already running on ${dataDir}; stop it first (systemctl stop gpufleet-agent)`,
        );
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
