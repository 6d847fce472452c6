export { resolveServerConfig, SERVER_CONFIG_DEFAULTS, isLoopbackHost, type ServerConfig, type ConfigSources } from './config/server-config.js';
export { startServer, type RunningServer, type StartOptions, type Lifecycle } from './server.js';
export type { Store } from './store/store.js';
export { openStore } from './store/open-store.js';
export type { Clock } from './clock.js';
export {
  ProviderError,
  type CloudProvider,
  type InstanceTypeInfo,
  type ProviderContext,
  type ProviderFactories,
  type ProviderFactory,
  type ProviderInstance,
  type ProviderStateStore,
  type ProvisionRequest,
} from './pools/providers/cloud-provider.js';
export type { PendingDemand, PendingSlots, PoolsApi } from './pools/pools-api.js';
export * from './releases/index.js';
