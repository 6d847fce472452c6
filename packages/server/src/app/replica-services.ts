import { randomUUID } from 'node:crypto';
import { FleetError } from '@gpufleet/protocol';
import { InProcessBus } from '../bus/in-process-bus.js';
import { NatsBus } from '../bus/nats-bus.js';
import { ReplicaDirectory } from '../replicas/replica-directory.js';
import { Leases, SoleLeases } from '../replicas/leases.js';
import { SessionOwners } from '../replicas/session-owners.js';
import { RunFollowers } from '../replicas/run-followers.js';
import { FrameRelay } from '../replicas/frame-relay.js';
import { MetricReads } from '../replicas/metric-reads.js';
import { ReplicaBridge } from '../replicas/replica-bridge.js';
import { defineService, type AnyServiceDefinition } from './service-definition.js';
import { refs } from './refs.js';

/** How often a replica renews its entry (and its sessions with it); the entry lapses after three. */
export function replicaBeatMs(heartbeatIntervalMs: number): number {
  return Math.min(2000, heartbeatIntervalMs);
}

/**
 * The replicas of one control plane (issue 13): the bus (NATS with --bus, else in-process, the
 * single-replica mode running the same code), the replica directory, leases for the singleton
 * loops, session ownership, frames relayed to the replica holding a session, and the bridge that
 * passes node changes, metric deltas and run reports between replicas.
 */
export function replicaServices(choices: { masterKey: string | null }): AnyServiceDefinition[] {
  return [
    defineService({
      provides: refs.replica,
      deps: { config: refs.config },
      init: ({ config }) => {
        // Replicas sign as one control plane: its key is sealed in the shared store with the master key.
        if (config.bus !== null && !choices.masterKey)
          throw new FleetError(
            'failed_precondition',
            'replicas (--bus) share the control plane key sealed in the store: set GPUFLEET_MASTER_KEY, the same on every replica',
          );
        return { name: config.replicaName, instance: randomUUID() };
      },
    }),
    defineService({
      provides: refs.bus,
      deps: { config: refs.config, replica: refs.replica, log: refs.log },
      init: ({ config, replica, log }) =>
        config.bus === null
          ? new InProcessBus({ log })
          : NatsBus.connect({
              servers: config.bus.split(',').map((s) => s.trim()),
              namespace: config.busNamespace,
              name: `gpufleet-${replica.name}`,
              log,
            }),
      stop: (bus) => bus.close(),
    }),
    defineService({
      provides: refs.leases,
      deps: { config: refs.config, bus: refs.bus, replica: refs.replica, log: refs.log },
      init: ({ config, bus, replica, log }) =>
        config.bus === null
          ? new SoleLeases()
          : new Leases({ bus, replica: replica.name, instance: replica.instance, ttlMs: 3 * replicaBeatMs(config.heartbeatIntervalMs), log }),
      // The first pass is awaited here: the loops that need a lease depend on this and start after.
      start: (leases) => leases.start(),
      stop: (leases) => leases.stop(),
    }),
    defineService({
      provides: refs.replicaDirectory,
      deps: {
        config: refs.config,
        bus: refs.bus,
        replica: refs.replica,
        clock: refs.clock,
        publicUrl: refs.publicUrl,
        stats: refs.stats,
        leases: refs.leases,
        log: refs.log,
      },
      init: ({ config, bus, replica, clock, publicUrl, stats, leases, log }) => {
        const directory = new ReplicaDirectory({
          bus,
          name: replica.name,
          instance: replica.instance,
          clock,
          beatMs: replicaBeatMs(config.heartbeatIntervalMs),
          url: () => publicUrl.known() ?? '',
          agents: () => stats.sessions,
          leases: () => leases.held(),
          version: SERVER_VERSION,
          log,
        });
        return directory;
      },
      start: (directory) => directory.start(),
      stop: (directory) => directory.stop(),
    }),
    defineService({
      provides: refs.sessionOwners,
      deps: { config: refs.config, bus: refs.bus, replica: refs.replica, directory: refs.replicaDirectory, clock: refs.clock, hub: refs.hub, log: refs.log },
      init: ({ config, bus, replica, directory, clock, hub, log }) =>
        new SessionOwners({
          bus,
          replica: replica.name,
          instance: replica.instance,
          directory,
          clock,
          graceMs: config.offlineAfterBeats * config.heartbeatIntervalMs,
          onChange: (nodeId) => hub.publish({ type: 'node', nodeId, change: 'status', local: true }),
          log,
        }),
      start: (owners) => owners.start(),
      stop: (owners) => owners.stop(),
    }),
    defineService({
      provides: refs.runFollowers,
      deps: { bus: refs.bus, replica: refs.replica, directory: refs.replicaDirectory },
      init: ({ bus, replica, directory }) => new RunFollowers({ bus, replica: replica.name, instance: replica.instance, directory }),
      start: (followers) => followers.start(),
    }),
    defineService({
      provides: refs.frameRelay,
      deps: { bus: refs.bus, replica: refs.replica, log: refs.log },
      init: ({ bus, replica, log }) => new FrameRelay({ bus, replica: replica.name, log }),
      stop: (relay) => relay.stop(),
    }),
    defineService({
      provides: refs.metricReads,
      deps: { bus: refs.bus, replica: refs.replica, metrics: refs.metrics, owners: refs.sessionOwners, log: refs.log },
      init: ({ bus, replica, metrics, owners, log }) => new MetricReads({ bus, replica, metrics, owners, log }),
      start: (reads) => reads.start(),
      stop: (reads) => reads.stop(),
    }),
    defineService({
      provides: refs.replicaBridge,
      deps: {
        bus: refs.bus,
        replica: refs.replica,
        hub: refs.hub,
        metrics: refs.metrics,
        registry: refs.registry,
        health: refs.health,
        runs: refs.runs,
        workloads: refs.workloads,
        rollouts: refs.rollouts,
        trust: refs.trust,
        directory: refs.replicaDirectory,
        owners: refs.sessionOwners,
        log: refs.log,
      },
      init: ({ bus, replica, hub, metrics, registry, health, runs, workloads, rollouts, trust, directory, owners, log }) =>
        new ReplicaBridge({
          bus,
          replica: replica.name,
          instance: replica.instance,
          owners,
          hub,
          metrics,
          registry,
          health,
          runs,
          trust,
          reports: [
            {
              kinds: ['alloc-state'],
              onHostReport: (record) => workloads.onHostReport(record),
              onSessionReady: (nodeId) => workloads.onSessionReady(nodeId),
            },
            {
              // Stored already by the replica that took it: the rollout loop only moves sooner.
              kinds: ['update-state'],
              onHostReport: () => rollouts.onRelayedReport(),
              onSessionReady: (nodeId) => rollouts.onSessionReady(nodeId),
            },
          ],
          othersAlive: () => directory.list().length > 1,
          log,
        }),
      start: (bridge) => bridge.start(),
      stop: (bridge) => bridge.stop(),
    }),
  ];
}

/** The server's version as replicas report it (the workspace packages share one). */
export const SERVER_VERSION = '0.1.0';
