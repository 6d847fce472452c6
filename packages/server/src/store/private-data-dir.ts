import { chmodSync, closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FleetError } from '@gpufleet/protocol';

/**
 * The files the control plane makes in its data dir that must stay 0600: the embedded database
 * and its WAL files, the first admin token (app/admin-bootstrap.ts), the control plane's signing
 * key (trust/server-identity.ts) and the TLS private keys (tls/ensure-server-tls.ts).
 */
export const SERVER_PRIVATE_FILES: readonly string[] = Object.freeze([
  // SQLITE_FILE_NAME (open-store.ts imports this module through sqlite-store.ts, so not imported here).
  'gpufleet.db',
  'gpufleet.db-wal',
  'gpufleet.db-shm',
  'admin-token',
  'server-identity.pem',
  'tls/ca-key.pem',
  'tls/server-key.pem',
]);

/** What {@link securePrivateDir} found and did. */
export interface PrivateDirReport {
  /** The folder did not exist and was made 0700. */
  created: boolean;
  /** Loose modes it tightened on files this program made: `path: 0644 -> 0600`. */
  fixed: string[];
  /** What it left alone but an operator should look at (a folder others may read or enter). */
  warnings: string[];
}

const octal = (mode: number) => (mode & 0o777).toString(8).padStart(4, '0');

/**
 * Makes `dir` the control plane's private data dir and checks it at start:
 * - missing: created 0700 (and every parent it has to make);
 * - group- or world-writable: refused, since anyone in that group could swap the database, keys
 *   or token (a folder someone made that way is theirs to fix: the message says how);
 * - group- or world-readable or searchable: a warning naming the fix, since the files inside are
 *   0600 and a folder the operator made may be shared on purpose (a mount point);
 * - `ours` (file names relative to `dir`: the database and its -wal/-shm, tokens, keys) that exist
 *   with any group or world bit: tightened to 0600, since this program made them, and reported.
 */
export function securePrivateDir(dir: string, ours: readonly string[] = []): PrivateDirReport {
  if (typeof dir !== 'string' || dir.length === 0) throw new FleetError('invalid_argument', 'data dir must be a non-empty path');
  const report: PrivateDirReport = { created: false, fixed: [], warnings: [] };
  let made: string | undefined;
  try {
    made = mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new FleetError('failed_precondition', `cannot create the data dir ${dir}: ${(err as Error).message}`, { cause: err });
  }
  if (made !== undefined) {
    report.created = true;
    // mkdir's mode passes through the umask: state it outright.
    chmodSync(dir, 0o700);
  }
  const st = statSync(dir);
  if (!st.isDirectory()) throw new FleetError('failed_precondition', `the data dir ${dir} is not a folder`);
  const mode = st.mode & 0o777;
  if ((mode & 0o022) !== 0) {
    throw new FleetError(
      'failed_precondition',
      `refusing the data dir ${dir}: its mode is ${octal(mode)}, so group or others can write it and replace its database, keys or tokens; run 'chmod 700 ${dir}'`,
    );
  }
  if ((mode & 0o055) !== 0)
    report.warnings.push(`the data dir ${dir} is mode ${octal(mode)}: group or others can list it (its files are 0600); 'chmod 700 ${dir}' makes it private`);
  report.fixed.push(...makePrivate(ours.map((name) => join(dir, name))));
  return report;
}

/**
 * Tightens each existing file of `paths` (files this program made) to 0600 when group or others
 * have any access; returns `path: 0644 -> 0600` for each one changed. A link or folder in their
 * place, or a file it cannot chmod, is refused. Links are followed.
 */
export function makePrivate(paths: readonly string[]): string[] {
  const fixed: string[] = [];
  for (const path of paths) {
    let fst;
    try {
      fst = statSync(path);
    } catch {
      continue; // not there (yet)
    }
    if (!fst.isFile()) throw new FleetError('failed_precondition', `refusing ${path}: it should be a file this program made, not a folder or device`);
    const fmode = fst.mode & 0o777;
    if ((fmode & 0o077) === 0) continue;
    try {
      chmodSync(path, 0o600);
    } catch (err) {
      throw new FleetError(
        'failed_precondition',
        `refusing ${path}: its mode is ${octal(fmode)} (group or others can read it) and it cannot be made 0600: ${(err as Error).message}`,
        { cause: err },
      );
    }
    fixed.push(`${path}: ${octal(fmode)} -> 0600`);
  }
  return fixed;
}

/**
 * Creates `path` empty with mode 0600 when it does not exist, so a program that would create it
 * with its own default (SQLite: 0644) finds it private; the umask cannot widen it. True when made.
 */
export function createPrivateFile(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new FleetError('failed_precondition', `cannot create ${path}: ${(err as Error).message}`, { cause: err });
  }
  closeSync(fd);
  return true;
}
