import { buildApp, type App } from '../../http/app.js';
import { resolveServerConfig } from '../../config/server-config.js';
import { ApiTokenService } from '../../auth/api-tokens.js';
import { AuditLog } from '../../services/audit-log.js';
import { GatewayStats } from '../../gateway/gateway-stats.js';
import { MetricStore } from '../../metrics/metric-store.js';
import { registerRunRoutes } from '../../routes/run-routes.js';
import { T0, type RunKit } from './run-kit.js';

export interface RunRoutesApp {
  app: App;
  /** http://127.0.0.1:<port>, for clients that need a real socket (SSE). */
  url: string;
  /** One API token per role. */
  tokens: Record<'admin' | 'operator' | 'viewer', string>;
  close(): Promise<void>;
}

/**
 * The real app (auth, validation, error mapping, audit hook) with only the run routes, over a
 * RunKit's service, listening on a free loopback port. Parts the run routes never touch are absent.
 */
export async function serveRunRoutes(kit: RunKit): Promise<RunRoutesApp> {
  const config = resolveServerConfig({ flags: { logLevel: 'silent' } });
  const apiTokens = new ApiTokenService(kit.store, kit.clock);
  const tokens = { admin: '', operator: '', viewer: '' };
  for (const role of ['admin', 'operator', 'viewer'] as const) tokens[role] = (await apiTokens.create(role, role)).token;
  const audit = new AuditLog(kit.store, kit.clock);
  const base = {
    config,
    store: kit.store,
    clock: kit.clock,
    hub: kit.hub,
    apiTokens,
    audit,
    stats: new GatewayStats(),
    metrics: new MetricStore(),
    caPem: null,
    startedAt: T0,
  };
  const app = await buildApp(base as never, { logger: false });
  registerRunRoutes(app, { runs: kit.service, audit, hub: kit.hub });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return { app, url, tokens, close: () => app.close() };
}
