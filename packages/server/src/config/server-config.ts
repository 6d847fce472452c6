import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { hostname } from 'node:os';
import { parse as parseYaml } from 'yaml';
import { FleetError, parseDurationMs } from '@gpufleet/protocol';

/** The complete, validated server configuration the rest of the code trusts. */
export interface ServerConfig {
  /** Host and port to listen on. */
  listenHost: string;
  listenPort: number;
  /** Folder for the embedded database, TLS material and the admin token file. */
  dataDir: string;
  /** `postgres://...` to use PostgreSQL; null for the embedded SQLite file. */
  database: string | null;
  /** URL agents and CLIs use to reach this server; defaults to the listen address. */
  publicUrl: string | null;
  tlsCert: string | null;
  tlsKey: string | null;
  /** Plain HTTP even beyond loopback: refused unless explicitly asked for behind a TLS proxy. */
  heartbeatIntervalMs: number;
  /** A node is OFFLINE after this many heartbeat intervals without a frame. */
  offlineAfterBeats: number;
  metricsIntervalMs: number;
  metricsRetentionMs: number;
  maxBodyBytes: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** YAML file of alert rules and receivers; null runs the shipped policy/default-alert-rules.yaml. */
  alertRules: string | null;
  /** YAML health policy file; null runs the shipped policy/default-health-policy.yaml. */
  healthPolicy: string | null;
  /** How long a drain waits for running work before the node counts as DRAINED anyway. */
  drainTimeoutMs: number;
  /** How long a node may be OFFLINE before its health reads `unknown` (nothing else happens). */
  offlineGraceMs: number;
  /** Stored agent events older than this (by when the server received them) are deleted. */
  eventsRetentionMs: number;
  /** At most this many stored agent events per node; the oldest go first. */
  eventsPerNode: number;
  /** How often the pool manager compares each pool's desired size with what runs (it also acts on node and health events). */
  poolReconcileMs: number;
  /** How often the facts of every node managed over SSH are collected again (issue 12). */
  sshFactsIntervalMs: number;
  /** `nodes promote`: the agent's command line on the hosts (split at spaces) and its data dir there. */
  promoteAgentCommand: string;
  promoteDataDir: string;
  /** `nodes promote`: run on a host without the agent when the request names no install command; null refuses such a promote. */
  agentInstallCommand: string | null;
  /** Pools file (YAML) the pool manager applies at start, as an absolute path; null applies none (pools applied before stay). */
  pools: string | null;
  /** `nats://...` to share state with other replicas over NATS JetStream; null: the in-process bus (one replica). */
  bus: string | null;
  /** Put in front of every NATS subject, stream and bucket: fleets (or test runs) sharing a NATS server never meet. */
  busNamespace: string;
  /** This replica's name among the replicas (`replicas ls`); unique per fleet. Default: the hostname. */
  replicaName: string;
}

/** Documented defaults; every key here is also a flag, a GPUFLEET_* variable and a YAML key. */
export const SERVER_CONFIG_DEFAULTS = {
  listen: '127.0.0.1:7420',
  dataDir: './gpufleet-data',
  database: null,
  publicUrl: null,
  tlsCert: null,
  tlsKey: null,
  heartbeatInterval: '5s',
  offlineAfter: 3,
  metricsInterval: '10s',
  metricsRetention: '1h',
  maxBodyBytes: 1024 * 1024,
  logLevel: 'info',
  alertRules: null,
  healthPolicy: null,
  drainTimeout: '10m',
  offlineGrace: '10m',
  /** Agent events (health facts, run output) are kept this long: `events-retention 90d` for longer audits. */
  eventsRetention: '30d',
  /** With the gateway's per-node rate limits, this bounds what one node can make the store hold. */
  eventsPerNode: 100_000,
  poolReconcile: '2s',
  sshFactsInterval: '1m',
  promoteAgentCommand: 'gpufleet-agent',
  promoteDataDir: '/var/lib/gpufleet-agent',
  agentInstallCommand: null,
  pools: null,
  bus: null,
  busNamespace: 'gpufleet',
  /** null: the machine's hostname. */
  replicaName: null,
} as const;

type Key = keyof typeof SERVER_CONFIG_DEFAULTS;
const KEYS = Object.keys(SERVER_CONFIG_DEFAULTS) as Key[];
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const envName = (k: string) => `GPUFLEET_${kebab(k).replace(/-/g, '_').toUpperCase()}`;

export interface ConfigSources {
  /** Parsed command-line flags in camelCase (unset flags absent or undefined). */
  flags?: Record<string, unknown>;
  env?: Record<string, string | undefined>;
  /** Path of a YAML file; its keys may be camelCase or kebab-case. */
  file?: string;
}

function bad(source: string, key: string, why: string): FleetError {
  return new FleetError('invalid_argument', `config ${source} '${key}': ${why}`, { details: { key, source } });
}

function readFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new FleetError('invalid_argument', `cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new FleetError('invalid_argument', `config file ${path} is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new FleetError('invalid_argument', `config file ${path} must be a YAML mapping of keys to values`);
  const out: Record<string, unknown> = {};
  for (const [rawKey, value] of Object.entries(doc)) {
    const key = rawKey.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    if (!KEYS.includes(key as Key)) throw bad(`file ${path} key`, rawKey, `unknown key (known: ${KEYS.map(kebab).join(', ')})`);
    out[key] = value;
  }
  return out;
}

/**
 * Merges defaults < YAML file < GPUFLEET_* environment < flags, validates every value and
 * returns the complete config. An unknown key or a bad value throws a FleetError that names it.
 */
export function resolveServerConfig(sources: ConfigSources = {}): ServerConfig {
  const flags = sources.flags ?? {};
  const env = sources.env ?? {};
  const merged: Record<string, { value: unknown; from: string }> = {};
  for (const key of KEYS) merged[key] = { value: SERVER_CONFIG_DEFAULTS[key], from: 'default' };
  if (sources.file) for (const [k, v] of Object.entries(readFile(sources.file))) merged[k] = { value: v, from: 'file key' };
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('GPUFLEET_') || value === undefined) continue;
    const key = KEYS.find((k) => envName(k) === name);
    // Other GPUFLEET_* variables belong to the CLI (server URL, token); only ours are read.
    if (key) merged[key] = { value, from: 'environment variable' };
  }
  for (const [key, value] of Object.entries(flags)) {
    if (value === undefined) continue;
    if (!KEYS.includes(key as Key)) throw bad('flag', `--${kebab(key)}`, 'unknown option');
    merged[key] = { value, from: 'flag' };
  }

  const text = (k: Key): string | null => {
    const { value, from } = merged[k]!;
    if (value === null || value === undefined || value === '') return null;
    if (typeof value !== 'string') throw bad(from, kebab(k), `expected text, got ${JSON.stringify(value)}`);
    return value;
  };
  const duration = (k: Key, min: number, max: number): number => {
    const { value, from } = merged[k]!;
    let ms: number;
    try {
      ms = typeof value === 'number' ? value : parseDurationMs(String(value));
    } catch {
      throw bad(from, kebab(k), `'${String(value)}' is not a duration such as 500ms, 5s, 10m or 1h`);
    }
    if (ms < min || ms > max) throw bad(from, kebab(k), `must be between ${min} ms and ${max} ms`);
    return ms;
  };
  const integer = (k: Key, min: number, max: number): number => {
    const { value, from } = merged[k]!;
    const n = typeof value === 'number' ? value : /^\d+$/.test(String(value)) ? Number(value) : NaN;
    if (!Number.isInteger(n) || n < min || n > max) throw bad(from, kebab(k), `'${String(value)}' must be a whole number from ${min} to ${max}`);
    return n;
  };

  const listen = text('listen') ?? SERVER_CONFIG_DEFAULTS.listen;
  const m = /^(\[[0-9a-fA-F:]+\]|[^:\s]+):(\d{1,5})$/.exec(listen);
  if (!m || Number(m[2]) > 65535) throw bad(merged.listen!.from, 'listen', `'${listen}' is not host:port (for example 127.0.0.1:7420 or 0.0.0.0:7420)`);
  const listenHost = m[1]!.replace(/^\[|\]$/g, '');

  const database = text('database');
  if (database !== null && !/^postgres(ql)?:\/\//.test(database)) {
    throw bad(merged.database!.from, 'database', 'must be a postgres:// or postgresql:// URL (leave it unset for the embedded SQLite store)');
  }
  const publicUrl = text('publicUrl');
  if (publicUrl !== null) {
    let u: URL | null = null;
    try {
      u = new URL(publicUrl);
    } catch {
      /* reported below */
    }
    if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) throw bad(merged.publicUrl!.from, 'public-url', `'${publicUrl}' is not an http(s) URL`);
  }
  const tlsCert = text('tlsCert');
  const tlsKey = text('tlsKey');
  if ((tlsCert === null) !== (tlsKey === null)) throw bad('flag', tlsCert ? 'tls-key' : 'tls-cert', 'tls-cert and tls-key must be given together');
  const logLevel = text('logLevel') ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) throw bad(merged.logLevel!.from, 'log-level', `must be one of ${LOG_LEVELS.join(', ')}`);

  return {
    listenHost,
    listenPort: Number(m[2]),
    dataDir: resolve(text('dataDir') ?? SERVER_CONFIG_DEFAULTS.dataDir),
    database,
    publicUrl: publicUrl?.replace(/\/+$/, '') ?? null,
    tlsCert: tlsCert ? resolve(tlsCert) : null,
    tlsKey: tlsKey ? resolve(tlsKey) : null,
    heartbeatIntervalMs: duration('heartbeatInterval', 100, 300_000),
    offlineAfterBeats: integer('offlineAfter', 2, 100),
    metricsIntervalMs: duration('metricsInterval', 100, 3_600_000),
    metricsRetentionMs: duration('metricsRetention', 60_000, 7 * 86_400_000),
    maxBodyBytes: integer('maxBodyBytes', 1024, 64 * 1024 * 1024),
    logLevel: logLevel as ServerConfig['logLevel'],
    alertRules: text('alertRules') === null ? null : resolve(text('alertRules')!),
    healthPolicy: text('healthPolicy') === null ? null : resolve(text('healthPolicy')!),
    drainTimeoutMs: duration('drainTimeout', 1000, 7 * 86_400_000),
    offlineGraceMs: duration('offlineGrace', 0, 30 * 86_400_000),
    eventsRetentionMs: duration('eventsRetention', 3_600_000, 3650 * 86_400_000),
    eventsPerNode: integer('eventsPerNode', 100, 100_000_000),
    poolReconcileMs: duration('poolReconcile', 100, 3_600_000),
    sshFactsIntervalMs: duration('sshFactsInterval', 1000, 86_400_000),
    promoteAgentCommand: promoteAgentCommand(text('promoteAgentCommand'), merged.promoteAgentCommand!.from),
    promoteDataDir: absoluteHostPath(text('promoteDataDir'), merged.promoteDataDir!.from),
    agentInstallCommand: text('agentInstallCommand'),
    pools: text('pools') === null ? null : resolve(text('pools')!),
    bus: busUrl(text('bus'), merged.bus!.from, database),
    busNamespace: replicaToken('bus-namespace', text('busNamespace') ?? SERVER_CONFIG_DEFAULTS.busNamespace, merged.busNamespace!.from),
    replicaName: replicaToken('replica-name', text('replicaName') ?? defaultReplicaName(), merged.replicaName!.from),
  };
}

/** The bus: one or more nats:// URLs, comma-separated (a NATS cluster's seeds). */
function busUrl(value: string | null, from: string, database: string | null): string | null {
  if (value === null) return null;
  // Replicas share state through the store: each with its own SQLite file would split the fleet.
  if (database === null)
    throw bad(from, 'bus', 'replicas need a shared store: give --store postgres://... as well (the embedded SQLite store serves one replica)');
  for (const part of value.split(',')) {
    if (!isNatsUrl(part.trim()))
      throw bad(from, 'bus', `'${part.trim().slice(0, 80)}' is not a NATS URL such as nats://127.0.0.1:4222 (several: comma-separated)`);
  }
  return value;
}

function isNatsUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === 'nats:' || url.protocol === 'tls:') && url.hostname !== '' && (url.pathname === '' || url.pathname === '/') && !url.search;
  } catch {
    return false;
  }
}

/** The hostname made a token: `gpu-01.example.com` becomes `gpu-01-example-com`. */
function defaultReplicaName(): string {
  return (
    hostname()
      .replace(/[^A-Za-z0-9_-]+/g, '-')
      .slice(0, 64) || 'replica'
  );
}

/** Replica names and the bus namespace become NATS tokens and KV keys: letters, digits, '_' and '-' only. */
function replicaToken(key: string, value: string, from: string): string {
  const trimmed = value.trim();
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(trimmed)) throw bad(from, key, `'${value.slice(0, 80)}' must be 1 to 64 letters, digits, '_' or '-'`);
  return trimmed;
}

/** The agent command on promoted hosts: words split at spaces, no quotes (they would reach the host as part of a word). */
function promoteAgentCommand(value: string | null, from: string): string {
  const command = (value ?? SERVER_CONFIG_DEFAULTS.promoteAgentCommand).trim();
  if (command === '' || /['"\\\n]/.test(command))
    throw bad(from, 'promote-agent-command', `'${command}' must be a command and its words, split at spaces, without quotes`);
  return command;
}

/** The agent's data dir on promoted hosts: an absolute path on the host (not resolved here: it is not this machine's). */
function absoluteHostPath(value: string | null, from: string): string {
  const path = value ?? SERVER_CONFIG_DEFAULTS.promoteDataDir;
  if (!path.startsWith('/') || path === '/' || /[\n\0]/.test(path))
    throw bad(from, 'promote-data-dir', `'${path}' must be an absolute folder on the hosts, such as /var/lib/gpufleet-agent`);
  return path.replace(/\/+$/, '');
}

/** True when the host only accepts connections from this machine (plain HTTP is allowed there). */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
