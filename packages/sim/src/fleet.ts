import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeJoinToken, encodeJoinToken, FleetError, type JoinTokenPayload } from '@gpufleet/protocol';
import {
  Agent,
  FileStateStore,
  MemoryStateStore,
  errorText,
  identityFromSeed,
  joinFleet,
  silentLogger,
  SIMULATION_INTERVAL_BOUNDS,
  systemClock,
  withFields,
  type AgentIdentity,
  type AgentOptions,
  type AgentStateStore,
  type Clock,
  type HealthOptions,
  type HttpRequester,
  type Logger,
} from '@gpufleet/agent';
import { FakeHardwareBackend } from './fake-backend.js';
import { LinkProxy } from './faults/link-proxy.js';
import { SIM_GPU_MODELS, isSimGpuModel, type SimGpuModel } from './gpu-models.js';
import { hashString, mulberry32 } from './prng.js';
import { SimToolsRunner } from './tools/sim-tools-runner.js';
import { SimWorkloads, type SimWorkloadsOptions } from './workloads/sim-workloads.js';
import { SimUpdates, type SimUpdatesOptions } from './updates/sim-updates.js';

export interface SimFleetOptions {
  /** Dial this URL instead of the one in the token (e.g. the token names a public host name). */
  serverUrl?: string;
  /** A reusable join token: every simulated host joins with it. */
  token: string;
  /** Number of hosts, 0 to 100,000. */
  count: number;
  /** Names of the hosts, `count` of them, in order. Default `sim-<model>-<n>` (simHostnames). */
  hostnames?: readonly string[];
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
  /** Passed to every Agent. `updates` without installers leaves each host refusing rollouts. */
  agentOptions?: Pick<AgentOptions, 'metricsIntervalMs' | 'backoff' | 'announceStart' | 'metricsRingCapacity' | 'outboxLimits' | 'updates'>;
  /** HTTP client for enrollment; default node:http(s). */
  request?: HttpRequester;
  /**
   * Give each host a fake kernel log, `<dir>/<hostname>.log`, that its agent watches (the fault
   * injector writes XID lines there). Without it agents watch no kernel log.
   */
  kernelLog?: { dir: string; pollMs?: number; lookBackMs?: number };
  /** Health watching options for every agent besides the kernel log (counter thresholds, rate limit). */
  health?: Omit<HealthOptions, 'kernelLog'>;
  /**
   * Route each host through its own TCP proxy (LinkProxy) so its network link can be cut and
   * its agent crashed without a clean close. Default false (agents dial the server directly).
   */
  linkProxy?: boolean;
  /**
   * Give each host its vendor tools (`nvidia-smi`, or `amd-smi` and `rocm-smi`) as scripts in
   * `<dir>/<hostname>/`, first on the PATH of the commands its agent runs, printing what its
   * fake hardware shows (SimToolsRunner). Without it commands run with the plain PATH.
   */
  tools?: { dir: string };
  /**
   * Workloads: every host runs the allocations it is given with fake executors (no process,
   * no container; crashes and health failures on demand through `SimFleet.workloads`).
   * Default: on, with the fleet's seed and a 5 to 50 ms start. false: hosts have no executors.
   * A SimWorkloads of its own: hosts of several fleets share it (one place to find allocations).
   */
  workloads?: Partial<Omit<SimWorkloadsOptions, 'clock'>> | false | SimWorkloads;
  /**
   * Release updates (issue 14): hosts answer `update` frames with fake reports (verifying,
   * installing, healthy; failed where `SimFleet.updates.failOn` says), fetching the TUF files when
   * `tuf` is given; an agent release restarts the host's agent with the new agentVersion.
   * Default: on, 50 ms per step. false: the agent's own handler takes the frames.
   */
  updates?: Partial<Omit<SimUpdatesOptions, 'restartAgent' | 'agentVersion'>> | false;
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
  /** The running agent; a restart after a crash puts a new one here (same key, state and hardware). */
  agent: Agent;
  /** The fake kernel log the agent watches, when the fleet has them. */
  kernelLogPath: string | null;
  /** The host's network link, when the fleet routes hosts through link proxies. */
  link: LinkProxy | null;
}

export interface SimFleet {
  agents: SimHost[];
  /** The fake workloads every host runs (find, crash, fail health); null when started with `workloads: false`. */
  workloads: SimWorkloads | null;
  /** The fake release updates (faults, versions, bytes fetched); null when started with `updates: false`. */
  updates: SimUpdates | null;
  /** Resolves once every agent has started (starts are staggered). */
  started: Promise<void>;
  /** The host of that name; throws FleetError('not_found') naming a few that exist. */
  host(hostname: string): SimHost;
  /**
   * Kills a host's agent the way a crash does: its connection dies without a close frame and
   * nothing more is sent. Needs `linkProxy`. What the agent had stored (key, node config,
   * outbox) stays for the restart.
   */
  crashAgent(hostname: string): Promise<void>;
  /** Starts a fresh agent on a host whose agent crashed or stopped, with the same key, state and hardware. */
  restartAgent(hostname: string): Promise<void>;
  /** Stops every agent (each closes its session with 1000), then the link proxies. */
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
    if (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0)
      throw new FleetError('invalid_argument', `weight of ${model} must be a number >= 0, got ${String(weight)}`);
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
  return identityFromSeed(
    createHash('sha256')
      .update(`${String(seed)}:${index}`)
      .digest(),
  );
}

/** Enrolls `count` simulated hosts with the token, then starts their agents, staggered. */
export async function startSimFleet(o: SimFleetOptions): Promise<SimFleet> {
  if (!Number.isInteger(o.count) || o.count < 0 || o.count > 100_000)
    throw new FleetError('invalid_argument', `count must be an integer from 0 to 100000, got ${o.count}`);
  const concurrency = o.concurrency ?? 200;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new FleetError('invalid_argument', `concurrency must be a positive integer, got ${concurrency}`);
  const logger = o.logger ?? silentLogger;
  const clock = o.clock ?? systemClock;
  const token = o.serverUrl ? encodeJoinToken({ ...singleServer(decodeJoinToken(o.token)), url: o.serverUrl }) : o.token;
  decodeJoinToken(token); // a bad token fails here once, not count times
  const models = assignModels(o.count, o.mix ?? DEFAULT_MIX);
  const workloads =
    o.workloads === false ? null : o.workloads instanceof SimWorkloads ? o.workloads : new SimWorkloads({ seed: o.seed, ...o.workloads, clock });
  const hostnames = o.hostnames ? checkHostnames(o.hostnames, o.count) : simHostnames(models);
  if (o.kernelLog) mkdirSync(o.kernelLog.dir, { recursive: true });

  const hosts = models.map((model, index) => {
    const hostname = hostnames[index]!;
    const identity = simIdentity(o.seed, index);
    const backend = new FakeHardwareBackend({ hostname, model, gpuCount: o.gpuCount, seed: o.seed, clock, agentVersion: o.agentVersion });
    const state: AgentStateStore = o.dataDir === undefined ? new MemoryStateStore() : new FileStateStore(join(o.dataDir, hostname));
    const kernelLogPath = o.kernelLog ? join(o.kernelLog.dir, `${hostname}.log`) : null;
    // Created empty (never truncated: a kept data dir keeps its log) so the watcher starts at its end.
    if (kernelLogPath) writeFileSync(kernelLogPath, '', { flag: 'a' });
    // One set per host, kept across agent restarts: a restarted agent adopts what its host still runs.
    const executors = workloads?.executorsFor(hostname) ?? null;
    return { index, hostname, model, identity, backend, state, kernelLogPath, executors, link: null as LinkProxy | null, token };
  });

  if (o.linkProxy) {
    // Each host reaches the server only through its proxy: no replica list may route around it.
    const base = singleServer(decodeJoinToken(token));
    try {
      await runPool(hosts, 100, async (h) => {
        const proxy = LinkProxy.forUrl(base.url);
        h.link = proxy;
        await proxy.start();
        // The host enrolls and dials through its own proxy: the node config keeps the proxy's URL.
        h.token = encodeJoinToken({ ...base, url: proxy.urlFor(base.url) });
      });
    } catch (err) {
      await Promise.all(hosts.map((h) => h.link?.close()));
      throw err;
    }
  }
  const closeLinks = () => Promise.all(hosts.map((h) => h.link?.close())).then(() => undefined);

  const heartbeats: number[] = [];
  const failures: string[] = [];
  await runPool(hosts, concurrency, async (h) => {
    const existing = h.state.loadConfig();
    if (existing && existing.nodeId === h.identity.did) {
      // A new proxy listens on a new port: point the kept node config at it.
      if (h.link) {
        const { serverUrls: _replicas, ...config } = existing;
        h.state.saveConfig({ ...config, serverUrl: decodeJoinToken(h.token).url });
      }
      heartbeats.push(existing.heartbeatMs);
      return; // joined on an earlier run (dataDir kept)
    }
    for (let attempt = 1; ; attempt++) {
      try {
        const r = await joinFleet({
          token: h.token,
          state: h.state,
          identity: h.identity,
          backend: h.backend,
          agentVersion: o.agentVersion,
          request: o.request,
        });
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
    await closeLinks();
    throw new FleetError('unavailable', `${failures.length} of ${o.count} simulated hosts could not join; first: ${failures[0]}`);
  }
  logger.info('simulated hosts joined', { count: o.count });

  const executorsOf = new Map(hosts.map((h) => [h.hostname, h.executors]));
  // The agentVersion each host reports: an agent release changes it (the agent restarts, as a real one execs its new build).
  const versionOf = new Map<string, string>();
  let restartForUpdate: (hostname: string, version: string) => Promise<unknown> = () => Promise.reject(new Error('not started'));
  const updates =
    o.updates === false
      ? null
      : new SimUpdates({ agentVersion: o.agentVersion, ...o.updates, restartAgent: (hostname, version) => restartForUpdate(hostname, version) });
  const newAgent = (h: Pick<SimHost, 'hostname' | 'identity' | 'backend' | 'state' | 'kernelLogPath'>): Agent => {
    const health: HealthOptions | undefined =
      h.kernelLogPath && o.kernelLog
        ? { ...o.health, kernelLog: { source: { file: h.kernelLogPath }, pollMs: o.kernelLog.pollMs, lookBackMs: o.kernelLog.lookBackMs } }
        : o.health;
    const hostLogger = withFields(logger, { host: h.hostname });
    const exec = o.tools ? { exec: { runner: new SimToolsRunner({ backend: h.backend, dir: join(o.tools.dir, h.hostname), logger: hostLogger }) } } : {};
    const executors = executorsOf.get(h.hostname);
    // Without fake executors a simulated host refuses allocations: it must never start real containers or processes.
    const workloadOptions = executors ? { executors } : { enabled: false };
    const agent = new Agent({
      state: h.state,
      identity: h.identity,
      backend: h.backend,
      agentVersion: versionOf.get(h.hostname) ?? o.agentVersion,
      clock,
      logger: hostLogger,
      serverIntervalBounds: SIMULATION_INTERVAL_BOUNDS,
      ...o.agentOptions,
      ...(health ? { health } : {}),
      ...exec,
      workloads: workloadOptions,
      // Simulated hosts answer update frames through the agent's update seam (no TUF check, no install).
      ...(updates ? { updates: { ...o.agentOptions?.updates, handler: updates.handlerFor(h.hostname) } } : {}),
    });
    return agent;
  };
  const simHosts: SimHost[] = hosts.map((h) => ({
    index: h.index,
    hostname: h.hostname,
    model: h.model,
    identity: h.identity,
    backend: h.backend,
    state: h.state,
    kernelLogPath: h.kernelLogPath,
    link: h.link,
    nodeId: h.identity.did,
    agent: newAgent(h),
  }));
  const byName = new Map(simHosts.map((h) => [h.hostname, h]));
  restartForUpdate = async (hostname, version) => {
    const h = byName.get(hostname)!;
    versionOf.set(hostname, version);
    await h.agent.stop();
    h.agent = newAgent(h);
    await h.agent.start();
    return h.agent;
  };
  const host = (hostname: string): SimHost => {
    const h = byName.get(hostname);
    if (!h) {
      const some = simHosts.slice(0, 5).map((x) => x.hostname);
      throw new FleetError(
        'not_found',
        `no simulated host '${hostname}' (hosts: ${some.join(', ')}${simHosts.length > 5 ? `, ... ${simHosts.length} in all` : ''})`,
      );
    }
    return h;
  };

  // Staggered starts so thousands of agents do not sample and heartbeat in lockstep.
  const spread = o.startSpreadMs ?? (heartbeats.length > 0 ? Math.min(...heartbeats) : 5000);
  const rng = mulberry32(hashString(`${String(o.seed)}:stagger`));
  const timers: NodeJS.Timeout[] = [];
  let stopping = false;
  const started = Promise.all(
    simHosts.map(
      (h) =>
        new Promise<void>((resolve) => {
          const timer = setTimeout(
            () => {
              if (stopping) return resolve();
              h.agent.start().then(resolve, (err: unknown) => {
                logger.error('a simulated agent failed to start', { host: h.hostname, err: errorText(err) });
                resolve();
              });
            },
            Math.floor(rng() * spread),
          );
          timers.push(timer);
          // A stop before the start fires must still settle `started`.
          h.agent.exited.then(
            () => resolve(),
            () => resolve(),
          );
        }),
    ),
  ).then(() => undefined);

  return {
    agents: simHosts,
    workloads,
    updates,
    started,
    host,
    async crashAgent(hostname) {
      const h = host(hostname);
      if (!h.link) throw new FleetError('failed_precondition', `crashing ${hostname}'s agent needs the fleet started with linkProxy: true`);
      if (h.agent.lifecycle === 'stopped' || h.agent.lifecycle === 'draining')
        throw new FleetError('failed_precondition', `${hostname}'s agent is not running`);
      // The connection dies first, from below: the server sees no close frame, as with a killed process.
      h.link.cut();
      const deadline = Date.now() + 2000;
      while (h.agent.linkState === 'live' || h.agent.linkState === 'handshaking') {
        if (Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      // Its socket is gone, so this stop only ends timers and watchers: no close frame can go out.
      await h.agent.stop();
      h.link.restore();
      logger.info('simulated agent crashed', { host: hostname });
    },
    async restartAgent(hostname) {
      const h = host(hostname);
      if (h.agent.lifecycle !== 'stopped')
        throw new FleetError('failed_precondition', `${hostname}'s agent is still ${h.agent.lifecycle}: crash or stop it first`);
      h.agent = newAgent(h);
      await h.agent.start();
      logger.info('simulated agent restarted', { host: hostname });
    },
    async stop() {
      stopping = true;
      for (const t of timers) clearTimeout(t);
      await runPool(simHosts, 500, (h) => h.agent.stop().then(() => undefined));
      await closeLinks();
    },
  };
}

/**
 * Hostnames of a fleet with these models, in order: `sim-<model>-<n>`, numbered per model
 * from 1, at least three digits wide (wider for fleets of 1,000 hosts and more).
 */
export function simHostnames(models: readonly SimGpuModel[]): string[] {
  const width = Math.max(3, String(models.length).length);
  const perModel = new Map<SimGpuModel, number>();
  return models.map((model) => {
    const n = (perModel.get(model) ?? 0) + 1;
    perModel.set(model, n);
    return `sim-${model.toLowerCase()}-${String(n).padStart(width, '0')}`;
  });
}

/** The token without its replica list: the simulator points every host at one URL of its choosing. */
function singleServer(payload: JoinTokenPayload): JoinTokenPayload {
  const { urls: _replicas, ...rest } = payload;
  return rest;
}

/** Hostnames given by the caller: one per host, distinct, usable as file names (kernel logs, tools). */
function checkHostnames(names: readonly string[], count: number): string[] {
  if (names.length !== count) throw new FleetError('invalid_argument', `hostnames lists ${names.length} names for ${count} hosts`);
  const bad = names.find((n) => !/^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/i.test(n));
  if (bad !== undefined) throw new FleetError('invalid_argument', `'${bad}' is not a hostname (letters, digits, dots and dashes)`);
  if (new Set(names).size !== names.length) throw new FleetError('invalid_argument', 'hostnames has duplicates');
  return [...names];
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
