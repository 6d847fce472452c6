import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { Command } from 'commander';
import {
  FleetError,
  HostKeyFingerprint,
  type AddSshHostRequest,
  type AddSshHostResult,
  type NodeView,
  type RotateCredentialsResult,
  type SshHostView,
  type SshLoginInput,
} from '@gpufleet/protocol';
import type { CliDeps } from '../command-deps.js';
import { collect, parseLabelMap } from '../args.js';
import { ApiError, seg, type ApiClient } from '../api-client.js';
import { CliError, UsageError } from '../errors.js';
import type { CliIo } from '../io.js';
import { print, termSafe } from '../output.js';
import { gpuSummary } from '../views/node-facts.js';
import { renderSshHost, sshHostColumns } from '../views/ssh-host-views.js';
import { parseSshInventory, type InventoryGroup, type SshInventory } from './ssh-inventory.js';

const MAX_KEY_BYTES = 32_768;

/** `user@host[:port]` (or `user@[v6]:port`) as --ssh and --bastion take it. */
export function parseSshTarget(flag: string, text: string): { user: string; address: string; port: number | null } {
  const m = /^([a-z_][a-z0-9_.-]*\$?)@(\[[0-9a-fA-F:]+\]|[^@:\s[\]]+)(?::(\d{1,5}))?$/i.exec(text);
  if (!m) throw new UsageError(`${flag} '${text}' must be user@host or user@host:port (e.g. root@10.0.0.7:22)`);
  const port = m[3] === undefined ? null : Number(m[3]);
  if (port !== null && (port < 1 || port > 65535)) throw new UsageError(`${flag} '${text}': port ${port} is not from 1 to 65535`);
  return { user: m[1]!, address: m[2]!.replace(/^\[|\]$/g, ''), port };
}

function portOption(text: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) throw new UsageError(`--port '${text}' must be a port from 1 to 65535`);
  return Number(text);
}

/** A private key file's text (`~` is the home folder); refused when missing, a folder, huge or not a key. */
export function readKeyFile(io: CliIo, file: string, flag: string, base = io.cwd): string {
  const path = file.startsWith('~/') ? join(io.home, file.slice(2)) : isAbsolute(file) ? file : resolve(base, file);
  let text: string;
  try {
    const st = statSync(path);
    if (st.isDirectory()) throw new UsageError(`${flag} ${file} is a folder, not a private key file`);
    if (st.size > MAX_KEY_BYTES) throw new UsageError(`${flag} ${file} is ${st.size} bytes: not a private key (at most ${MAX_KEY_BYTES})`);
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof UsageError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read ${flag} ${file}: ${code === 'ENOENT' ? 'no such file' : (code ?? (err as Error).message)}`);
  }
  if (!/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(text)) throw new UsageError(`${flag} ${file} is not a private key file (no BEGIN ... PRIVATE KEY line)`);
  return text;
}

/** A secret named by an environment variable (never a flag value: it would show in ps and shell history). */
function secretFromEnv(io: CliIo, flag: string, name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new UsageError(`${flag} '${name}' must name an environment variable`);
  const value = io.env[name];
  if (value === undefined || value === '') throw new UsageError(`${flag} ${name}: the environment variable is not set`);
  return value;
}

interface LoginFlags {
  key?: string;
  passphraseEnv?: string;
  passwordEnv?: string;
}

function loginOf(io: CliIo, o: LoginFlags, keyFlag = '--key', base?: string): SshLoginInput {
  if (o.key !== undefined && o.passwordEnv !== undefined) throw new UsageError(`give ${keyFlag} or --password-env, not both`);
  if (o.passwordEnv !== undefined) return { kind: 'password', password: secretFromEnv(io, '--password-env', o.passwordEnv) };
  if (o.key === undefined) throw new UsageError(`say how to log in: ${keyFlag} FILE (a private key) or --password-env VAR`);
  const privateKey = readKeyFile(io, o.key, keyFlag, base);
  return o.passphraseEnv === undefined
    ? { kind: 'key', privateKey }
    : { kind: 'key', privateKey, passphrase: secretFromEnv(io, '--passphrase-env', o.passphraseEnv) };
}

interface AddFlags extends LoginFlags {
  ssh?: string;
  sshInventory?: string;
  port?: number;
  bastion?: string;
  bastionKey?: string;
  hostKey?: string;
  label: string[];
}

async function addOne(client: ApiClient, req: AddSshHostRequest): Promise<{ result: AddSshHostResult; node: NodeView | null }> {
  const result = await client.post<AddSshHostResult>('/api/v1/ssh-hosts', req);
  const node = await client.get<NodeView>(`/api/v1/nodes/${seg(result.host.nodeId)}`).catch(() => null);
  return { result, node };
}

function addedText(result: AddSshHostResult, node: NodeView | null): string {
  const h = result.host;
  const key = h.hostKey ? `${h.hostKey.algorithm} ${h.hostKey.fingerprint} (${h.hostKey.source === 'given' ? 'as given' : 'first use'})` : '-';
  const gpus = node ? (node.gpus.length === 0 ? 'no GPUs found' : gpuSummary(node.gpus)) : '-';
  return [
    `added ${h.hostname} (${h.nodeId}) over SSH as ${h.user}@${h.address}:${h.port}${h.bastion ? ` via ${h.bastion}` : ''}`,
    `host key pinned: ${key}`,
    `facts: ${node ? `${node.facts.os.name} ${node.facts.os.version}, kernel ${node.facts.kernel}, ${node.facts.cpu.threads} CPU threads` : '-'}`,
    `GPUs: ${gpus}`,
    `status: ${node?.status ?? '-'}  (gpufleet nodes get ${h.hostname})`,
    '',
  ].join('\n');
}

function baseRequest(deps: CliDeps, o: AddFlags): Pick<AddSshHostRequest, 'bastion' | 'hostKey' | 'labels'> {
  const labels = parseLabelMap(o.label);
  let hostKey: string | undefined;
  if (o.hostKey !== undefined) {
    if (!HostKeyFingerprint.safeParse(o.hostKey).success)
      throw new UsageError(`--host-key '${o.hostKey}' must be a fingerprint as ssh-keygen -lf prints it (SHA256: and 43 characters)`);
    hostKey = o.hostKey;
  }
  let bastion: AddSshHostRequest['bastion'];
  if (o.bastion !== undefined) {
    const b = parseSshTarget('--bastion', o.bastion);
    const login = o.bastionKey !== undefined ? loginOf(deps.io, { key: o.bastionKey }, '--bastion-key') : loginOf(deps.io, o);
    bastion = { address: b.address, port: b.port ?? 22, user: b.user, login };
  } else if (o.bastionKey !== undefined) throw new UsageError('--bastion-key needs --bastion user@jump');
  return { ...(bastion ? { bastion } : {}), ...(hostKey ? { hostKey } : {}), ...(Object.keys(labels).length > 0 ? { labels } : {}) };
}

async function addFromInventory(deps: CliDeps, cmd: Command, o: AddFlags): Promise<void> {
  const file = o.sshInventory!;
  const path = resolve(deps.io.cwd, file);
  let text: string;
  try {
    if (statSync(path).isDirectory()) throw new UsageError(`--ssh-inventory ${file} is a folder, not an inventory file`);
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof UsageError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read --ssh-inventory ${file}: ${code === 'ENOENT' ? 'no such file' : (code ?? (err as Error).message)}`);
  }
  let inventory: SshInventory;
  try {
    inventory = parseSshInventory(text, file);
  } catch (err) {
    if (FleetError.is(err, 'invalid_argument')) throw new UsageError(err.message);
    throw err;
  }
  const { hosts } = inventory;
  const base = baseRequest(deps, o);
  const client = deps.client(cmd);
  const rows: Array<{ name: string; result: string; detail: string }> = [];
  for (const [i, h] of hosts.entries()) {
    deps.io.err(`[${i + 1}/${hosts.length}] adding ${termSafe(h.name)} (${termSafe(h.address)})...\n`);
    try {
      const keyFile = h.keyFile ?? o.key;
      const login = loginOf(deps.io, { ...o, key: keyFile }, h.keyFile ? `key_file of ${h.name}` : '--key', dirname(path));
      const req: AddSshHostRequest = {
        hostname: h.name,
        address: h.address,
        port: h.port ?? o.port ?? 22,
        user: h.user ?? 'root',
        login,
        ...base,
        labels: { ...(base.labels ?? {}), ...h.labels },
      };
      const { result, node } = await addOne(client, req);
      rows.push({ name: h.name, result: 'ok', detail: `${result.host.hostKey?.fingerprint ?? '-'}  ${node ? `${node.gpus.length} GPUs` : ''}`.trim() });
    } catch (err) {
      rows.push({ name: h.name, result: 'failed', detail: err instanceof Error ? err.message : String(err) });
    }
  }
  print(deps.io, deps.format(cmd), {
    data: { items: rows },
    columns: [
      { header: 'NAME', get: (r) => r.name },
      { header: 'RESULT', get: (r) => r.result },
      { header: 'DETAIL', get: (r) => r.detail },
    ],
    rows,
  });
  const added = new Set(rows.filter((r) => r.result === 'ok').map((r) => r.name));
  let groupsFailed = 0;
  for (const g of inventory.groups) {
    const members = g.hosts.filter((h) => added.has(h));
    if (members.length === 0) continue;
    try {
      deps.io.err(`group ${g.name}: ${await importGroup(client, g, members, file)}\n`);
    } catch (err) {
      groupsFailed++;
      deps.io.err(`group ${g.name}: not imported: ${err instanceof Error ? err.message : String(err)}\n`);
    }
  }
  const failed = rows.filter((r) => r.result === 'failed').length;
  if (failed > 0) throw new CliError(`${failed} of ${rows.length} hosts could not be added`);
  if (groupsFailed > 0) throw new CliError(`${groupsFailed} inventory group(s) could not be imported`);
}

/** An inventory group as a gpufleet group: created, or the hosts added to the one of that name; its variables set on it. */
async function importGroup(client: ApiClient, g: InventoryGroup, members: string[], file: string): Promise<string> {
  let created = false;
  try {
    await client.get(`/api/v1/groups/${seg(g.name)}`);
    await client.patch(`/api/v1/groups/${seg(g.name)}`, { add: members });
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) throw err;
    await client.post('/api/v1/groups', { name: g.name, members, description: `from the inventory ${file}`.slice(0, 500) });
    created = true;
  }
  const names = Object.keys(g.vars);
  if (names.length > 0) await client.request('PUT', '/api/v1/vars', { body: { scope: 'group', target: g.name, set: g.vars } });
  const vars = names.length > 0 ? `, variables ${names.join(', ')}` : '';
  return `${created ? 'created with' : 'added'} ${members.length} host(s)${vars}`;
}

/** `nodes add`, `nodes trust-hostkey`, `nodes collect-facts`: nodes managed over SSH, without an agent. */
export function addSshNodeCommands(nodes: Command, deps: CliDeps): void {
  nodes
    .command('add')
    .description('add a node managed over SSH (no agent): pins its host key, collects its facts and GPUs')
    .argument('[name]', 'the node name (hostname) in the fleet')
    .option('--ssh <user@host[:port]>', 'how to reach it')
    .option('--ssh-inventory <file>', 'add every host of a YAML inventory (ours or an Ansible-style one)')
    .option('--key <file>', 'private key file to log in with (sealed on the server at once)')
    .option('--passphrase-env <var>', "environment variable holding the key's passphrase")
    .option('--password-env <var>', 'environment variable holding a login password (instead of --key)')
    .option('--port <n>', 'SSH port (default 22, or the one in --ssh)', portOption)
    .option('--bastion <user@jump[:port]>', 'reach the host through this jump host')
    .option('--bastion-key <file>', 'private key for the jump host (default: --key)')
    .option('--host-key <SHA256:...>', 'the fingerprint the host must present (else the first key seen is pinned)')
    .option('-L, --label <k=v>', 'label the node (repeatable; selectors like -l rack=a find it)', collect, [])
    .addHelpText(
      'after',
      `
The server needs GPUFLEET_MASTER_KEY set: keys and passwords are sealed with it and never shown again.
A host key that changes later is refused until you accept it with gpufleet nodes trust-hostkey.

Inventory files:
  hosts:                                  # ours
    - { name: gpu-07, address: 10.0.0.7, user: root, key_file: ~/.ssh/id_ed25519, labels: { rack: a } }
  all:                                    # Ansible-style
    hosts: { gpu-08: { ansible_host: 10.0.0.8, ansible_user: ubuntu, ansible_ssh_private_key_file: keys/gpu } }
    children: { rack_b: { hosts: { gpu-09: null }, vars: { ansible_port: 2222 } } }

Examples:
  gpufleet nodes add gpu-07 --ssh root@10.0.0.7 --key ~/.ssh/id_ed25519
  gpufleet nodes add gpu-08 --ssh ubuntu@10.0.1.8:2222 --key keys/gpu --bastion jump@bastion.example.org -L rack=b
  gpufleet nodes add gpu-09 --ssh root@10.0.0.9 --password-env GPU09_PASSWORD --host-key SHA256:uS0eYNwv...
  gpufleet nodes add --ssh-inventory hosts.yaml --key ~/.ssh/id_ed25519
An Ansible inventory's groups become gpufleet groups of the hosts added (an existing group of the
same name gets them as members), with their variables other than ansible_* ones.`,
    )
    .action(async (name: string | undefined, _opts, cmd: Command) => {
      const o = deps.opts<AddFlags>(cmd);
      if (o.sshInventory !== undefined) {
        if (name !== undefined || o.ssh !== undefined) throw new UsageError('--ssh-inventory adds the hosts of a file: give no NAME or --ssh with it');
        return addFromInventory(deps, cmd, o);
      }
      if (name === undefined) throw new UsageError('give the node a NAME (and --ssh user@host), or --ssh-inventory FILE');
      if (o.ssh === undefined) throw new UsageError(`say how to reach ${name}: --ssh user@host[:port]`);
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/.test(name)) throw new UsageError(`'${name}' is not a hostname (letters, digits, dot, dash, underscore)`);
      const target = parseSshTarget('--ssh', o.ssh);
      if (target.port !== null && o.port !== undefined && target.port !== o.port)
        throw new UsageError(`--ssh says port ${target.port} but --port says ${o.port}`);
      const req: AddSshHostRequest = {
        hostname: name,
        address: target.address,
        port: target.port ?? o.port ?? 22,
        user: target.user,
        login: loginOf(deps.io, o),
        ...baseRequest(deps, o),
      };
      const { result, node } = await addOne(deps.client(cmd), req);
      print(deps.io, deps.format(cmd), { data: result, text: () => addedText(result, node) });
    });

  nodes
    .command('trust-hostkey')
    .description('accept the changed host key an SSH node presents (only the refused fingerprint), then contact it again')
    .argument('<node>', 'node id, id prefix or hostname')
    .requiredOption(
      '--fingerprint <SHA256:...>',
      'the new fingerprint, as shown by gpufleet ssh-hosts get NODE (check it on the host: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub)',
    )
    .requiredOption('--reason <text>', 'why the key changed (kept in the audit log)')
    .addHelpText('after', '\nExamples:\n  gpufleet nodes trust-hostkey gpu-07 --fingerprint SHA256:uS0eYNwv... --reason "reinstalled"')
    .action(async (node: string, _opts, cmd: Command) => {
      const o = deps.opts<{ fingerprint: string; reason: string }>(cmd);
      if (!HostKeyFingerprint.safeParse(o.fingerprint).success)
        throw new UsageError(`--fingerprint '${o.fingerprint}' must be SHA256: and 43 characters, as ssh-keygen -lf prints it`);
      const reason = o.reason.trim();
      if (reason === '' || reason.length > 500) throw new UsageError('--reason says why, in 1 to 500 characters');
      const host = await deps.client(cmd).post<SshHostView>(`/api/v1/ssh-hosts/${seg(node)}/trust-host-key`, { fingerprint: o.fingerprint, reason });
      print(deps.io, deps.format(cmd), { data: host, text: () => renderSshHost(host, deps.now()) });
    });

  nodes
    .command('collect-facts')
    .description('collect the facts and GPUs of an SSH node now (a failure shows as UNREACHABLE with the reason)')
    .argument('<node>', 'node id, id prefix or hostname')
    .addHelpText('after', '\nExamples:\n  gpufleet nodes collect-facts gpu-07\n  gpufleet nodes collect-facts gpu-07 -o json')
    .action(async (node: string, _opts, cmd: Command) => {
      const host = await deps.client(cmd).post<SshHostView>(`/api/v1/ssh-hosts/${seg(node)}/collect-facts`);
      print(deps.io, deps.format(cmd), { data: host, text: () => renderSshHost(host, deps.now()) });
      if (!host.reachable) throw new CliError(`${host.hostname} is unreachable: ${host.lastError ?? 'no reason given'}`);
    });
}

/** `gpufleet ssh-hosts ls|get`. */
export function sshHostsCommand(deps: CliDeps): Command {
  const cmd = new Command('ssh-hosts').alias('ssh-host').description('nodes managed over SSH: address, user, jump host, pinned host key, reachability');
  cmd.addHelpText(
    'after',
    '\nExamples:\n  gpufleet ssh-hosts ls\n  gpufleet ssh-hosts ls -o wide      with host keys and last errors\n  gpufleet ssh-hosts get gpu-07',
  );
  cmd
    .command('ls')
    .alias('list')
    .description('list nodes managed over SSH')
    .addHelpText('after', '\nExamples:\n  gpufleet ssh-hosts ls\n  gpufleet ssh-hosts ls -o wide      with host keys and last errors')
    .action(async (_opts, c: Command) => {
      const list = await deps.client(c).get<{ items: SshHostView[] }>('/api/v1/ssh-hosts');
      print(deps.io, deps.format(c), {
        data: list,
        columns: sshHostColumns(deps.now()),
        rows: list.items,
        empty: 'no SSH hosts yet (gpufleet nodes add NAME --ssh user@host --key FILE)',
      });
    });
  cmd
    .command('get')
    .description('one node managed over SSH')
    .addHelpText('after', '\nExamples:\n  gpufleet ssh-hosts get gpu-07\n  gpufleet ssh-hosts get gpu-07 -o json')
    .argument('<node>', 'node id, id prefix or hostname')
    .action(async (node: string, _opts, c: Command) => {
      const host = await deps.client(c).get<SshHostView>(`/api/v1/ssh-hosts/${seg(node)}`);
      print(deps.io, deps.format(c), { data: host, text: () => renderSshHost(host, deps.now()) });
    });
  return cmd;
}

/** `gpufleet credentials rotate`. */
export function credentialsCommand(deps: CliDeps): Command {
  const cmd = new Command('credentials').description('stored SSH credentials and the control plane records sealed with the server master key');
  cmd.addHelpText('after', '\nExamples:\n  gpufleet credentials rotate');
  cmd
    .command('rotate')
    .description("seal every stored credential, and the control plane's own sealed records, again under the current master key")
    .addHelpText(
      'after',
      `
To change the master key: restart the server with GPUFLEET_MASTER_KEY=<new>, GPUFLEET_MASTER_KEY_VERSION=<n+1>
and GPUFLEET_MASTER_KEY_PREVIOUS=<old> (every replica), run this, then restart without GPUFLEET_MASTER_KEY_PREVIOUS.
Besides SSH credentials this re-seals the control plane key, the shared TLS CA and the release signing keys
still under the old key; drop the old key only once it reports none it could not open.

Examples:
  gpufleet credentials rotate
  gpufleet credentials rotate -o json`,
    )
    .action(async (_opts, c: Command) => {
      const result = await deps.client(c).post<RotateCredentialsResult>('/api/v1/credentials/rotate');
      print(deps.io, deps.format(c), { data: result, text: () => rotationText(result) });
      const lost = result.sealedRecords?.unopenable ?? [];
      if (lost.length > 0) {
        deps.io.err(
          `warning: neither master key opens ${lost.length === 1 ? 'this sealed record' : `these ${lost.length} sealed records`}: ${lost.map(termSafe).join(', ')}; keep GPUFLEET_MASTER_KEY_PREVIOUS until ${lost.length === 1 ? 'it is' : 'they are'} restored, or they are lost with it\n`,
        );
      }
    });
  return cmd;
}

/** What a rotation did, in words; a server from before sealedRecords existed says only its credentials. */
function rotationText(result: RotateCredentialsResult): string {
  const lines = [`re-sealed ${result.rotated} credentials under master key version ${result.keyVersion}`];
  const records = result.sealedRecords;
  if (records) lines.push(`re-sealed ${records.resealed} control plane records (${records.current} already under that key)`);
  return `${lines.join('\n')}\n`;
}
