import { randomUUID } from 'node:crypto';
import { AgentEvent, FleetError, replicaOrderFor, type GpuSample, type Labels, type MetricsBody } from '@gpufleet/protocol';
import { vouchedHostLabels, type ExecOptions } from '../exec/agent-exec.js';
import type { CommandHandler } from '../exec/command-handler.js';
import type { HardwareBackend } from '../hardware/backend.js';
import { HealthReporter, type HealthOptions } from '../health/health-reporter.js';
import { systemClock, type Clock } from './clock.js';
import type { AgentIdentity } from './identity.js';
import { AgentLink, type BackoffOptions, type LinkState, type RemoteOpFrame } from './link.js';
import type { NewAgentEvent } from './gpu-changes.js';
import { FixedCadence } from './fixed-cadence.js';
import { HardwareReadings } from './hardware-readings.js';
import { checkIntervalBounds, clampServerInterval, DEFAULT_SERVER_INTERVAL_BOUNDS, type ServerIntervalBounds } from './interval-bounds.js';
import { errorText, silentLogger, type Logger } from './logger.js';
import { MetricsRing } from './metrics-ring.js';
import { Outbox, type OutboxLimits } from './outbox.js';
import { nodeServerUrls, type AgentStateStore, type OutboxItem } from './state.js';
import type { WorkloadOptions } from '../workloads/agent-workloads.js';
import type { WorkloadHost, WorkloadSupervisor } from '../workloads/supervisor.js';
import { createHostServices } from './host-services.js';
import { createAgentUpdates, type UpdateOptions } from '../updates/agent-updates.js';
import type { UpdateFrameHandler } from '../updates/update-frame-handler.js';
import type { AgentSelfCheck } from '../updates/agent-self-check.js';

export type { NewAgentEvent } from './gpu-changes.js';

export type AgentLifecycle = 'starting' | 'running' | 'draining' | 'stopped';

/** Default sampling interval until the server says otherwise (DESIGN.md §3). */
export const DEFAULT_METRICS_INTERVAL_MS = 10_000;

export interface AgentOptions {
  state: AgentStateStore;
  identity: AgentIdentity;
  backend: HardwareBackend;
  agentVersion: string;
  logger?: Logger;
  clock?: Clock;
  /** Uniform in [0, 1), for the reconnect jitter. */
  random?: () => number;
  /** Sampling interval before the welcome sets one. Default 10 s. */
  metricsIntervalMs?: number;
  /**
   * Bounds on the metrics and heartbeat intervals the server pushes (clamped, with a warning).
   * Default DEFAULT_SERVER_INTERVAL_BOUNDS (1 s floor); simulators and tests that run fast on
   * purpose lower it.
   */
  serverIntervalBounds?: ServerIntervalBounds;
  outboxLimits?: Partial<OutboxLimits>;
  /** Metrics samples kept while disconnected. Default 360. */
  metricsRingCapacity?: number;
  backoff?: BackoffOptions;
  /** Enqueue an 'agent-started' event on start. Default true. */
  announceStart?: boolean;
  /** Health watching: the kernel log (when given) and counter changes between samples. */
  health?: HealthOptions;
  /** Remote operations (signed commands); defaults run real processes on this host. */
  exec?: ExecOptions;
  /** Workloads (signed jobs placed here); defaults run real containers and processes on this host. */
  workloads?: WorkloadOptions;
  /** Signed releases rolled out to this host (agent builds, bundles); see UpdateOptions for defaults. */
  updates?: UpdateOptions;
}

/** How the agent ended: code 1 when the server refused it for good. */
export interface AgentExit {
  code: 0 | 1;
  reason: string | null;
}

export interface AgentStats {
  collections: number;
  /** Collections (host sample, GPU readout, host facts) that threw or returned invalid data. */
  collectionErrors: number;
  metricsProduced: number;
  eventsEnqueued: number;
  inventoriesEnqueued: number;
}

/**
 * One host's agent: samples the hardware backend, keeps the link to the server, and turns
 * changes (GPU set, tool failures, GPUs missing since start) into inventory and events.
 * Lifecycle: 'starting' -> 'running' -> 'draining' -> 'stopped' (DESIGN.md §8.4).
 */
export class Agent {
  private state: AgentLifecycle = 'starting';
  private readonly logger: Logger;
  private readonly clock: Clock;
  readonly outbox: Outbox;
  readonly metrics: MetricsRing<MetricsBody>;
  /** Kernel log and counter watching; null unless AgentOptions.health is given. */
  readonly health: HealthReporter | null;
  private link: AgentLink | null = null;
  private execHandler: CommandHandler | null = null;
  private workloadSupervisor: WorkloadSupervisor | null = null;
  private updateHandler: UpdateFrameHandler | null = null;
  private selfCheck: AgentSelfCheck | null = null;
  /** Welcomed since start: the first collection after it completes a new build's self-check. */
  private welcomed = false;
  private joinLabels: Record<string, string> = {};
  private readonly readings: HardwareReadings;
  private intervalMs: number;
  private readonly intervalBounds: ServerIntervalBounds;
  private readonly cadence = new FixedCadence(() => this.collect());
  private inFlight: Promise<void> | null = null;
  private started = false;
  private resolveExit!: (exit: AgentExit) => void;
  /** Resolves once the agent has stopped: by stop(), or with code 1 when the server refused it. */
  readonly exited: Promise<AgentExit>;
  readonly stats: AgentStats = { collections: 0, collectionErrors: 0, metricsProduced: 0, eventsEnqueued: 0, inventoriesEnqueued: 0 };

  constructor(private readonly o: AgentOptions) {
    this.logger = o.logger ?? silentLogger;
    this.clock = o.clock ?? systemClock;
    this.intervalMs = o.metricsIntervalMs ?? DEFAULT_METRICS_INTERVAL_MS;
    this.intervalBounds = checkIntervalBounds(o.serverIntervalBounds ?? DEFAULT_SERVER_INTERVAL_BOUNDS);
    this.outbox = new Outbox(o.state, { limits: o.outboxLimits, logger: this.logger });
    this.metrics = new MetricsRing<MetricsBody>(o.metricsRingCapacity);
    this.readings = new HardwareReadings({ backend: o.backend, logger: this.logger, stats: this.stats });
    this.health = o.health ? new HealthReporter({ ...o.health, enqueue: (e) => this.enqueueEvent(e), logger: this.logger, clock: this.clock }) : null;
    this.exited = new Promise((resolve) => (this.resolveExit = resolve));
  }

  get lifecycle(): AgentLifecycle {
    return this.state;
  }

  get nodeId(): string {
    return this.o.identity.did;
  }

  get linkState(): LinkState {
    return this.link?.state ?? 'idle';
  }

  get metricsIntervalMs(): number {
    return this.intervalMs;
  }

  /** Verifies and runs signed commands; null before start. */
  get exec(): CommandHandler | null {
    return this.execHandler;
  }

  /** Verifies, starts and supervises workload allocations; null before start. */
  get workloads(): WorkloadSupervisor | null {
    return this.workloadSupervisor;
  }

  /** Applies signed releases (update frames); null before start. */
  get updates(): UpdateFrameHandler | null {
    return this.updateHandler;
  }

  /** Link counters (dials, welcomes, frames), null before start. */
  get linkStats(): AgentLink['stats'] | null {
    return this.link?.stats ?? null;
  }

  /**
   * Reads the node config, takes the first readings as the baseline, and connects. Throws
   * FleetError('failed_precondition') when the host has not joined or the key does not match.
   */
  async start(): Promise<void> {
    if (this.started) throw new FleetError('failed_precondition', 'this agent was already started');
    this.started = true;
    try {
      await this.boot();
    } catch (err) {
      this.state = 'stopped';
      this.resolveExit({ code: 1, reason: errorText(err) });
      throw err;
    }
  }

  private async boot(): Promise<void> {
    const config = this.o.state.loadConfig();
    if (!config) throw new FleetError('failed_precondition', "this host has not joined a fleet yet: run 'gpufleet-agent join <token>' first");
    if (config.nodeId !== this.o.identity.did) {
      throw new FleetError('failed_precondition', `the node key (${this.o.identity.did}) is not the key this host joined with (${config.nodeId}); join again`);
    }
    this.joinLabels = { ...config.labels };
    // Commands and workloads over one trust state: roots, revocations and label attestations apply alike.
    const services = createHostServices({
      state: this.o.state,
      joinRoots: config.roots,
      exec: this.o.exec,
      workloads: this.o.workloads,
      enqueue: (e, critical) => this.enqueueEvent(e, { critical }),
      hostLabels: () => this.hostLabels(),
      workloadHost: () => this.workloadHost(),
      clock: this.clock,
      logger: this.logger,
    });
    this.execHandler = services.exec;
    const updates = createAgentUpdates({
      options: this.o.updates,
      agentVersion: this.o.agentVersion,
      trust: services.trust,
      hostLabels: () => this.hostLabels(),
      server: () => (this.link ? { url: this.link.currentUrl, caPem: config.caPem } : null),
      enqueue: (e, critical) => this.enqueueEvent(e, { critical }),
      clock: this.clock,
      logger: this.logger,
    });
    this.updateHandler = updates.handler;
    this.selfCheck = updates.selfCheck;
    // A build the launcher went back to reports the failed update now; a new build owes its self-check.
    this.selfCheck?.start();
    // Runs that were going when the agent died: reported (outcome unknown), never started again.
    this.execHandler.reportInterrupted();
    await this.readings.refreshHostFacts();
    await this.collectGpus();
    // stop() may have come while the first readings were taken: then there is nothing to start.
    if (this.state !== 'starting') return;
    this.workloadSupervisor = services.workloads;
    // After the first readout (placements are checked against it), before any frame can arrive.
    await this.workloadSupervisor.resume();
    if (this.state !== 'starting') return;
    if (this.o.announceStart ?? true) {
      this.enqueueEvent({
        kind: 'agent-started',
        message: `gpufleet-agent ${this.o.agentVersion} started`,
        data: { gpus: this.readings.snapshots.length },
      });
    }
    // After the first readout, so kernel events (the look-back included) find their GPU's UUID.
    this.health?.start();
    this.link = new AgentLink({
      // Its own order of preference, as the welcome will list them: agents joined with one token
      // spread over the replicas rather than all dialing the token's first URL.
      serverUrls: replicaOrderFor(config.nodeId, nodeServerUrls(config)),
      caPem: config.caPem,
      identity: this.o.identity,
      agentVersion: this.o.agentVersion,
      outbox: this.outbox,
      metrics: this.metrics,
      logger: this.logger,
      clock: this.clock,
      random: this.o.random,
      backoff: this.o.backoff,
      heartbeatMs: config.heartbeatMs,
      heartbeatBounds: this.intervalBounds.heartbeat,
      onWelcome: (w) => {
        this.setMetricsInterval(w.metricsIntervalMs);
        this.welcomed = true;
        // Every session starts from a fresh inventory, so the server never trusts a stale one.
        this.enqueueInventory();
      },
      onServerUrls: (urls) => this.saveServerUrls(urls),
      onConfig: (c) => this.setMetricsInterval(c.metricsIntervalMs),
      onFatal: (reason) => void this.shutdown({ code: 1, reason }),
      onRemoteOp: (frame) => this.onRemoteOp(frame),
      onMalformedCommand: (raw, why) => this.exec?.onMalformedCommand(raw, why),
      onMalformedAlloc: (raw, why) => this.workloads?.onMalformed(raw, why),
    });
    this.state = 'running';
    this.link.start();
    this.cadence.start(this.intervalMs);
    this.logger.info('agent started', {
      nodeId: this.nodeId,
      server: this.link.currentUrl,
      serverUrls: this.link.serverUrls,
      gpus: this.readings.snapshots.length,
    });
  }

  /**
   * Keeps the replica list the server sent for the next start, so an agent restarted while the
   * replica it joined through is gone still finds the others. `serverUrl` stays the join URL.
   */
  private saveServerUrls(urls: string[]): void {
    try {
      const config = this.o.state.loadConfig();
      if (config) this.o.state.saveConfig({ ...config, serverUrls: urls });
    } catch (err) {
      // The link already dials the new list; only the next start would use the old one.
      this.logger.warn('could not save the server URL list', { err: errorText(err) });
    }
  }

  /** Drains: stops sampling, closes the session with 1000, flushes the state. */
  async stop(): Promise<AgentExit> {
    await this.shutdown({ code: 0, reason: null });
    return this.exited;
  }

  /** The labels this host vouches for itself (see vouchedHostLabels): what command selectors are matched against. */
  hostLabels(): Labels {
    return vouchedHostLabels(this.readings.hostFacts, this.readings.snapshots, this.joinLabels);
  }

  /** This host as workload placements are judged against it: its id, hostname, latest GPUs and own labels. */
  private workloadHost(): WorkloadHost {
    return {
      nodeId: this.nodeId,
      hostname: this.readings.hostFacts?.hostname ?? '',
      gpus: this.readings.snapshots.map((s) => ({ index: s.index, uuid: s.uuid, vendor: s.vendor, pciBusId: s.pciBusId })),
      labels: this.hostLabels(),
    };
  }

  private onRemoteOp(frame: RemoteOpFrame): void {
    const exec = this.exec;
    if (!exec || this.state !== 'running') return;
    try {
      if (frame.t === 'command') exec.onCommand(frame.body);
      else if (frame.t === 'cancel') exec.onCancel(frame.body.runId, frame.body.signed);
      else if (frame.t === 'alloc') this.workloads?.onFrame(frame.body);
      else if (frame.t === 'trust') exec.onTrust(frame.body);
      else if (frame.t === 'update') void this.updateHandler?.onFrame(frame.body);
    } catch (err) {
      // A bug in handling one frame must not take the agent down.
      this.logger.error('could not handle a remote-operation frame', { type: frame.t, err: errorText(err) });
    }
  }

  /**
   * Puts a must-not-lose event in the outbox (sent now when connected). Health watchers call
   * this. Returns the stored item, or null when it was invalid or the outbox is full.
   * `critical: false` (command output) skips the fsync and leaves the reserved share alone.
   */
  enqueueEvent(e: NewAgentEvent, opts: { critical?: boolean } = {}): OutboxItem | null {
    const parsed = AgentEvent.safeParse({
      id: randomUUID(),
      ts: e.ts ?? this.clock.now(),
      kind: e.kind,
      gpuUuid: e.gpuUuid ?? null,
      pciBusId: e.pciBusId ?? null,
      message: e.message.length > 8192 ? `${e.message.slice(0, 8191)}…` : e.message,
      data: e.data ?? {},
    });
    if (!parsed.success) {
      this.logger.error('dropping an event that does not match the protocol', { kind: e.kind, issue: parsed.error.issues[0]?.message });
      return null;
    }
    const item = this.outbox.append({ t: 'event', body: parsed.data }, opts.critical ?? true);
    if (item) {
      this.stats.eventsEnqueued++;
      this.link?.offer(item);
    }
    return item;
  }

  /** One sampling pass now (the timer calls this; tests may too). Never throws. */
  async collect(): Promise<void> {
    if (this.inFlight) return this.inFlight;
    this.inFlight = this.collectOnce().finally(() => (this.inFlight = null));
    return this.inFlight;
  }

  private async collectOnce(): Promise<void> {
    this.stats.collections++;
    const ts = this.clock.now();
    const afterWelcome = this.welcomed;
    if (!this.readings.hostFacts) {
      await this.readings.refreshHostFacts();
      // The welcome could not send an inventory without host facts; send it now that they are known.
      if (this.readings.hostFacts && this.state === 'running') this.enqueueInventory();
    }
    const [host, gpus] = await Promise.all([this.readings.hostSample(), this.collectGpus()]);
    if (!host || this.state !== 'running') return;
    this.stats.metricsProduced++;
    this.link?.sendMetrics({ ts, host, gpus: gpus ?? [] });
    // A new build's self-check: welcomed by the server, and one full collection since.
    this.selfCheck?.collected(afterWelcome);
  }

  /** Reads the GPUs, turns what changed into events (and an inventory), and returns this pass's samples. */
  private async collectGpus(): Promise<GpuSample[] | null> {
    const read = await this.readings.gpus();
    if (!read) return null;
    this.health?.observe(read.snapshots);
    for (const e of read.changes.events) this.enqueueEvent(e);
    if (read.changes.inventoryChanged && this.state === 'running') this.enqueueInventory();
    return read.samples;
  }

  /** Enqueues the current inventory; skipped (logged) while the host facts are unknown. */
  private enqueueInventory(): void {
    const body = this.readings.inventory(this.o.agentVersion);
    if (!body) return;
    const item = this.outbox.append({ t: 'inventory', body });
    if (item) {
      this.stats.inventoriesEnqueued++;
      this.link?.offer(item);
    }
  }

  /** An interval the server sent (welcome or config frame): clamped to the bounds first. */
  private setMetricsInterval(requestedMs: number): void {
    const ms = clampServerInterval('metrics', requestedMs, this.intervalBounds.metrics, this.logger);
    if (ms === this.intervalMs) return;
    this.logger.info('metrics interval changed', { from: this.intervalMs, to: ms });
    this.intervalMs = ms;
    if (this.state === 'running') this.cadence.start(ms);
  }

  private async shutdown(exit: AgentExit): Promise<void> {
    if (this.state === 'draining' || this.state === 'stopped') return;
    const wasRunning = this.started;
    this.state = 'draining';
    this.cadence.stop();
    this.health?.stop();
    if (this.inFlight) await Promise.race([this.inFlight, new Promise((r) => setTimeout(r, 5000))]);
    // Running commands are killed (their groups) and report canceled before the link closes.
    await this.exec?.stopAll();
    // Containers keep running for the next agent; process workloads stop (they cannot be taken over).
    await this.workloads?.shutdown();
    await this.link?.stop();
    try {
      this.o.state.flush();
    } catch (err) {
      this.logger.error('could not flush the agent state', { err: errorText(err) });
    }
    this.state = 'stopped';
    if (wasRunning) this.logger.info(exit.code === 0 ? 'agent stopped' : 'agent stopped: the server refused it', exit.reason ? { reason: exit.reason } : {});
    this.resolveExit(exit);
  }
}
