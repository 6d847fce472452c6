import { NodeRegistry } from '../services/node-registry.js';
import { NodeViews } from '../services/node-views.js';
import { NodeDrains } from '../services/node-drains.js';
import { JoinTokenService } from '../services/join-tokens.js';
import { EnrollmentService } from '../services/enrollment.js';
import { ScriptLibrary } from '../scripts/script-library.js';
import { AgentSessions } from '../gateway/agent-sessions.js';
import { AgentGateway } from '../gateway/agent-gateway.js';
import { EventWriter } from '../gateway/event-writer.js';
import { GatewayStats } from '../gateway/gateway-stats.js';
import { RunService } from '../runs/run-service.js';
import { WorkloadService } from '../workloads/workload-service.js';
import { NoticeLedger } from '../alerts/notice-ledger.js';
import { ReplicaStatus } from '../replicas/replica-status.js';
import { AlertEngine } from '../alerts/index.js';
import { policyAlertPlan } from '../alerts/policy-alert-rules.js';
import { createHealth } from '../health/index.js';
import { defineService, type AnyServiceDefinition } from './service-definition.js';
import { refs } from './refs.js';
import { MetricsIngest } from './metrics-ingest.js';
import { AgentEventRouter } from './agent-event-router.js';
import { Interval } from './interval.js';
import { EventRetention } from '../events/event-retention.js';
import type { FrameRelay } from '../replicas/frame-relay.js';

/**
 * The fleet: nodes and their states, runs and drains, health and alerts, the agent gateway and
 * the pipelines between them, and the timers. Each service names what it needs; nothing is
 * attached after construction.
 */
/** The relay each session table starts with (the table is built first: the relay delivers into it). */
const sessionsRelay = new WeakMap<AgentSessions, FrameRelay>();

export function fleetServices(): AnyServiceDefinition[] {
  return [
    defineService({
      provides: refs.registry,
      deps: { config: refs.config, store: refs.store, clock: refs.clock, hub: refs.hub, metrics: refs.metrics, owners: refs.sessionOwners },
      async init({ config, store, clock, hub, metrics, owners }) {
        const registry = new NodeRegistry({
          store,
          clock,
          hub,
          remoteSessions: owners,
          offlineAfterMs: config.offlineAfterBeats * config.heartbeatIntervalMs,
          latestMetrics: (id) => metrics.latest(id) ?? null,
          drainTimeoutMs: config.drainTimeoutMs,
        });
        await registry.load();
        return registry;
      },
    }),
    defineService({
      provides: refs.joinTokens,
      deps: { store: refs.store, clock: refs.clock, tls: refs.tls, trust: refs.trust, publicUrl: refs.publicUrl },
      init: ({ store, clock, tls, trust, publicUrl }) =>
        new JoinTokenService({ store, clock, serverUrl: () => publicUrl.get(), caFingerprint: tls?.caFingerprint ?? null, roots: () => trust.currentRoots() }),
    }),
    defineService({
      provides: refs.enrollment,
      deps: { config: refs.config, registry: refs.registry, joinTokens: refs.joinTokens, audit: refs.audit, clock: refs.clock },
      init: ({ config, registry, joinTokens, audit, clock }) => new EnrollmentService(registry, joinTokens, audit, clock, config.heartbeatIntervalMs),
    }),
    defineService({
      provides: refs.scripts,
      deps: { store: refs.store, clock: refs.clock, trust: refs.trust },
      init: ({ store, clock, trust }) => new ScriptLibrary({ store, clock, authorityOf: (did, ability) => trust.capabilities.authorityOf(did, ability) }),
    }),
    defineService({ provides: refs.stats, deps: {}, init: () => new GatewayStats() }),
    defineService({
      provides: refs.sessions,
      deps: { stats: refs.stats, trust: refs.trust, owners: refs.sessionOwners, relay: refs.frameRelay },
      init({ stats, trust, owners, relay }) {
        const sessions = new AgentSessions(owners, relay, (n) => (stats.sessions = n));
        sessionsRelay.set(sessions, relay);
        // Trust distribution sends through the session table, which exists before any session.
        trust.attachGateway(sessions);
        return sessions;
      },
      // Frames other replicas relay for the sessions held here.
      start: (sessions) => sessionsRelay.get(sessions)?.start((nodeId, text) => sessions.deliverLocal(nodeId, text)),
      stop: (sessions) => sessions.closeAll(),
    }),
    defineService({ provides: refs.eventWriter, deps: { store: refs.store }, init: ({ store }) => new EventWriter(store), stop: (w) => w.close() }),
    defineService({
      provides: refs.runs,
      deps: {
        store: refs.store,
        registry: refs.registry,
        sessions: refs.sessions,
        hub: refs.hub,
        clock: refs.clock,
        log: refs.log,
        scripts: refs.scripts,
        claims: refs.runFollowers,
      },
      async init({ store, registry, sessions, hub, clock, log, scripts, claims }) {
        const runs = new RunService({ store, registry, gateway: sessions, hub, clock, log, scriptLookup: scripts.lookup, claims });
        await runs.load();
        return runs;
      },
      start: (runs) => runs.start(),
      stop: (runs) => runs.stop(),
    }),
    defineService({
      provides: refs.workloads,
      deps: {
        store: refs.store,
        registry: refs.registry,
        sessions: refs.sessions,
        hub: refs.hub,
        clock: refs.clock,
        log: refs.log,
        trust: refs.trust,
        leases: refs.leases,
      },
      async init({ store, registry, sessions, hub, clock, log, trust, leases }) {
        const workloads = new WorkloadService({
          lease: leases.role('scheduler'),
          store,
          registry,
          sessions,
          hub,
          clock,
          log,
          trust: { currentRoots: () => trust.currentRoots(), isRevoked: (capId, did) => trust.capabilities.isRevoked(capId, did) },
        });
        await workloads.load();
        return workloads;
      },
      start: (workloads) => workloads.start(),
      stop: (workloads) => workloads.stop(),
    }),
    defineService({
      provides: refs.drains,
      deps: { registry: refs.registry, runs: refs.runs, workloads: refs.workloads, clock: refs.clock, hub: refs.hub, log: refs.log },
      init: ({ registry, runs, workloads, clock, hub, log }) => new NodeDrains({ states: registry.states, runningWork: [runs, workloads], clock, hub, log }),
      start: (drains) => drains.start(),
      stop: (drains) => drains.stop(),
    }),
    defineService({
      provides: refs.replicaStatus,
      deps: {
        directory: refs.replicaDirectory,
        owners: refs.sessionOwners,
        leases: refs.leases,
        relay: refs.frameRelay,
        bridge: refs.replicaBridge,
        sessions: refs.sessions,
      },
      init: ({ directory, owners, leases, relay, bridge, sessions }) =>
        new ReplicaStatus({ directory, owners, leases, relay, samples: bridge, heldHere: (nodeId) => sessions.hasSession(nodeId) }),
    }),
    defineService({
      provides: refs.alertLeadership,
      deps: { bus: refs.bus, leases: refs.leases, log: refs.log },
      init: ({ bus, leases, log }) => new NoticeLedger({ bus, lease: leases.role('alerts'), log }),
      start: (ledger) => ledger.start(),
      stop: (ledger) => ledger.stop(),
    }),
    defineService({
      provides: refs.alerts,
      deps: {
        leadership: refs.alertLeadership,
        rules: refs.alertRules,
        policy: refs.healthPolicy,
        registry: refs.registry,
        metrics: refs.metrics,
        clock: refs.clock,
        hub: refs.hub,
        store: refs.store,
        log: refs.log,
        publicUrl: refs.publicUrl,
      },
      async init({ leadership, rules, policy, registry, metrics, clock, hub, store, log, publicUrl }) {
        const plan = policyAlertPlan(policy, rules);
        const alerts = new AlertEngine({
          leadership,
          rules,
          policyRules: plan.own,
          quietPolicyRules: plan.quiet,
          fleet: registry,
          latestMetrics: (id) => metrics.latest(id),
          clock,
          hub,
          settings: store,
          log,
          externalUrl: () => publicUrl.known() ?? '',
        });
        await alerts.load();
        return alerts;
      },
      start: (alerts) => alerts.start(),
      stop: (alerts) => alerts.stop(),
    }),
    defineService({
      provides: refs.health,
      deps: {
        config: refs.config,
        policy: refs.healthPolicy,
        store: refs.store,
        registry: refs.registry,
        clock: refs.clock,
        hub: refs.hub,
        log: refs.log,
        alerts: refs.alerts,
      },
      async init({ config, policy, store, registry, clock, hub, log, alerts }) {
        const health = await createHealth({ config, policy, store, registry, clock, hub, log, onAlert: (alert) => alerts.onPolicyAlert(alert) });
        // Alert instances live in memory: findings read back after a restart fire again.
        for (const alert of health.activeAlerts()) alerts.onPolicyAlert(alert);
        return health;
      },
      stop: (health) => health.flush(),
    }),
    defineService({
      provides: refs.views,
      deps: { registry: refs.registry, health: refs.health, metrics: refs.metrics, workloads: refs.workloads },
      init: ({ registry, health, metrics, workloads }) =>
        new NodeViews({ registry, states: registry.states, health, latestMetrics: (id) => metrics.latest(id) ?? null, allocations: workloads }),
    }),
    defineService({
      provides: refs.metricsIngest,
      deps: { metrics: refs.metrics, health: refs.health, hub: refs.hub },
      init: ({ metrics, health, hub }) => new MetricsIngest({ store: metrics, health, hub }),
    }),
    defineService({
      provides: refs.eventRouter,
      deps: {
        events: refs.eventWriter,
        health: refs.health,
        runs: refs.runs,
        workloads: refs.workloads,
        rollouts: refs.rollouts,
        hub: refs.hub,
        bridge: refs.replicaBridge,
      },
      init: ({ events, health, runs, workloads, rollouts, hub, bridge }) =>
        new AgentEventRouter({ events, health, runs, workloads, rollouts, hub, replicas: bridge }),
    }),
    defineService({
      provides: refs.gateway,
      deps: {
        config: refs.config,
        registry: refs.registry,
        sessions: refs.sessions,
        router: refs.eventRouter,
        ingest: refs.metricsIngest,
        trust: refs.trust,
        runs: refs.runs,
        workloads: refs.workloads,
        stats: refs.stats,
        clock: refs.clock,
        log: refs.log,
        bridge: refs.replicaBridge,
        directory: refs.replicaDirectory,
        health: refs.health,
        rollouts: refs.rollouts,
      },
      init: ({ config, registry, sessions, router, ingest, trust, runs, workloads, stats, clock, log, bridge, directory, health, rollouts }) =>
        new AgentGateway({
          registry,
          sessions,
          events: router,
          metrics: ingest,
          // Trust material first, then commands that waited for this host to come back, then its
          // allocations, then the other replicas, whose runs may wait for this host too; last its
          // health state, rebuilt from the store (it may have been judged on another replica).
          // Rollouts last of the frames: an update waiting for this host goes out after its work.
          sessionReady: [trust, runs, workloads, rollouts, bridge, { onSessionReady: (nodeId) => void health.adoptNode(nodeId) }],
          stats,
          clock,
          heartbeatMs: config.heartbeatIntervalMs,
          metricsIntervalMs: config.metricsIntervalMs,
          serverUrls: () => directory.urls(),
          log,
        }),
      stop: (gateway) => gateway.closeAll(),
    }),
    ...timers(),
  ];
}

/** The periodic work, each its own service so it starts after and stops before what it uses. */
function timers(): AnyServiceDefinition[] {
  return [
    defineService({
      provides: refs.sweep,
      deps: { config: refs.config, registry: refs.registry, sessions: refs.sessions, log: refs.log },
      init: ({ config, registry, sessions, log }) =>
        new Interval({
          name: 'offline sweep',
          everyMs: Math.min(1000, config.heartbeatIntervalMs),
          work: () => void registry.sweep((id) => sessions.hasSession(id)),
          log,
        }),
      start: (t) => t.start(),
      stop: (t) => t.stop(),
    }),
    defineService({
      provides: refs.lastSeenFlush,
      deps: { registry: refs.registry, log: refs.log },
      init: ({ registry, log }) =>
        new Interval({
          name: 'last-seen flush',
          everyMs: 5000,
          work: () => registry.flushLastSeen(),
          last: () => registry.flushLastSeen().catch(() => undefined),
          log,
        }),
      start: (t) => t.start(),
      stop: (t) => t.stop(),
    }),
    defineService({
      provides: refs.metricsPrune,
      deps: { metrics: refs.metrics, clock: refs.clock, log: refs.log },
      init: ({ metrics, clock, log }) => new Interval({ name: 'metrics prune', everyMs: 60_000, work: () => void metrics.prune(clock.now()), log }),
      start: (t) => t.start(),
      stop: (t) => t.stop(),
    }),
    defineService({
      // Recoveries (recover.after) and count-window hygiene; drains end in node-drains.
      provides: refs.healthTick,
      deps: { health: refs.health, log: refs.log },
      init: ({ health, log }) => new Interval({ name: 'health tick', everyMs: 1000, work: () => health.tick(), log }),
      start: (t) => t.start(),
      stop: (t) => t.stop(),
    }),
    defineService({
      // agent_events by age and per node (events/event-retention.ts); stops after its current chunk.
      provides: refs.eventRetention,
      deps: { config: refs.config, store: refs.store, clock: refs.clock, leases: refs.leases, log: refs.log },
      init: ({ config, store, clock, leases, log }) =>
        new EventRetention({ store, clock, log, lease: leases.role('retention'), retentionMs: config.eventsRetentionMs, maxPerNode: config.eventsPerNode }),
      start: (r) => r.start(),
      stop: (r) => r.stop(),
    }),
  ];
}
