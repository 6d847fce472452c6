import type { StoreRef } from './contract-helpers.js';
import { poolConfigContract } from './contract-pool-config.js';
import { poolEventContract } from './contract-pool-events.js';
import { poolOperationContract } from './contract-pool-operations.js';

/** Contract cases for pools (0008_pools): applied config, states, members, operations, events, size samples, provider state. */
export function poolContract(store: StoreRef): void {
  poolConfigContract(store);
  poolOperationContract(store);
  poolEventContract(store);
}
