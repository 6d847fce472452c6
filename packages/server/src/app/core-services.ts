import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { isLoopbackHost } from '../config/server-config.js';
import { openStore } from '../store/open-store.js';
import type { Store } from '../store/store.js';
import { securePrivateDir, SERVER_PRIVATE_FILES } from '../store/private-data-dir.js';
import { ensureServerTls } from '../tls/index.js';
import { EventHub } from '../events/event-hub.js';
import { MetricStore } from '../metrics/metric-store.js';
import { AuditLog } from '../services/audit-log.js';
import { ApiTokenService } from '../auth/api-tokens.js';
import { buildApp } from '../http/app.js';
import { createTrust } from '../trust/index.js';
import { masterKeysFrom } from '../trust/master-keys.js';
import { resealAll } from '../trust/sealed-records.js';
import { AuditCheckpointer } from '../audit/audit-checkpointer.js';
import { defineService, type AnyServiceDefinition } from './service-definition.js';
import { refs } from './refs.js';
import { PublicUrl } from './public-url.js';
import { AdminBootstrap } from './admin-bootstrap.js';
import { advertisedHost } from './http-listener.js';

/** How the caller wants the foundations built (server.ts StartOptions). */
export interface CoreChoices {
  /** A store to use instead of opening one (contract tests, benchmarks); the caller closes it. */
  store?: Store;
  /** false silences the log. */
  logger: boolean;
  /** GPUFLEET_MASTER_KEY (or StartOptions.masterKey): the control plane key and the shared TLS CA are sealed with it. */
  masterKey: string | undefined;
  /** GPUFLEET_MASTER_KEY_VERSION and GPUFLEET_MASTER_KEY_PREVIOUS come from here. */
  env: Record<string, string | undefined>;
}

/** The foundations: store, TLS, hub, metrics rings, audit, API tokens, HTTP app and log, trust, the audit checkpoint, the first admin token. */
export function coreServices(choices: CoreChoices): AnyServiceDefinition[] {
  // Read once, before anything is opened: a rotation set up wrong stops the start here.
  const keys = masterKeysFrom(choices.env, choices.masterKey ?? null);
  return [
    // A data dir others can write is refused here, before a key, token or database lands in it.
    defineService({ provides: refs.dataDir, deps: { config: refs.config }, init: ({ config }) => securePrivateDir(config.dataDir, SERVER_PRIVATE_FILES) }),
    defineService({
      provides: refs.store,
      // dataDir: only for the order (the folder is private before the database is opened in it).
      deps: { config: refs.config, dataDir: refs.dataDir },
      async init({ config }) {
        const store = choices.store ?? (await openStore({ database: config.database, dataDir: config.dataDir }));
        await store.migrate();
        return store;
      },
      // A store the caller gave stays open: it is theirs.
      stop: (store) => (choices.store ? undefined : store.close()),
    }),
    defineService({
      provides: refs.tls,
      // dataDir: only for the order (the serving key is written inside it). The store: the CA is
      // sealed there with the master key, so that every replica serves under one CA.
      deps: { config: refs.config, dataDir: refs.dataDir, store: refs.store },
      init({ config, store }) {
        if (config.tlsCert === null && isLoopbackHost(config.listenHost)) return null;
        const host = advertisedHost(config.listenHost);
        return ensureServerTls({
          dataDir: config.dataDir,
          hostnames: [host, hostname()].filter((h) => !isIP(h)),
          ips: [config.listenHost, host].filter((h) => isIP(h) && h !== '0.0.0.0' && h !== '::'),
          sharing: { store, keys, replicated: config.bus !== null },
          ...(config.tlsCert ? { certFile: config.tlsCert, keyFile: config.tlsKey! } : {}),
        });
      },
    }),
    defineService({ provides: refs.publicUrl, deps: { config: refs.config }, init: ({ config }) => new PublicUrl(config.publicUrl) }),
    defineService({ provides: refs.hub, deps: {}, init: () => new EventHub() }),
    defineService({
      provides: refs.metrics,
      deps: { config: refs.config },
      init: ({ config }) => new MetricStore({ retentionMs: config.metricsRetentionMs, intervalMs: config.metricsIntervalMs }),
    }),
    defineService({ provides: refs.audit, deps: { store: refs.store, clock: refs.clock }, init: ({ store, clock }) => new AuditLog(store, clock) }),
    defineService({ provides: refs.apiTokens, deps: { store: refs.store, clock: refs.clock }, init: ({ store, clock }) => new ApiTokenService(store, clock) }),
    defineService({
      provides: refs.http,
      deps: { config: refs.config, apiTokens: refs.apiTokens, audit: refs.audit, tls: refs.tls },
      init: ({ config, apiTokens, audit, tls }) =>
        buildApp(
          { config, apiTokens, audit },
          {
            logger: !choices.logger || config.logLevel === 'silent' ? false : { level: config.logLevel },
            ...(tls ? { https: { key: tls.keyPem, cert: tls.certPem } } : {}),
          },
        ),
    }),
    defineService({
      provides: refs.log,
      deps: { http: refs.http, dataDir: refs.dataDir, tls: refs.tls },
      init({ http, dataDir, tls }) {
        // The data dir and the TLS material were settled before a logger existed: what they found is said now.
        for (const warning of dataDir.warnings) http.log.warn(warning);
        for (const fixed of dataDir.fixed) http.log.warn(`made private: ${fixed}`);
        for (const notice of tls?.notices ?? []) http.log[notice.level](notice.data, notice.msg);
        return http.log;
      },
    }),
    defineService({
      provides: refs.trust,
      deps: { config: refs.config, store: refs.store, clock: refs.clock, hub: refs.hub, log: refs.log },
      init: ({ config, store, clock, hub, log }) => createTrust({ store, clock, hub, dataDir: config.dataDir, keys, log }),
    }),
    defineService({
      provides: refs.sealedRecords,
      // After trust: its key was opened (and re-sealed) first. The rest (the online release keys
      // are opened only when they sign) is re-sealed now, so a rotation is complete once every
      // replica has started with the new key, even if nobody runs `credentials rotate`.
      deps: { store: refs.store, trust: refs.trust, log: refs.log },
      init: ({ store, log }) => ({
        async start() {
          if (keys.previous === null) return;
          const report = await resealAll(store, keys);
          if (report.resealed > 0) log.info({ resealed: report.resealed }, 'sealed records were sealed again under the current master key');
          if (report.unopenable.length > 0)
            log.warn({ ids: report.unopenable }, 'sealed records neither GPUFLEET_MASTER_KEY nor GPUFLEET_MASTER_KEY_PREVIOUS opens');
        },
      }),
      start: (s) => s.start(),
    }),
    defineService({
      provides: refs.checkpointer,
      deps: { store: refs.store, clock: refs.clock, trust: refs.trust, log: refs.log, audit: refs.audit },
      init({ store, clock, trust, log, audit }) {
        const checkpointer = new AuditCheckpointer({ store, clock, signer: trust.identity.signer(), log });
        audit.onAppended(() => checkpointer.notify());
        return checkpointer;
      },
      // The chain is checked and its head signed before anything new is appended: every
      // service that appends records comes after this one (the admin bootstrap depends on it).
      async start(checkpointer) {
        await checkpointer.start();
      },
      stop: (checkpointer) => checkpointer.close(),
    }),
    defineService({
      provides: refs.adminBootstrap,
      // checkpointer: only for the order (the chain is signed before this appends).
      deps: { config: refs.config, store: refs.store, apiTokens: refs.apiTokens, audit: refs.audit, clock: refs.clock, checkpointer: refs.checkpointer },
      async init({ config, store, apiTokens, audit, clock }) {
        const bootstrap = new AdminBootstrap({ dataDir: config.dataDir, store, apiTokens, audit, clock });
        await bootstrap.run();
        return bootstrap;
      },
    }),
  ];
}
