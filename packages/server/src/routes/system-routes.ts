import type { App } from '../http/app.js';
import type { ServerContext } from '../context.js';
import { Readable } from 'node:stream';
import { renderPrometheusChunks } from '../metrics/prometheus.js';
import { acceptsGzip, gzipStream } from '../metrics/scrape-encoding.js';
import { renderAlertSeries } from '../alerts/alert-series.js';
import { renderHealthSeries } from '../health/index.js';

export function registerSystemRoutes(app: App, ctx: ServerContext): void {
  app.get('/healthz', { config: { auth: 'public' }, schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { config: { auth: 'public' }, schema: { hide: true } }, async (_req, reply) => {
    try {
      await ctx.store.getSetting('ready-probe');
      return { status: 'ready', nodes: ctx.registry.size, sessions: ctx.gateway.sessionCount };
    } catch {
      return reply.status(503).send({ error: { code: 'unavailable', message: 'the store does not answer' } });
    }
  });
  app.get('/openapi.json', { config: { auth: 'public' }, schema: { hide: true } }, async () => app.swagger());
  // Public on purpose: agents fetch it once and compare its SHA-256 with the join token's.
  app.get('/v1/ca.pem', { config: { auth: 'public' }, schema: { hide: true } }, async (_req, reply) => {
    if (!ctx.caPem) return reply.status(404).send({ error: { code: 'not_found', message: 'this server uses plain HTTP on loopback and has no CA' } });
    return reply.type('application/x-pem-file').send(ctx.caPem);
  });

  app.get('/metrics', { config: { auth: 'viewer' }, schema: { hide: true } }, async (req, reply) => {
    // With several replicas each node is in the /metrics of exactly one (replica-status.ts).
    // Decided once per scrape: at 100,000 nodes each walk over the registry is tens of milliseconds.
    const exported = ctx.registry.all().filter((n) => n.adminState !== 'decommissioned' && ctx.replicas.exportsNode(n.id));
    const nodes = exported.map((n) => ({
      id: n.id,
      hostname: n.hostname,
      status: ctx.registry.status(n),
      labels: ctx.registry.labelsOf(n.id),
      gpus: n.gpus,
      latest: ctx.metrics.latest(n.id),
      connected: ctx.gateway.hasSession(n.id),
    }));
    // Streamed in chunks: at 10,000 nodes the text is ~240 MB and must not block the loop at once.
    // DCGM_FI_DEV_XID_ERRORS: the last XID of each GPU, as the health engine saw it.
    const input = { nodes, server: ctx.stats, now: ctx.clock.now(), metricStore: ctx.metrics.stats(), lastXid: ctx.health.lastXid.map };
    const body = Readable.from(
      (function* () {
        yield* renderPrometheusChunks(input);
        yield* renderHealthSeries({
          nodes: exported,
          gpuHealth: (n, k, s) => ctx.health.gpuHealth(n, k, s),
          eventCounts: ctx.health.counts.entries(),
        });
        // Every replica evaluates the alerts; the one that sends them exports them.
        if (ctx.replicas.exportsAlerts()) yield renderAlertSeries(ctx.alerts);
        yield ctx.replicas.series();
      })(),
    );
    reply.type('text/plain; version=0.0.4; charset=utf-8').header('vary', 'Accept-Encoding');
    // Prometheus asks for gzip; a large fleet's text shrinks about tenfold.
    if (acceptsGzip(req.headers['accept-encoding'])) return reply.header('content-encoding', 'gzip').send(gzipStream(body));
    return reply.send(body);
  });

  app.get('/v1/agent', { config: { auth: 'public' }, websocket: true, schema: { hide: true } }, (socket) => {
    ctx.gateway.accept(socket);
  });
}
