import type { LeaseRole } from '../replicas/leases.js';
import type { HealthVerdict } from '@gpufleet/protocol';
import type { Clock } from '../clock.js';
import type { EventHub } from '../events/event-hub.js';
import type { NodeRegistry } from '../services/node-registry.js';
import type { NodeDrains, RunningWork } from '../services/node-drains.js';
import type { JoinTokenService } from '../services/join-tokens.js';
import type { AuditLog } from '../services/audit-log.js';
import type { PoolStore } from '../store/pool-records.js';
import type { ProviderFactories } from './providers/cloud-provider.js';
import type { PendingDemand } from './pools-api.js';

/** What the pool manager is built from (app/pool-services.ts wires the real services). */
export interface PoolManagerOptions {
  store: PoolStore;
  /** The `pools` lease: with several replicas only its holder reconciles (soleHolder alone). */
  lease: LeaseRole;
  registry: Pick<NodeRegistry, 'get' | 'all' | 'status' | 'labelsOf' | 'resolve' | 'remove' | 'states'>;
  /** Drains that wait for a node's work to move away (replacement, scale-down). */
  drains: Pick<NodeDrains, 'drain'>;
  /** The node's verdict from health findings (health engine `verdictOf(nodeId, null)`). */
  health: { verdictOf(nodeId: string, gpuKey: null): HealthVerdict };
  /** Every kind of work that keeps a node busy: commands in flight, allocations not ended. */
  runningWork: readonly RunningWork[];
  /** Allocations waiting because nothing fits; null: no workload service (utilization only). */
  demand: PendingDemand | null;
  /** GPUs of the node held by allocations. */
  allocatedGpus(nodeId: string): number;
  /** Mints one single-use token per provision. */
  joinTokens: Pick<JoinTokenService, 'create' | 'revoke'>;
  /** Provider adapters by type (builtin ones and whatever the caller added, e.g. sim). */
  factories: ProviderFactories;
  hub: EventHub;
  clock: Clock;
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
  audit: Pick<AuditLog, 'record'>;
  /** GPUFLEET_MASTER_KEY for providers that seal credentials (ssh); null: none set. */
  masterKey: string | null;
  /** Where providers read secrets (api_key_env). */
  env: Record<string, string | undefined>;
  /** How often every pool is reconciled (config.poolReconcileMs). */
  reconcileMs: number;
  /** Whether the server listens yet: join tokens carry its URL, so passes wait until it does (absent: always). */
  listening?: () => boolean;
  /** A pools file to apply at start (`gpufleet server --pools FILE`); null or absent: what was applied before stays. */
  poolsFile?: string | null;
}
