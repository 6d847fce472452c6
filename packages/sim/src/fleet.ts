import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { decodeJoinToken, encodeJoinToken, FleetError } from '@gpufleet/protocol';
import {
  Agent,
  FileStateStore,
  MemoryStateStore,
  errorText,
  identityFromSeed,
  joinFleet,
  silentLogger,
  systemClock,
  withFields,
  type AgentIdentity,
  type AgentOptions,
  type AgentStateStore,
  type Clock,
  type HttpRequester,
  type Logger,
} from '@gpufleet/agent';
import { FakeHardwareBackend } from './fake-backend.js';
import { SIM_GPU_MODELS, isSimGpuModel, type SimGpuModel } from './gpu-models.js';
import { hashString, mulberry32 } from './prng.js';

export interface SimFleetOptions {
  /** Dial this URL instead of the one in the token (e.g. the token names a public host name). */
  serverUrl?: string;
  /** A reusable join token: every simulated host joins with it. */
  token: string;
  /** Number of hosts, 0 to 100,000. */
  count: number;
  /** Same seed, same hosts: hostnames, keys, GPU UUIDs and readings. */
  seed: string | number;
  /** Relative weights per model. Default: H100, A100, L40S, MI300X in equal parts. */
  mix?: Partial<Record<SimGpuModel, number>>;
  /** GPUs per host. Default 8. */
  gpuCount?: number;
  /** Keep each host's state in `<dataDir>/<hostname>`; undefined keeps it in memory. */
  dataDir?: string;
  agentVersion: string;
  logger?: Logger;
  /** Enrollments in flight at once. Default 200. */
  concurrency?: number;
  clock?: Clock;
  /** Starts are spread at random over this window. Default: the heartbeat interval the server gave. */
  startSpreadMs?: number;
  /** Passed to every Agent. */
  agentOptions?: Pick<AgentOptions, 'metricsIntervalMs' | 'backoff' | 'announceStart' | 'metricsRingCapacity' | 'outboxLimits'>;
  /** HTTP client for enrollment; default node:http(s). */
  request?: HttpRequester;
}

/** One simulated host: the real Agent on a fake hardware backend. */
export interface SimHost {
  index: number;
  hostname: string;
  model: SimGpuModel;
  nodeId: string;
  identity: AgentIdentity;
  backend: FakeHardwareBackend;
  state: AgentStateStore;
  agent: Agent;
}

export interface SimFleet {
  agents: SimHost[];
  /** Resolves once every agent has started (starts are staggered). */
  started: Promise<void>;
  /** Stops every agent (each closes its session with 1000). */
  stop(): Promise<void>;
}

const DEFAULT_MIX: Record<SimGpuModel, number> = { H100: 1, A100: 1, L40S: 1, MI300X: 1 };
const ENROLL_ATTEMPTS = 3;

/**
 * Models for `count` hosts in the proportions of `mix`, interleaved (smooth weighted round
 * robin) so any prefix of the fleet has about the same mix as the whole.
 */
export function assignModels(count: number, mix: Partial<Record<SimGpuModel, number>> = DEFAULT_MIX): SimGpuModel[] {
  const entries = Object.entries(mix) as [string, number][];
  for (const [model, weight] of entries) {
    if (!isSimGpuModel(model)) throw new FleetError('invalid_argument', `unknown simulated GPU model '${model}' (one of ${SIM_GPU_MODELS.join(', ')})`);
    if (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0) throw new FleetError('invalid_argument', `weight of ${model} must be a number >= 0, got ${String(weight)}`);
  }
  const weighted = entries.filter(([, w]) => w > 0) as [SimGpuModel, number][];
  if (weighted.length === 0) throw new FleetError('invalid_argument', 'the model mix needs at least one model with a weight above 0');
  const total = weighted.reduce((a, [, w]) => a + w, 0);
  const current = weighted.map(() => 0);
  const out: SimGpuModel[] = [];
  for (let i = 0; i < count; i++) {
    let best = 0;
    for (let k = 0; k < weighted.length; k++) {
      current[k]! += weighted[k]![1];
      if (current[k]! > current[best]!) best = k;
    }
    current[best]! -= total;
    out.push(weighted[best]![0]);
  }
  return out;
}

/** The deterministic key of simulated host i: identityFromSeed(sha256(seed + ':' + i)). */
export function simIdentity(seed: string | number, index: number): AgentIdentity {
  return identityFromSeed(createHash('sha256').update(`${String(seed)}:${index}`).digest());
}

/** Enrolls `count` simulated hosts with the token, then starts their agents, staggered. */
export async function startSimFleet(o: SimFleetOptions): Promise<SimFleet> {
  if (!Number.isInteger(o.count) || o.count < 0 || o.count > 100_000) throw new FleetError('invalid_argument', `count must be an integer from 0 to 100000, got ${o.count}`);
  const concurrency = o.concurrency ?? 200;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new FleetError('invalid_argument', `concurrency must be a positive integer, got ${concurrency}`);
  const logger = o.logger ?? silentLogger;
  const clock = o.clock ?? systemClock;
  const token = o.serverUrl ? encodeJoinToken({ ...decodeJoinToken(o.token), url: o.serverUrl }) : o.token;
  decodeJoinToken(token); // a bad token fails here once, not count times
  const models = assignModels(o.count, o.mix ?? DEFAULT_MIX);
  const width = Math.max(3, String(o.count).length);
  const perModel = new Map<SimGpuModel, number>();

  const hosts = models.map((model, index) => {
    const n = (perModel.get(model) ?? 0) + 1;
    perModel.set(model, n);
    const hostname = `sim-${model.toLowerCase()}-${String(n).padStart(width, '0')}`;
    const identity = simIdentity(o.seed, index);
    const backend = new FakeHardwareBackend({ hostname, model, gpuCount: o.gpuCount, seed: o.seed, clock, agentVersion: o.agentVersion });
    const state: AgentStateStore = o.dataDir === undefined ? new MemoryStateStore() : new FileStateStore(join(o.dataDir, hostname));
    return { index, hostname, model, identity, backend, state };
  });

  const heartbeats: number[] = [];
  const failures: string[] = [];
  await runPool(hosts, concurrency, async (h) => {
    const existing = h.state.loadConfig();
    if (existing && existing.nodeId === h.identity.did) {
      heartbeats.push(existing.heartbeatMs);
      return; // joined on an earlier run (dataDir kept)
    }
    for (let attempt = 1; ; attempt++) {
      try {
        const r = await joinFleet({ token, state: h.state, identity: h.identity, backend: h.backend, agentVersion: o.agentVersion, request: o.request });
        heartbeats.push(r.heartbeatMs);
        return;
      } catch (err) {
        // Only an overloaded or unreachable server is worth another try; a refusal is final.
        if (attempt < ENROLL_ATTEMPTS && FleetError.is(err, 'unavailable')) {
          await new Promise((r) => setTimeout(r, 200 * attempt));
          continue;
        }
        failures.push(`${h.hostname}: ${errorText(err)}`);
        return;
      }
    }
  });
  if (failures.length > 0) {
    throw new FleetError('unavailable', `${failures.length} of ${o.count} simulated hosts could not join; first: ${failures[0]}`);
  }
  logger.info('simulated hosts joined', { count: o.count });

  const simHosts: SimHost[] = hosts.map((h) => ({
    ...h,
    nodeId: h.identity.did,
    agent: new Agent({ state: h.state, identity: h.identity, backend: h.backend, agentVersion: o.agentVersion, clock, logger: withFields(logger, { host: h.hostname }), ...o.agentOptions }),
  }));

  // Staggered starts so thousands of agents do not sample and heartbeat in lockstep.
  const spread = o.startSpreadMs ?? (heartbeats.length > 0 ? Math.min(...heartbeats) : 5000);
  const rng = mulberry32(hashString(`${String(o.seed)}:stagger`));
  const timers: NodeJS.Timeout[] = [];
  let stopping = false;
  const started = Promise.all(
    simHosts.map(
      (h) =>
        new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            if (stopping) return resolve();
            h.agent.start().then(resolve, (err: unknown) => {
              logger.error('a simulated agent failed to start', { host: h.hostname, err: errorText(err) });
              resolve();
            });
          }, Math.floor(rng() * spread));
          timers.push(timer);
          // A stop before the start fires must still settle `started`.
          h.agent.exited.then(() => resolve(), () => resolve());
        }),
    ),
  ).then(() => undefined);

  return {
    agents: simHosts,
    started,
    async stop() {
      stopping = true;
      for (const t of timers) clearTimeout(t);
      await runPool(simHosts, 500, (h) => h.agent.stop().then(() => undefined));
    },
  };
}

/** Runs `fn` over items with at most `limit` in flight. */
async function runPool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
