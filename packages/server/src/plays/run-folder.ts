import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { FleetError } from '@gpufleet/protocol';
import { stringify } from 'yaml';
import type { SshHostAccess } from '../jobcenter/job-center-contracts.js';
import type { SshHostKey } from '../ssh/ssh-transport.js';

/**
 * A play's private run folder (0700): inventory, host vars, keys (0600), known_hosts with every
 * pinned key, ansible.cfg and the playbook. ansible-playbook runs inside it with strict host key
 * checking against that known_hosts only: a host whose key changed is unreachable, never accepted.
 */

export interface RunHost {
  /** The inventory name (the node's hostname, made unique). */
  name: string;
  access: SshHostAccess;
  /** The node's groups, as inventory groups (a playbook may say `hosts: gpu_nodes`). */
  groups: string[];
  /** The node's variables, merged (values only). */
  vars: Record<string, unknown>;
}

export interface RunFolderInput {
  dir: string;
  playbook: string;
  hosts: RunHost[];
  /** The template's defaults: group_vars/all, below every layered variable. */
  defaults: Record<string, unknown>;
  extraVars: Record<string, unknown>;
  /** Where sshpass is, when a host logs in with a password; null when it is not installed. */
  sshpass: string | null;
  /**
   * A private folder (0700, short path: sockets are limited to 108 bytes) for this play's SSH
   * master connections; closeMasters ends them when the play ends.
   */
  controlDir: string;
}

/** A program on PATH, or null. */
export function findOnPath(program: string, path = process.env.PATH ?? ''): string | null {
  for (const dir of path.split(delimiter)) {
    if (dir !== '' && existsSync(join(dir, program))) return join(dir, program);
  }
  return null;
}

/** The key type a known_hosts line needs: the first string of the key blob (rsa-sha2-512 is stored as ssh-rsa). */
export function keyTypeOf(key: SshHostKey): string {
  const blob = Buffer.from(key.publicKey, 'base64');
  if (blob.length >= 4) {
    const len = blob.readUInt32BE(0);
    if (len > 0 && len < 64 && blob.length >= 4 + len) return blob.subarray(4, 4 + len).toString('latin1');
  }
  return key.algorithm.startsWith('rsa-sha2-') ? 'ssh-rsa' : key.algorithm;
}

/** OpenSSH writes port 22 as the bare address and any other as [address]:port. */
export function knownHostsLine(address: string, port: number, key: SshHostKey): string {
  const host = port === 22 ? address : `[${address}]:${port}`;
  return `${host} ${keyTypeOf(key)} ${key.publicKey}`;
}

/** `'...'` for sh: ProxyCommand is run by the shell. */
function shQuote(text: string): string {
  return `'${text.replaceAll("'", "'\\''")}'`;
}

function strictSshOptions(knownHosts: string): string[] {
  return ['-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'GlobalKnownHostsFile=/dev/null', '-o', 'IdentitiesOnly=yes'];
}

/** A key file's text; ansible's ssh cannot answer a passphrase prompt, so such keys are refused. */
function keyText(host: RunHost, which: 'login' | 'bastion'): string {
  const login = which === 'login' ? host.access.endpoint.login : host.access.endpoint.bastion!.login;
  if (login.kind !== 'key') throw new Error('not a key login');
  if (login.passphrase !== null && login.passphrase !== '') {
    throw new FleetError(
      'failed_precondition',
      `${host.name}: its ${which === 'login' ? '' : 'jump host '}key has a passphrase, which ansible-playbook cannot type; store the key without one for plays`,
    );
  }
  return login.privateKey.endsWith('\n') ? login.privateKey : `${login.privateKey}\n`;
}

async function writePrivate(path: string, text: string): Promise<void> {
  await writeFile(path, text, { mode: 0o600 });
  await chmod(path, 0o600);
}

/** Writes everything ansible-playbook needs; returns the paths it runs with. */
export async function writeRunFolder(input: RunFolderInput): Promise<{ playbook: string; extraVars: string; config: string }> {
  const { dir } = input;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  for (const sub of ['keys', 'host_vars', 'group_vars', 'tmp']) await mkdir(join(dir, sub), { mode: 0o700 });
  const knownHosts = join(dir, 'known_hosts');
  const lines: string[] = [];
  const inventoryHosts: Record<string, Record<string, unknown>> = {};
  const groups: Record<string, { hosts: Record<string, null> }> = {};

  for (const [i, host] of input.hosts.entries()) {
    const { endpoint, hostKey, bastionHostKey } = host.access;
    lines.push(knownHostsLine(endpoint.address, endpoint.port, hostKey));
    const vars: Record<string, unknown> = {
      ansible_host: endpoint.address,
      ansible_port: endpoint.port,
      ansible_user: endpoint.user,
      ansible_connection: 'ssh',
    };
    if (endpoint.login.kind === 'key') {
      const keyPath = join(dir, 'keys', `host-${i}`);
      await writePrivate(keyPath, keyText(host, 'login'));
      vars.ansible_ssh_private_key_file = keyPath;
    } else {
      if (input.sshpass === null) {
        throw new FleetError(
          'failed_precondition',
          `${host.name} logs in with a password, which ansible-playbook needs sshpass for; install it on the server (apt-get install sshpass) or give the host a key`,
        );
      }
      vars.ansible_password = endpoint.login.password;
    }
    if (endpoint.bastion !== null) {
      const b = endpoint.bastion;
      if (bastionHostKey === null) throw new FleetError('failed_precondition', `${host.name}: its jump host ${b.address} has no pinned key`);
      if (b.login.kind !== 'key') {
        throw new FleetError('failed_precondition', `${host.name}: its jump host logs in with a password; plays need a key for jump hosts`);
      }
      lines.push(knownHostsLine(b.address, b.port, bastionHostKey));
      const bastionKey = join(dir, 'keys', `bastion-${i}`);
      await writePrivate(bastionKey, keyText(host, 'bastion'));
      const proxy = ['ssh', '-i', bastionKey, '-p', String(b.port), ...strictSshOptions(knownHosts), '-W', '%h:%p', `${b.user}@${b.address}`]
        .map(shQuote)
        .join(' ');
      vars.ansible_ssh_common_args = `-o ProxyCommand=${shQuote(proxy)}`;
    }
    inventoryHosts[host.name] = vars;
    for (const g of host.groups) {
      if (g === 'all' || g === 'ungrouped') continue;
      groups[g] ??= { hosts: {} };
      groups[g].hosts[host.name] = null;
    }
    await writePrivate(join(dir, 'host_vars', `${host.name}.yml`), stringify(host.vars));
  }

  await writePrivate(knownHosts, `${lines.join('\n')}\n`);
  await writePrivate(join(dir, 'inventory.yml'), stringify({ all: { hosts: inventoryHosts, children: groups } }));
  await writePrivate(join(dir, 'group_vars', 'all.yml'), stringify(input.defaults));
  const playbook = join(dir, 'playbook.yml');
  await writePrivate(playbook, input.playbook);
  const extraVars = join(dir, 'extra_vars.json');
  await writePrivate(extraVars, JSON.stringify(input.extraVars));
  const config = join(dir, 'ansible.cfg');
  await writePrivate(
    config,
    [
      '[defaults]',
      'inventory = inventory.yml',
      'host_key_checking = True',
      'retry_files_enabled = False',
      'stdout_callback = ansible.posix.jsonl',
      'interpreter_python = auto_silent',
      'deprecation_warnings = False',
      `local_tmp = ${join(dir, 'tmp')}`,
      '',
      '[ssh_connection]',
      // One master connection per host for the whole play (each task would pay a handshake):
      // opened with the strict key check, in this play's own folder, and ended with the play,
      // so no later play can ride on a connection it did not check itself.
      `ssh_args = ${strictSshOptions(knownHosts).join(' ')} -o ControlMaster=auto -o ControlPersist=120s -o ConnectTimeout=15`,
      `control_path_dir = ${input.controlDir}`,
      'control_path = %(directory)s/%%C',
      'pipelining = True',
      '',
    ].join('\n'),
  );
  return { playbook, extraVars, config };
}

/** Ends every SSH master connection a play left in its control folder, then removes the folder. */
export async function closeMasters(controlDir: string): Promise<void> {
  const sockets = await readdir(controlDir).catch(() => [] as string[]);
  await Promise.all(
    sockets.map(
      (name) =>
        new Promise<void>((done) => {
          execFile('ssh', ['-O', 'exit', '-o', `ControlPath=${join(controlDir, name)}`, 'gpufleet-play'], { timeout: 5000 }, () => done());
        }),
    ),
  );
  await rm(controlDir, { recursive: true, force: true });
}
