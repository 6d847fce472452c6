import type { MetricsBody } from '@gpufleet/protocol';
import type { Bus } from '../bus/bus.js';
import { subjects, nodeIdOf } from '../bus/subjects.js';
import type { EventHub, HubEvent } from '../events/event-hub.js';
import type { AgentEventRecord } from '../store/store.js';
import { decodeBatch, parseRelayedBody } from './metric-batch.js';
import { MetricRelay } from './metric-relay.js';

type NodeChange = Extract<HubEvent, { type: 'node' }>['change'];

/** How often roots and revocations are read again even without a trust.changed message. */
const TRUST_REFRESH_MS = 30_000;

/**
 * A service whose lease holder acts on hosts' reports, wherever the host is connected (the
 * workload scheduler for alloc-state): it hears the reports of the kinds it names that other
 * replicas stored, and hosts' sessions becoming ready there. It ignores both unless it holds
 * its lease.
 */
export interface RelayedReports {
  kinds: readonly string[];
  onHostReport(record: AgentEventRecord): Promise<void>;
  onSessionReady(nodeId: string): void;
}

export interface ReplicaBridgeOptions {
  bus: Bus;
  /** This replica's name, for the others' session-owner maps. */
  replica: string;
  /** Who holds which session: a session-ready message names its holder before its claim arrives. */
  owners: { noteHolder(nodeId: string, replica: string, instance: string): void };
  /** This replica instance: its own messages come back on the shared subjects and are skipped. */
  instance: string;
  hub: EventHub;
  /** The latest metrics of a node held here, to pass on; and where other replicas' latest samples are kept (no rings: see MetricReads). */
  metrics: { latest(nodeId: string): MetricsBody | null; noteRemote(nodeId: string, body: MetricsBody): void };
  /** A node changed on another replica: read its stored record again. */
  registry: { reload(nodeId: string): Promise<void> };
  /** A verdict changed on another replica: read the node's findings again. */
  health: { adoptNode(nodeId: string): Promise<void> };
  /** Runs this replica follows hear their hosts' reports, wherever the host is connected. */
  runs: { onAgentEvent(record: AgentEventRecord): void; onSessionReady(nodeId: string): void };
  /** Roots, revocations and label attestations changed on another replica: read them again (and pass them to agents here). */
  trust: { refresh(): Promise<boolean> };
  /** Lease-held services that act on reports stored on any replica. */
  reports: readonly RelayedReports[];
  /** Whether another replica is alive: alone, metric samples are not encoded for nobody. */
  othersAlive: () => boolean;
  /** How long samples of nodes held here gather before they go to the others (MetricRelay). */
  metricFlushMs?: number;
  log: { warn(obj: object, msg: string): void };
}

/**
 * Carries what one replica sees to the others over core NATS (latest wins, a lost message is
 * made good by the next one or by the store): node changes (the others read the node from the
 * store again), the latest samples of the nodes held here, in batches (the others keep them as
 * those nodes' latest, so lists, heatmaps and alert rules see every node on every replica; history
 * is asked of the holder), health verdicts and stored
 * agent events (for the others' alert engines, findings and event streams), hosts' run reports
 * (for the replica following the run) and sessions becoming ready (so that replica delivers
 * what waits).
 * Events it puts on the local hub are marked, so they never go back out.
 */
export class ReplicaBridge {
  private readonly injected = new WeakSet<HubEvent>();
  private readonly stops: Array<() => void> = [];

  private readonly relay: MetricRelay;
  /** Relayed samples refused (a malformed batch counts each of its items it could not read as one). */
  readonly refusedSamples = { batches: 0, samples: 0 };

  constructor(private readonly o: ReplicaBridgeOptions) {
    this.relay = new MetricRelay({
      bus: o.bus,
      instance: o.instance,
      latest: (nodeId) => o.metrics.latest(nodeId),
      othersAlive: o.othersAlive,
      flushMs: o.metricFlushMs,
      log: o.log,
    });
  }

  /** Samples and batches this replica relayed to the others. */
  get relayed(): Readonly<MetricRelay['sent']> {
    return this.relay.sent;
  }

  async start(): Promise<void> {
    const { bus, instance } = this.o;
    this.relay.start();
    this.stops.push(() => this.relay.stop());
    this.stops.push(this.o.hub.subscribe((event) => this.outgoing(event)));
    // A lost trust.changed (core NATS, a NATS restart) must not leave a revocation unsent for long.
    const trustTimer = setInterval(() => this.refreshTrust(), TRUST_REFRESH_MS);
    trustTimer.unref?.();
    this.stops.push(() => clearInterval(trustTimer));
    this.stops.push(
      await bus.subscribe(subjects.allNodeEvents, (msg) => {
        const m = msg.json<{ origin?: string; change?: NodeChange }>();
        if (m.origin === instance || typeof m.change !== 'string') return;
        const nodeId = nodeIdOf(msg.subject);
        void this.o.registry.reload(nodeId).then(
          () => this.inject({ type: 'node', nodeId, change: m.change! }),
          (err: Error) => this.o.log.warn({ nodeId, err: err.message }, 'could not read a node another replica changed'),
        );
      }),
      await bus.subscribe(subjects.metricBatches, (msg) => this.incomingSamples(msg.data)),
      await bus.subscribe(subjects.allNodeHealth, (msg) => {
        const m = msg.json<{ origin?: string; event?: Extract<HubEvent, { type: 'health' }> }>();
        if (m.origin === instance || m.event?.type !== 'health' || typeof m.event.verdict !== 'string') return;
        const nodeId = nodeIdOf(msg.subject);
        const event = { ...m.event, nodeId };
        void this.o.health.adoptNode(nodeId).then(
          () => this.inject(event),
          (err: Error) => this.o.log.warn({ nodeId, err: err.message }, 'could not read the findings of a node another replica judged'),
        );
      }),
      await bus.subscribe(subjects.allNodeAgentEvents, (msg) => {
        const m = msg.json<{ origin?: string; record?: AgentEventRecord }>();
        if (m.origin === instance || !m.record || typeof m.record.kind !== 'string') return;
        const nodeId = nodeIdOf(msg.subject);
        const record = { ...m.record, nodeId };
        for (const r of this.o.reports) {
          if (!r.kinds.includes(record.kind)) continue;
          r.onHostReport(record).catch((err: Error) =>
            this.o.log.warn({ nodeId, kind: record.kind, err: err.message }, 'could not apply a report another replica stored'),
          );
        }
        this.inject({ type: 'agent-event', nodeId, event: record });
      }),
      await bus.subscribe(subjects.trustChanged, (msg) => {
        if (msg.json<{ origin?: string }>().origin === instance) return;
        this.refreshTrust();
      }),
      await bus.subscribe(subjects.allRunReports, (msg) => {
        const m = msg.json<{ origin?: string; record?: AgentEventRecord }>();
        if (m.origin === instance || !m.record || typeof m.record.kind !== 'string') return;
        this.o.runs.onAgentEvent({ ...m.record, nodeId: nodeIdOf(msg.subject) });
      }),
      await bus.subscribe(subjects.allNodeSessions, (msg) => {
        const m = msg.json<{ origin?: string; replica?: string; ready?: boolean }>();
        if (m.origin === instance || m.ready !== true || typeof m.origin !== 'string') return;
        const nodeId = nodeIdOf(msg.subject);
        if (typeof m.replica === 'string') this.o.owners.noteHolder(nodeId, m.replica, m.origin);
        this.o.runs.onSessionReady(nodeId);
        for (const r of this.o.reports) r.onSessionReady(nodeId);
      }),
    );
  }

  /** Another replica's batch of latest samples: kept as those nodes' latest, and told to live views here. */
  private incomingSamples(data: Uint8Array): void {
    let batch: ReturnType<typeof decodeBatch>;
    try {
      batch = decodeBatch(data);
    } catch (err) {
      if (this.refusedSamples.batches++ % 1000 === 0) this.o.log.warn({ err: (err as Error).message }, 'refused a metric batch from the bus');
      return;
    }
    if (batch.origin === this.o.instance) return;
    for (const item of batch.items) {
      const body = parseRelayedBody(item);
      if (body === null) {
        this.refusedSamples.samples++;
        continue;
      }
      this.o.metrics.noteRemote(item.nodeId, body);
      this.inject({ type: 'metrics', nodeId: item.nodeId, ts: body.ts });
    }
  }

  private refreshTrust(): void {
    this.o.trust.refresh().catch((err: Error) => this.o.log.warn({ err: err.message }, 'could not read the fleet roots and revocations again'));
  }

  private inject(event: HubEvent): void {
    this.injected.add(event);
    this.o.hub.publish(event);
  }

  private outgoing(event: HubEvent): void {
    if (this.injected.has(event)) return;
    try {
      if (event.type === 'trust') {
        this.o.bus.publish(subjects.trustChanged, { origin: this.o.instance });
      } else if (event.type === 'node' && event.local !== true) {
        this.o.bus.publish(subjects.nodeEvent(event.nodeId), { origin: this.o.instance, change: event.change });
      } else if (event.type === 'health' && this.o.othersAlive()) {
        this.o.bus.publish(subjects.nodeHealth(event.nodeId), { origin: this.o.instance, event });
      } else if (event.type === 'agent-event' && !event.event.kind.startsWith('run-') && this.o.othersAlive()) {
        this.o.bus.publish(subjects.nodeAgentEvent(event.nodeId), { origin: this.o.instance, record: event.event });
      } else if (event.type === 'metrics') {
        this.relay.note(event.nodeId);
      }
    } catch (err) {
      // A closed bus during shutdown, a body over the limit: the others catch up from the store.
      this.o.log.warn({ err: (err as Error).message, type: event.type }, 'could not pass a change on to the other replicas');
    }
  }

  /** A host's run report stored here: the replica following the run may be another one. */
  runReport(record: AgentEventRecord): void {
    if (!record.kind.startsWith('run-')) return;
    this.safePublish(subjects.runReport(record.nodeId), { origin: this.o.instance, record });
  }

  /** A host's session became ready here: replicas following runs for it deliver what waits. */
  onSessionReady(nodeId: string): void {
    this.safePublish(subjects.nodeSession(nodeId), { origin: this.o.instance, replica: this.o.replica, ready: true });
  }

  private safePublish(subject: string, data: object): void {
    try {
      this.o.bus.publish(subject, data);
    } catch (err) {
      this.o.log.warn({ err: (err as Error).message, subject }, 'could not pass a report on to the other replicas');
    }
  }

  stop(): void {
    for (const stop of this.stops.splice(0)) stop();
  }
}
