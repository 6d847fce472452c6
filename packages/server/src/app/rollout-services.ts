import { RolloutService } from '../rollouts/rollout-service.js';
import { defineService, type AnyServiceDefinition } from './service-definition.js';
import { refs } from './refs.js';

/**
 * Rollouts of signed releases (issue 14). The loop follows the `scheduler` lease rather than a
 * lease of its own: both decide what hosts run, both are light, and one more role would change
 * what operators and dashboards know of the replica set (four roles). Other replicas take host
 * reports (into the store) and refuse operator actions, naming the holder.
 */
export function rolloutServices(): AnyServiceDefinition[] {
  return [
    defineService({
      provides: refs.rollouts,
      deps: {
        store: refs.store,
        registry: refs.registry,
        sessions: refs.sessions,
        hub: refs.hub,
        clock: refs.clock,
        log: refs.log,
        trust: refs.trust,
        leases: refs.leases,
        directory: refs.replicaDirectory,
      },
      init: ({ store, registry, sessions, hub, clock, log, trust, leases, directory }) =>
        new RolloutService({
          store,
          registry,
          sessions,
          hub,
          clock,
          log,
          trust: { roots: () => trust.currentRoots(), isRevoked: (capId, did) => trust.capabilities.isRevoked(capId, did) },
          lease: leases.role('scheduler'),
          leaseHolder: () => {
            const holder = directory.list().find((r) => r.leases.includes('scheduler'));
            return holder ? { name: holder.name, url: holder.url } : null;
          },
        }),
      start: (rollouts) => rollouts.start(),
      stop: (rollouts) => rollouts.stop(),
    }),
  ];
}
