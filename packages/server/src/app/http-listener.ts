import { hostname } from 'node:os';
import { isIP } from 'node:net';
import type { App } from '../http/app.js';
import type { ServerContext } from '../context.js';
import type { PublicUrl } from './public-url.js';
import { registerNodeRoutes } from '../routes/node-routes.js';
import { registerTokenRoutes } from '../routes/token-routes.js';
import { registerFleetRoutes } from '../routes/fleet-routes.js';
import { registerSystemRoutes } from '../routes/system-routes.js';
import { registerStreamRoutes } from '../routes/stream-routes.js';
import { registerWebRoutes } from '../routes/web-routes.js';
import { registerHeatmapRoutes } from '../routes/heatmap-routes.js';
import { registerHealthRoutes } from '../routes/health-routes.js';
import { registerAlertRoutes } from '../routes/alert-routes.js';
import { registerRunRoutes } from '../routes/run-routes.js';
import { registerJobRoutes } from '../routes/job-routes.js';
import { registerPoolRoutes } from '../routes/pool-routes.js';
import { registerPlayRoutes } from '../routes/play-routes.js';
import { registerSshHostRoutes } from '../routes/ssh-host-routes.js';
import { registerPromoteRoutes } from '../routes/promote-routes.js';
import { registerGroupRoutes } from '../routes/group-routes.js';
import { registerAllocationRoutes } from '../routes/allocation-routes.js';
import { registerWhoamiRoutes } from '../routes/whoami-routes.js';
import { registerTrustRoutes } from '../routes/trust-routes.js';
import { registerScriptRoutes } from '../routes/script-routes.js';
import { registerAuditVerifyRoutes } from '../routes/audit-verify-routes.js';
import { registerReplicaRoutes } from '../routes/replica-routes.js';
import { registerReleaseRoutes } from '../routes/release-routes.js';
import { registerTufRoutes } from '../routes/tuf-routes.js';
import { registerRolloutRoutes } from '../routes/rollout-routes.js';

/** The host name agents are told to dial when the server listens on every interface. */
export function advertisedHost(listenHost: string): string {
  return listenHost === '0.0.0.0' || listenHost === '::' ? hostname() : listenHost;
}

/**
 * The REST and WebSocket adapter: registers every route over the wired services, listens on
 * start (then the public URL is known), and on stop closes agent sessions and stops accepting.
 */
export class HttpListener {
  constructor(
    private readonly app: App,
    readonly context: ServerContext,
    private readonly publicUrl: PublicUrl,
    private readonly https: boolean,
  ) {
    const ctx = context;
    registerSystemRoutes(app, ctx);
    registerNodeRoutes(app, ctx);
    registerTokenRoutes(app, ctx);
    registerFleetRoutes(app, ctx);
    registerHeatmapRoutes(app, ctx);
    registerStreamRoutes(app, ctx);
    registerHealthRoutes(app, ctx);
    registerAlertRoutes(app, ctx);
    registerRunRoutes(app, ctx);
    registerJobRoutes(app, ctx);
    registerPoolRoutes(app, ctx);
    registerPlayRoutes(app, ctx);
    registerSshHostRoutes(app, ctx);
    registerPromoteRoutes(app, ctx);
    registerGroupRoutes(app, ctx);
    registerAllocationRoutes(app, ctx);
    registerWhoamiRoutes(app, ctx);
    registerTrustRoutes(app, ctx.trust);
    registerScriptRoutes(app, { scripts: ctx.scripts });
    registerAuditVerifyRoutes(app, { store: ctx.store, serverDid: ctx.trust.identity.did });
    registerReplicaRoutes(app, { replicas: ctx.replicas });
    registerReleaseRoutes(app, { releases: ctx.releases });
    registerTufRoutes(app, { store: ctx.store, releases: ctx.releases });
    registerRolloutRoutes(app, { rollouts: ctx.rollouts });
    registerWebRoutes(app);
  }

  async listen(): Promise<string> {
    const { config } = this.context;
    await this.app.listen({ host: config.listenHost, port: config.listenPort });
    const address = this.app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.listenPort;
    const host = advertisedHost(config.listenHost);
    const hostPart = isIP(host) === 6 ? `[${host}]` : host;
    this.publicUrl.listening(`${this.https ? 'https' : 'http'}://${hostPart}:${port}`);
    return this.publicUrl.get();
  }

  async close(): Promise<void> {
    this.context.gateway.closeAll();
    await this.app.close();
  }
}
