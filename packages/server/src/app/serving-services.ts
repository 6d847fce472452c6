import type { ServerContext } from '../context.js';
import { defineService, type AnyServiceDefinition } from './service-definition.js';
import { refs } from './refs.js';
import { HttpListener } from './http-listener.js';

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
        health: refs.health,
        alerts: refs.alerts,
        runs: refs.runs,
        trust: refs.trust,
        scripts: refs.scripts,
        tls: refs.tls,
        log: refs.log,
        http: refs.http,
        publicUrl: refs.publicUrl,
        // Started before serving, though no route reads them.
        sweep: refs.sweep,
        lastSeenFlush: refs.lastSeenFlush,
        metricsPrune: refs.metricsPrune,
        healthTick: refs.healthTick,
        eventRetention: refs.eventRetention,
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
          health: d.health,
          alerts: d.alerts,
          runs: d.runs,
          trust: d.trust,
          scripts: d.scripts,
          caPem: d.tls?.caPem ?? null,
          log: d.log,
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
