import type { PoolStore } from '../store/pool-records.js';
import type { ProviderStateStore } from './providers/cloud-provider.js';

/** One provider's key-value state in the store (table provider_state), as its adapter sees it. */
export function providerStateStore(store: PoolStore, provider: string): ProviderStateStore {
  return {
    get: (key) => store.getProviderState(provider, key),
    put: (key, value) => store.putProviderState(provider, key, value),
    delete: (key) => store.deleteProviderState(provider, key),
    list: () => store.listProviderState(provider),
  };
}
