import type { CreateJoinTokenRequest } from '@gpufleet/protocol';
import type { ServerConfig } from './config/server-config.js';
import { systemClock, type Clock } from './clock.js';
import type { Store } from './store/store.js';
import { loadHealthPolicy } from './health/index.js';
import { loadAlertRules } from './alerts/index.js';
import type { ServerContext } from './context.js';
import { ServiceGraph, type Lifecycle } from './app/service-graph.js';
import { valueService } from './app/service-definition.js';
import { refs } from './app/refs.js';
import { coreServices } from './app/core-services.js';
import { fleetServices } from './app/fleet-services.js';
import { servingServices } from './app/serving-services.js';
import { poolServices } from './app/pool-services.js';
import { playServices, type PlayChoices } from './app/play-services.js';
import { sshHostServices } from './app/ssh-host-services.js';
import { promoteServices } from './app/promote-services.js';
import { groupServices } from './app/group-services.js';
import { replicaServices } from './app/replica-services.js';
import { releaseServices } from './app/release-services.js';
import { rolloutServices } from './app/rollout-services.js';
import { builtinProviderFactories } from './pools/providers/builtin-providers.js';
import type { ProviderFactories } from './pools/providers/cloud-provider.js';

export type { Lifecycle } from './app/service-graph.js';

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
  /** The service graph itself (order, lifecycle), for tests. */
  graph: ServiceGraph;
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
  /** Provider adapters added to (or replacing) the builtin ones by type: the simulator's `sim`, tests' fakes. */
  providers?: ProviderFactories;
  /** Built-in playbooks, ansible-playbook and how many plays run at once (tests point these elsewhere). */
  plays?: PlayChoices;
}

/** Every service of the control plane, as the graph starts them (app/). */
export function serverGraph(config: ServerConfig, opts: StartOptions = {}): ServiceGraph {
  const clock = opts.clock ?? systemClock;
  // Policy files are read first: a bad one stops start-up before anything is opened.
  const alertRules = loadAlertRules(config.alertRules);
  const healthPolicy = loadHealthPolicy(config.healthPolicy);
  // The log is itself a service: a stop that fails before it was built goes to stderr.
  const graph = new ServiceGraph({
    warn: (obj, msg) => {
      try {
        graph.get(refs.log).warn(obj, msg);
      } catch {
        console.error(msg, obj);
      }
    },
  });
  graph.add(
    valueService(refs.config, config),
    valueService(refs.clock, clock),
    valueService(refs.alertRules, alertRules),
    valueService(refs.healthPolicy, healthPolicy),
    valueService(refs.providerFactories, { ...builtinProviderFactories, ...opts.providers }),
    ...coreServices({
      ...(opts.store ? { store: opts.store } : {}),
      logger: opts.logger !== false,
      masterKey: opts.masterKey ?? process.env.GPUFLEET_MASTER_KEY,
      env: process.env,
    }),
    ...replicaServices({ masterKey: opts.masterKey ?? process.env.GPUFLEET_MASTER_KEY ?? null }),
    ...fleetServices(),
    ...groupServices(),
    ...poolServices({ masterKey: opts.masterKey ?? process.env.GPUFLEET_MASTER_KEY ?? null, env: process.env }),
    ...sshHostServices({ masterKey: opts.masterKey ?? process.env.GPUFLEET_MASTER_KEY ?? null, env: process.env }),
    ...promoteServices({ masterKey: opts.masterKey ?? process.env.GPUFLEET_MASTER_KEY ?? null, env: process.env }),
    ...playServices(opts.plays),
    ...releaseServices({ masterKey: opts.masterKey ?? process.env.GPUFLEET_MASTER_KEY ?? null, env: process.env }),
    ...rolloutServices(),
    ...servingServices(clock.now()),
  );
  return graph;
}

/**
 * The composition root: declares the control plane's services (app/), lets the graph check
 * and start them in dependency order, and hands back what tests, benchmarks and the CLI use.
 */
export async function startServer(config: ServerConfig, opts: StartOptions = {}): Promise<RunningServer> {
  const graph = serverGraph(config, opts);
  await graph.start();
  const listener = graph.get(refs.listener);
  const bootstrap = graph.get(refs.adminBootstrap);
  const context = listener.context;
  const url = graph.get(refs.publicUrl).get();
  context.log.info({ url, nodes: context.registry.size, store: context.store.kind, tls: context.caPem !== null }, 'gpufleet control plane running');
  return {
    url,
    adminToken: bootstrap.adminToken,
    adminTokenFile: bootstrap.adminTokenFile,
    caFingerprint: graph.get(refs.tls)?.caFingerprint ?? null,
    state: () => graph.state(),
    context,
    graph,
    createJoinToken: async (req) => ({ token: (await context.joinTokens.create(req, 'local')).token }),
    stop: () => graph.stop(),
  };
}
