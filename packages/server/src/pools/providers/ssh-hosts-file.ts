import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { BUILTIN_LABEL_KEYS, FleetError, LabelKey, LabelValue, POOL_LABEL, readYamlFile, type YamlFileFormat } from '@gpufleet/protocol';
import { z } from 'zod';

/**
 * The hosts file of an `ssh` provider: existing machines the pool may take, how to log in to
 * each (a key file, or a password read from an environment variable; never a secret in the file)
 * and how to run the agent there. Problems name the file, line, column and field, as job and
 * pools files do (`hosts.yaml:7:11: hosts[1].port: must be at most 65535`).
 *
 * ```yaml
 * hosts:
 *   - name: gpu-01
 *     address: 10.0.0.11
 *     key_file: keys/fleet_ed25519      # relative to the pools file's folder
 *     zone: rack-a
 *     labels: { rack: a }
 * ```
 */

export const HOSTS_FILE_MAX_BYTES = 1_048_576;
export const MAX_SSH_HOSTS = 10_000;

/** What a host gets for each field it leaves out. */
export const SSH_HOST_DEFAULTS = {
  port: 22,
  user: 'root',
  agentCommand: 'gpufleet-agent',
  dataDir: '/var/lib/gpufleet-agent',
  service: 'systemd',
  instanceType: 'ssh',
} as const;

/** How the provider logs in to a host. Paths are absolute; secrets are named, not held. */
export type SshLogin = { kind: 'key'; keyFile: string; passphraseEnv: string | null } | { kind: 'password'; passwordEnv: string };

/** One host of the hosts file, every default filled in. */
export interface SshHost {
  /** Unique in the file; the instance id the provider reports for it. */
  name: string;
  address: string;
  port: number;
  user: string;
  login: SshLogin;
  /** A host key fingerprint (`SHA256:...`) the host must present; null: pinned on first use. */
  hostKey: string | null;
  /** The agent's program and leading arguments (`[node, /opt/gpufleet/bin/gpufleet-agent.js]`). */
  agentCommand: string[];
  /** A shell script that installs the agent when `agentCommand` is missing; null: none. */
  installCommand: string | null;
  dataDir: string;
  service: 'systemd' | 'background';
  zone: string | null;
  instanceType: string;
  pricePerHour: number | null;
  /** GPUs the host has, for describe(); null: not said. */
  gpus: number | null;
  gpuModel: string | null;
  /** Labels the agent asks for when it joins (the pool's come with the join token). */
  labels: Record<string, string>;
}

export interface HostsFileOptions {
  /** The file's name, put in front of each position (`hosts.yaml:9:5`). */
  file?: string;
  /** The folder relative `key_file`s resolve against. */
  baseDir: string;
}

const HOST_NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
const USER_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}$/;
const NO_CONTROL = /^[^\u0000-\u001f\u007f]*$/;

/** Labels a host cannot ask for: the server sets the built-in ones, and the pool's comes with the join token. */
const RESERVED_LABELS = new Set<string>([...BUILTIN_LABEL_KEYS, POOL_LABEL]);
const RESERVED_LABELS_TEXT = `is set by the server or the pool, not by a host (${[...RESERVED_LABELS].join(', ')})`;

const envName = z.string().regex(ENV_NAME, 'an environment variable name such as GPU_HOST_PASSWORD');
const word = z.string().min(1).max(4096).regex(NO_CONTROL, 'must not contain control characters');

/**
 * A data dir is removed whole when a host is given back, so it must plainly be the agent's own:
 * an absolute, normalized path at least two folders deep (never `/` or `/var`).
 */
function isSafeDataDir(path: string): boolean {
  if (!path.startsWith('/') || path.includes('//') || path.endsWith('/') || !NO_CONTROL.test(path)) return false;
  const parts = path.split('/').slice(1);
  return parts.length >= 2 && parts.every((p) => p !== '' && p !== '.' && p !== '..');
}

const HostEntry = z
  .strictObject({
    name: z.string().regex(HOST_NAME, 'letters, digits, dots, dashes and underscores (at most 63)'),
    address: z
      .string()
      .min(1)
      .max(255)
      .regex(/^[^\s/]+$/, 'a host name or IP address (no spaces or slashes)'),
    port: z.number().int().min(1).max(65535).default(SSH_HOST_DEFAULTS.port),
    user: z.string().regex(USER_NAME, 'a user name such as root or ubuntu').default(SSH_HOST_DEFAULTS.user),
    key_file: word.optional(),
    password_env: envName.optional(),
    passphrase_env: envName.optional(),
    host_key: z.string().regex(FINGERPRINT, 'a fingerprint as `ssh-keygen -lf` prints it (SHA256: and 43 characters)').optional(),
    agent_command: z.union([word, z.array(word).min(1).max(64)]).default(SSH_HOST_DEFAULTS.agentCommand),
    install_command: z.string().min(1).max(65_536).optional(),
    data_dir: z
      .string()
      .refine(isSafeDataDir, 'an absolute path at least two folders deep, such as /var/lib/gpufleet-agent (it is removed when the host is given back)')
      .default(SSH_HOST_DEFAULTS.dataDir),
    service: z.enum(['systemd', 'background']).default(SSH_HOST_DEFAULTS.service),
    zone: z.string().min(1).max(64).optional(),
    instance_type: z.string().min(1).max(128).default(SSH_HOST_DEFAULTS.instanceType),
    price_per_hour: z.number().nonnegative().optional(),
    gpus: z.number().int().min(0).max(64).optional(),
    gpu_model: z.string().min(1).max(128).optional(),
    labels: z
      .record(
        LabelKey.refine((k) => !RESERVED_LABELS.has(k), { message: RESERVED_LABELS_TEXT }),
        LabelValue,
      )
      .default({}),
  })
  .superRefine((h, ctx) => {
    if (h.key_file === undefined && h.password_env === undefined)
      ctx.addIssue({ code: 'custom', message: 'needs key_file (a private key) or password_env (the variable holding the password) to log in' });
    if (h.key_file !== undefined && h.password_env !== undefined)
      ctx.addIssue({ code: 'custom', path: ['password_env'], message: 'give key_file or password_env, not both' });
    if (h.passphrase_env !== undefined && h.key_file === undefined)
      ctx.addIssue({ code: 'custom', path: ['passphrase_env'], message: 'is the passphrase of key_file, which is not given' });
  });

const HostsFile = z.strictObject({
  hosts: z.array(HostEntry).min(1).max(MAX_SSH_HOSTS),
});

const FORMAT: YamlFileFormat = {
  noun: 'hosts file',
  topFields: 'hosts',
  maxBytes: HOSTS_FILE_MAX_BYTES,
  schema: HostsFile,
  misnames: {
    host: 'address',
    hostname: 'address',
    ip: 'address',
    username: 'user',
    identity_file: 'key_file',
    identityfile: 'key_file',
    private_key: 'key_file',
    key: 'key_file',
    password: 'password_env',
    passphrase: 'passphrase_env',
    agent: 'agent_command',
    install: 'install_command',
    state_dir: 'data_dir',
    type: 'instance_type',
    region: 'zone',
    price: 'price_per_hour',
    machines: 'hosts',
    nodes: 'hosts',
  },
};

type HostEntry = z.infer<typeof HostEntry>;

function normalized(h: HostEntry, baseDir: string): SshHost {
  const login: SshLogin =
    h.key_file !== undefined
      ? { kind: 'key', keyFile: isAbsolute(h.key_file) ? h.key_file : resolve(baseDir, h.key_file), passphraseEnv: h.passphrase_env ?? null }
      : { kind: 'password', passwordEnv: h.password_env! };
  return {
    name: h.name,
    address: h.address,
    port: h.port,
    user: h.user,
    login,
    hostKey: h.host_key ?? null,
    agentCommand: typeof h.agent_command === 'string' ? h.agent_command.trim().split(/\s+/) : h.agent_command,
    installCommand: h.install_command ?? null,
    dataDir: h.data_dir,
    service: h.service,
    zone: h.zone ?? null,
    instanceType: h.instance_type,
    pricePerHour: h.price_per_hour ?? null,
    gpus: h.gpus ?? null,
    gpuModel: h.gpu_model ?? null,
    labels: h.labels,
  };
}

/**
 * Parses a hosts file. Throws FleetError('invalid_argument') naming the line, column and field
 * of the first problem: YAML syntax, unknown fields (with the one probably meant), wrong types,
 * a host with no way to log in, an unsafe data dir, two hosts of one name.
 */
export function parseHostsFile(text: string, opts: HostsFileOptions): SshHost[] {
  return readYamlFile(FORMAT, text, opts.file, (data, report) => {
    const read = HostsFile.safeParse(data);
    if (!read.success) return report(read.error.issues);
    const seen = new Map<string, number>();
    read.data.hosts.forEach((h, i) => {
      const first = seen.get(h.name);
      if (first !== undefined) {
        report([
          {
            code: 'custom',
            path: ['hosts', i, 'name'],
            message: `'${h.name}' is already the name of hosts[${first}]: each host has its own name`,
            input: h.name,
          },
        ]);
      }
      seen.set(h.name, i);
    });
    return read.data.hosts.map((h) => normalized(h, opts.baseDir));
  });
}

/** Reads and parses the hosts file at `path`; a file that cannot be read is refused by name. */
export function readHostsFile(path: string, baseDir: string): SshHost[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new FleetError('invalid_argument', `cannot read the hosts file ${path}: ${why}`);
  }
  return parseHostsFile(text, { file: path, baseDir });
}
