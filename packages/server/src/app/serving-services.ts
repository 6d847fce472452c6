import type { ServerContext } from '../context.js';
import { defineService, type AnyServiceDefinition } from './service-definition.js';
import { refs } from './refs.js';
import { HttpListener } from './http-listener.js';
import { WorkloadReads } from '../workloads/workload-reads.js';

/** The REST/WebSocket adapter over every service: the last to start, the first to stop. */
export function servingServices(startedAt: number): AnyServiceDefinition[] {
  return [
    defineService({
      provides: refs.listener,
      deps: {
        config: refs.config,
        store: refs.store,
        clock: refs.clock,
        hub: refs.hub,
        registry: refs.registry,
        views: refs.views,
        drains: refs.drains,
        apiTokens: refs.apiTokens,
        joinTokens: refs.joinTokens,
        enrollment: refs.enrollment,
        audit: refs.audit,
        gateway: refs.gateway,
        stats: refs.stats,
        metrics: refs.metrics,
        metricReads: refs.metricReads,
        health: refs.health,
        alerts: refs.alerts,
        runs: refs.runs,
        workloads: refs.workloads,
        trust: refs.trust,
        scripts: refs.scripts,
        pools: refs.pools,
        templates: refs.templates,
        plays: refs.plays,
        releases: refs.releases,
        rollouts: refs.rollouts,
        sshHosts: refs.sshHosts,
        promote: refs.promote,
        groups: refs.groups,
        tls: refs.tls,
        log: refs.log,
        http: refs.http,
        publicUrl: refs.publicUrl,
        replicas: refs.replicaStatus,
        // Started before serving, though no route reads them.
        sweep: refs.sweep,
        lastSeenFlush: refs.lastSeenFlush,
        metricsPrune: refs.metricsPrune,
        healthTick: refs.healthTick,
        eventRetention: refs.eventRetention,
        releaseRefresh: refs.releaseRefresh,
        adminBootstrap: refs.adminBootstrap,
      },
      init(d) {
        const context: ServerContext = {
          config: d.config,
          store: d.store,
          clock: d.clock,
          hub: d.hub,
          registry: d.registry,
          views: d.views,
          drains: d.drains,
          apiTokens: d.apiTokens,
          joinTokens: d.joinTokens,
          enrollment: d.enrollment,
          audit: d.audit,
          gateway: d.gateway,
          stats: d.stats,
          metrics: d.metrics,
          metricReads: d.metricReads,
          health: d.health,
          alerts: d.alerts,
          runs: d.runs,
          workloads: d.workloads,
          workloadReads: new WorkloadReads({ workloads: d.workloads, store: d.store, registry: d.registry, clock: d.clock }),
          trust: d.trust,
          scripts: d.scripts,
          pools: d.pools,
          templates: d.templates,
          plays: d.plays,
          releases: d.releases,
          rollouts: d.rollouts,
          sshHosts: d.sshHosts,
          promote: d.promote,
          groups: d.groups,
          caPem: d.tls?.caPem ?? null,
          log: d.log,
          replicas: d.replicas,
          startedAt,
        };
        return new HttpListener(d.http, context, d.publicUrl, d.tls !== null);
      },
      async start(listener) {
        await listener.listen();
      },
      stop: (listener) => listener.close(),
    }),
  ];
}
