import { execFile } from 'node:child_process';
import { userInfo } from 'node:os';
import { FleetError } from '@gpufleet/protocol';

/** The account a command runs under, resolved on this host. */
export interface RunAsAccount {
  name: string;
  /** Null: keep the agent's own uid/gid (the command runs as the agent's user). */
  uid: number | null;
  gid: number | null;
  home: string;
}

/** Who the agent process is: injectable so tests can play root without being root. */
export interface ProcessIdentity {
  uid: number;
  username: string;
  home: string;
}

export function currentProcessIdentity(): ProcessIdentity {
  const info = userInfo();
  return { uid: typeof process.getuid === 'function' ? process.getuid() : info.uid, username: info.username, home: process.env.HOME ?? info.homedir };
}

const USER_NAME = /^[A-Za-z_][A-Za-z0-9._-]*\$?$/;

/**
 * Why this agent cannot run a command as `name`, or null when it can. Only an agent running as
 * root may switch users; any other agent may only run commands as itself.
 */
export function runAsProblem(name: string | null, self: ProcessIdentity): string | null {
  if (name === null || name === self.username) return null;
  if (!USER_NAME.test(name) || name.length > 64) return `'${name}' is not a valid user name`;
  if (self.uid !== 0) return `this agent runs as '${self.username}', not as root, so it cannot run a command as '${name}'`;
  return null;
}

/** Runs a small lookup tool and returns its trimmed stdout, or null when it fails. */
function lookup(file: string, args: string[]): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: 5000, env: { PATH: '/usr/bin:/bin:/usr/sbin:/sbin', LANG: 'C' } }, (err, stdout) =>
      resolve(err ? null : String(stdout).trim()),
    );
  });
}

/**
 * Resolves the account for `name`: the agent itself (no uid switch) when `name` is null or the
 * agent's own user; otherwise (root only) uid and gid from `id -u`/`id -g`, home from
 * `getent passwd` (or '/'). Throws FleetError('permission_denied' | 'not_found').
 */
export async function resolveRunAs(name: string | null, self: ProcessIdentity = currentProcessIdentity()): Promise<RunAsAccount> {
  const problem = runAsProblem(name, self);
  if (problem) throw new FleetError('permission_denied', problem);
  if (name === null || name === self.username) return { name: self.username, uid: null, gid: null, home: self.home };
  const [uidText, gidText] = await Promise.all([lookup('id', ['-u', name]), lookup('id', ['-g', name])]);
  const uid = Number(uidText);
  const gid = Number(gidText);
  if (uidText === null || gidText === null || !Number.isInteger(uid) || !Number.isInteger(gid) || uidText === '' || gidText === '') {
    throw new FleetError('not_found', `there is no user '${name}' on this host`);
  }
  const passwd = await lookup('getent', ['passwd', name]);
  const home = passwd?.split(':')[5] || '/';
  return { name, uid, gid, home };
}
