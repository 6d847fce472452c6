import { PoolManager } from '../pools/pool-manager.js';
import { defineService, type AnyServiceDefinition } from './service-definition.js';
import { refs } from './refs.js';

/** What the caller of serverGraph decides for pools (server.ts StartOptions). */
export interface PoolChoices {
  /** GPUFLEET_MASTER_KEY: providers that keep credentials seal them with it. */
  masterKey: string | null;
  /** Where providers read their secrets (api_key_env). */
  env: Record<string, string | undefined>;
}

/** The pool manager: after the fleet services it drives (registry, drains, health, workloads, runs). */
export function poolServices(choices: PoolChoices): AnyServiceDefinition[] {
  return [
    defineService({
      provides: refs.pools,
      deps: {
        config: refs.config,
        store: refs.store,
        registry: refs.registry,
        drains: refs.drains,
        health: refs.health,
        workloads: refs.workloads,
        runs: refs.runs,
        joinTokens: refs.joinTokens,
        factories: refs.providerFactories,
        hub: refs.hub,
        clock: refs.clock,
        log: refs.log,
        audit: refs.audit,
        publicUrl: refs.publicUrl,
        leases: refs.leases,
      },
      async init({ leases, config, store, registry, drains, health, workloads, runs, joinTokens, factories, hub, clock, log, audit, publicUrl }) {
        const pools = new PoolManager({
          lease: leases.role('pools'),
          store,
          registry,
          drains,
          health,
          runningWork: [runs, workloads],
          demand: workloads,
          allocatedGpus: (nodeId) => {
            let held = 0;
            for (const gpu of registry.get(nodeId)?.gpus ?? []) if (workloads.gpuAllocation(nodeId, gpu.index) !== null) held++;
            return held;
          },
          joinTokens,
          factories,
          hub,
          clock,
          log,
          audit,
          masterKey: choices.masterKey,
          env: choices.env,
          reconcileMs: config.poolReconcileMs,
          poolsFile: config.pools,
          listening: () => publicUrl.known() !== null,
        });
        await pools.load();
        return pools;
      },
      start: (pools) => pools.start(),
      stop: (pools) => pools.stop(),
    }),
  ];
}
