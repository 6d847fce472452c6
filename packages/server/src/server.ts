import { mkdirSync, writeFileSync, chmodSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { isIP } from 'node:net';
import type { CreateJoinTokenRequest } from '@gpufleet/protocol';
import { isLoopbackHost, type ServerConfig } from './config/server-config.js';
import { systemClock, type Clock } from './clock.js';
import { openStore } from './store/open-store.js';
import type { Store } from './store/store.js';
import { ensureServerTls } from './tls/index.js';
import { MetricStore } from './metrics/metric-store.js';
import { EventHub } from './events/event-hub.js';
import { NodeRegistry } from './services/node-registry.js';
import { ApiTokenService } from './auth/api-tokens.js';
import { JoinTokenService } from './services/join-tokens.js';
import { EnrollmentService } from './services/enrollment.js';
import { AuditLog } from './services/audit-log.js';
import { AgentGateway } from './gateway/agent-gateway.js';
import { EventWriter } from './gateway/event-writer.js';
import { GatewayStats } from './gateway/gateway-stats.js';
import { buildApp } from './http/app.js';
import type { ServerContext } from './context.js';
import { registerNodeRoutes } from './routes/node-routes.js';
import { registerTokenRoutes } from './routes/token-routes.js';
import { registerFleetRoutes } from './routes/fleet-routes.js';
import { registerSystemRoutes } from './routes/system-routes.js';
import { registerStreamRoutes } from './routes/stream-routes.js';
import { registerWebRoutes } from './routes/web-routes.js';
import { registerHeatmapRoutes } from './routes/heatmap-routes.js';
import { registerHealthRoutes } from './routes/health-routes.js';
import { createHealth, loadHealthPolicy } from './health/index.js';
import { AlertEngine, loadAlertRules } from './alerts/index.js';
import { registerAlertRoutes } from './routes/alert-routes.js';
import { RunService } from './runs/run-service.js';
import { registerRunRoutes } from './routes/run-routes.js';
import { registerWhoamiRoutes } from './routes/whoami-routes.js';
import { createTrust } from './trust/index.js';
import { ScriptLibrary } from './scripts/script-library.js';
import { registerTrustRoutes } from './routes/trust-routes.js';
import { registerScriptRoutes } from './routes/script-routes.js';
import { registerAuditVerifyRoutes } from './routes/audit-verify-routes.js';
import { AuditCheckpointer } from './audit/audit-checkpointer.js';

export type Lifecycle = 'starting' | 'running' | 'draining' | 'stopped';

export interface RunningServer {
  /** Base URL agents and CLIs use (the public URL when configured). */
  url: string;
  /** The admin token, only on the very first start (it is also in adminTokenFile). */
  adminToken: string | null;
  adminTokenFile: string;
  caFingerprint: string | null;
  state(): Lifecycle;
  createJoinToken(req: CreateJoinTokenRequest): Promise<{ token: string }>;
  /** The wired services, for tests and benchmarks. */
  context: ServerContext;
  stop(): Promise<void>;
}

export interface StartOptions {
  clock?: Clock;
  /** Store to use instead of opening one from the config (contract tests, benchmarks). */
  store?: Store;
  /** false silences the log (tests). */
  logger?: boolean;
  /** Seals the control plane key at rest; default: GPUFLEET_MASTER_KEY from the environment. */
  masterKey?: string;
}

const ADMIN_CREATED = 'bootstrap.admin-token-created';

/** The composition root: wires store, clock, logger and services, then listens. */
export async function startServer(config: ServerConfig, opts: StartOptions = {}): Promise<RunningServer> {
  let lifecycle: Lifecycle = 'starting';
  const clock = opts.clock ?? systemClock;
  // Policy files are read first: a bad one stops start-up before anything is opened.
  const alertRules = loadAlertRules(config.alertRules);
  const healthPolicy = loadHealthPolicy(config.healthPolicy);
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const store = opts.store ?? (await openStore({ database: config.database, dataDir: config.dataDir }));
  await store.migrate();

  const needTls = config.tlsCert !== null || !isLoopbackHost(config.listenHost);
  const advertisedHost = config.listenHost === '0.0.0.0' || config.listenHost === '::' ? hostname() : config.listenHost;
  const tls = needTls
    ? await ensureServerTls({
        dataDir: config.dataDir,
        hostnames: [advertisedHost, hostname()].filter((h) => !isIP(h)),
        ips: [config.listenHost, advertisedHost].filter((h) => isIP(h) && h !== '0.0.0.0' && h !== '::'),
        ...(config.tlsCert ? { certFile: config.tlsCert, keyFile: config.tlsKey! } : {}),
      })
    : null;

  let url = '';
  const hub = new EventHub();
  const metrics = new MetricStore({ retentionMs: config.metricsRetentionMs, intervalMs: config.metricsIntervalMs });
  const registry = new NodeRegistry({ store, clock, hub, offlineAfterMs: config.offlineAfterBeats * config.heartbeatIntervalMs, latestMetrics: (id) => metrics.latest(id) ?? null, drainTimeoutMs: config.drainTimeoutMs });
  await registry.load();
  const health = await createHealth({ config, policy: healthPolicy, store, registry, clock, hub, log: { warn: (obj, msg) => app.log.warn(obj, msg) } });
  const audit = new AuditLog(store, clock);
  const apiTokens = new ApiTokenService(store, clock);
  const joinTokens = new JoinTokenService({ store, clock, serverUrl: () => url, caFingerprint: tls?.caFingerprint ?? null, roots: () => trust.currentRoots() });
  const enrollment = new EnrollmentService(registry, joinTokens, audit, clock, config.heartbeatIntervalMs);
  const stats = new GatewayStats();
  const events = new EventWriter(store);

  const app = await buildApp(
    { config, store, clock, hub, registry, apiTokens, joinTokens, enrollment, audit, gateway: null as never, alerts: null as never, runs: null as never, trust: null as never, scripts: null as never, stats, metrics, health, caPem: tls?.caPem ?? null, startedAt: clock.now() },
    { logger: opts.logger === false || config.logLevel === 'silent' ? false : { level: config.logLevel }, ...(tls ? { https: { key: tls.keyPem, cert: tls.certPem } } : {}) },
  );
  // After buildApp: loading the control plane key may warn through app.log. Join tokens read the roots only once serving.
  const trust = await createTrust({ store, clock, audit, dataDir: config.dataDir, masterKey: opts.masterKey ?? process.env.GPUFLEET_MASTER_KEY, log: app.log });
  // The chain is checked and its head signed before anything new is appended.
  const checkpointer = new AuditCheckpointer({ store, clock, signer: trust.identity.signer(), log: app.log });
  await checkpointer.start();
  audit.onAppended(() => checkpointer.notify());
  const scripts = new ScriptLibrary({ store, clock, audit, authorityOf: (did, ability) => trust.capabilities.authorityOf(did, ability) });
  const gateway = new AgentGateway({
    registry,
    events,
    stats,
    clock,
    heartbeatMs: config.heartbeatIntervalMs,
    metricsIntervalMs: config.metricsIntervalMs,
    ingestMetrics: (nodeId, body) => {
      metrics.ingest(nodeId, body);
      health.onMetrics(nodeId, body);
      hub.publish({ type: 'metrics', nodeId, ts: body.ts });
    },
    onEventStored: (event) => {
      health.onAgentEvent(event);
      runs.onAgentEvent(event);
      hub.publish({ type: 'agent-event', nodeId: event.nodeId, event });
    },
    // Trust material first, then commands that waited for this host to come back.
    onSessionReady: (nodeId) => {
      trust.onSessionReady(nodeId);
      runs.onSessionReady(nodeId);
    },
    log: app.log,
  });
  trust.attachGateway(gateway);
  const runs = new RunService({ store, registry, gateway, hub, clock, log: app.log, scriptLookup: scripts.lookup });
  await runs.load();
  const alerts = new AlertEngine({ rules: alertRules, fleet: registry, latestMetrics: (id) => metrics.latest(id), clock, hub, settings: store, log: app.log, externalUrl: () => url });
  await alerts.load();
  const ctx: ServerContext = { config, store, clock, hub, registry, apiTokens, joinTokens, enrollment, audit, gateway, alerts, runs, trust, scripts, stats, metrics, health, caPem: tls?.caPem ?? null, log: app.log, startedAt: clock.now() };
  registerSystemRoutes(app, ctx);
  registerNodeRoutes(app, ctx);
  registerTokenRoutes(app, ctx);
  registerFleetRoutes(app, ctx);
  registerHeatmapRoutes(app, ctx);
  registerStreamRoutes(app, ctx);
  registerHealthRoutes(app, ctx);
  registerAlertRoutes(app, ctx);
  registerRunRoutes(app, ctx);
  registerWhoamiRoutes(app, ctx);
  registerTrustRoutes(app, trust);
  registerScriptRoutes(app, { scripts });
  registerAuditVerifyRoutes(app, { store, serverDid: trust.identity.did });
  registerWebRoutes(app);

  await app.listen({ host: config.listenHost, port: config.listenPort });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.listenPort;
  const hostPart = isIP(advertisedHost) === 6 ? `[${advertisedHost}]` : advertisedHost;
  url = config.publicUrl ?? `${tls ? 'https' : 'http'}://${hostPart}:${port}`;

  // First start: an admin token, shown once and kept 0600 in the data dir for the local CLI.
  const adminTokenFile = join(config.dataDir, 'admin-token');
  let adminToken: string | null = null;
  if ((await store.getSetting(ADMIN_CREATED)) === undefined) {
    adminToken = (await apiTokens.create('bootstrap-admin', 'admin')).token;
    writeFileSync(adminTokenFile, `${adminToken}\n`, { mode: 0o600 });
    chmodSync(adminTokenFile, 0o600);
    await store.setSetting(ADMIN_CREATED, new Date(clock.now()).toISOString());
    await audit.record({ actor: 'system', action: 'api-token.bootstrap', target: null, result: 'ok', details: { file: adminTokenFile } });
  }

  const sweepTimer = setInterval(() => registry.sweep((id) => gateway.hasSession(id)), Math.min(1000, config.heartbeatIntervalMs));
  const flushTimer = setInterval(() => void registry.flushLastSeen().catch((err) => app.log.warn({ err }, 'last-seen flush failed')), 5000);
  const pruneTimer = setInterval(() => metrics.prune(clock.now()), 60_000);
  // Recoveries (recover.after) and drains ending (running work gone or drain timeout).
  const healthTimer = setInterval(() => {
    health.tick();
    void registry.states.tick().catch((err) => app.log.warn({ err }, 'drain check failed'));
  }, 1000);
  alerts.start();
  runs.start();
  lifecycle = 'running';
  app.log.info({ url, nodes: registry.size, store: store.kind, tls: Boolean(tls) }, 'gpufleet control plane running');

  return {
    url,
    adminToken,
    adminTokenFile,
    caFingerprint: tls?.caFingerprint ?? null,
    state: () => lifecycle,
    context: ctx,
    createJoinToken: async (req) => ({ token: (await joinTokens.create(req, 'local')).token }),
    async stop() {
      if (lifecycle === 'draining' || lifecycle === 'stopped') return;
      lifecycle = 'draining';
      clearInterval(sweepTimer);
      clearInterval(flushTimer);
      clearInterval(pruneTimer);
      clearInterval(healthTimer);
      gateway.closeAll();
      await alerts.stop();
      await app.close();
      await events.close();
      await runs.stop();
      await health.flush();
      await checkpointer.close();
      await registry.flushLastSeen().catch(() => undefined);
      if (!opts.store) await store.close();
      lifecycle = 'stopped';
    },
  };
}
