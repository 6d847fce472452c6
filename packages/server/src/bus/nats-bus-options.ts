import { FleetError } from '@gpufleet/protocol';
import { type BusLog, DEFAULT_MAX_PAYLOAD_BYTES } from './bus.js';
import { checkName, refuseUnknownKeys, wholeOption } from './bus-names.js';

/** How a NatsBus connects, and how it sets up its stream and buckets. */
export interface NatsBusOptions {
  /** NATS server URLs, e.g. 'nats://127.0.0.1:4222'. */
  servers: string | string[];
  /** The connection name the server shows (default 'gpufleet'). */
  name?: string;
  /**
   * Goes in front of every subject, the stream name and the bucket names, so several fleets (or
   * test runs) share a NATS server without meeting (default 'gpufleet'). Letters, digits, '_', '-'.
   */
  namespace?: string;
  /** Where JetStream keeps the stream and buckets (default 'file'; 'memory' does not survive a restart). */
  storage?: 'file' | 'memory';
  /** JetStream replicas of the stream and buckets (default 1; 3 on a cluster). */
  replicas?: number;
  /** How long a durable msgId is remembered for dedupe (default 2 minutes). */
  dedupeWindowMs?: number;
  /** How long a durable message is kept, acked or not (default 7 days). */
  maxAgeMs?: number;
  /** Encoded payloads above this are refused (default 512 KiB, and never more than the server takes). */
  maxPayloadBytes?: number;
  /** How long close() waits for running durable handlers (default 10 s). */
  drainTimeoutMs?: number;
  /** How long connect() waits for a server (default 5 s). */
  connectTimeoutMs?: number;
  log?: BusLog;
}

/** NatsBusOptions with every default filled in, as the bus trusts them. */
export type NatsBusConfig = Required<Omit<NatsBusOptions, 'log' | 'servers'>> & { servers: string[]; log: BusLog | undefined };

const KNOWN_OPTIONS = [
  'servers',
  'name',
  'namespace',
  'storage',
  'replicas',
  'dedupeWindowMs',
  'maxAgeMs',
  'maxPayloadBytes',
  'drainTimeoutMs',
  'connectTimeoutMs',
  'log',
] as const;

/** Checks options once and fills in the defaults (DESIGN.md §8.3). */
export function resolveNatsBusOptions(options: NatsBusOptions): NatsBusConfig {
  refuseUnknownKeys('NATS bus options', options, KNOWN_OPTIONS);
  const servers = typeof options?.servers === 'string' ? [options.servers] : options?.servers;
  if (!Array.isArray(servers) || servers.length === 0 || servers.some((s) => typeof s !== 'string' || s === '')) {
    throw new FleetError('invalid_argument', 'NATS bus options need servers: a URL or a non-empty list of URLs');
  }
  if (options.storage !== undefined && options.storage !== 'file' && options.storage !== 'memory') {
    throw new FleetError('invalid_argument', `storage must be 'file' or 'memory', not ${String(options.storage)}`);
  }
  return {
    servers,
    name: options.name ?? 'gpufleet',
    namespace: checkName('namespace', options.namespace ?? 'gpufleet'),
    storage: options.storage ?? 'file',
    replicas: wholeOption('replicas', options.replicas, 1),
    dedupeWindowMs: wholeOption('dedupeWindowMs', options.dedupeWindowMs, 120_000),
    maxAgeMs: wholeOption('maxAgeMs', options.maxAgeMs, 7 * 24 * 3_600_000),
    maxPayloadBytes: wholeOption('maxPayloadBytes', options.maxPayloadBytes, DEFAULT_MAX_PAYLOAD_BYTES),
    drainTimeoutMs: wholeOption('drainTimeoutMs', options.drainTimeoutMs, 10_000, 0),
    connectTimeoutMs: wholeOption('connectTimeoutMs', options.connectTimeoutMs, 5_000),
    log: options.log,
  };
}
