import { GroupsService } from '../groups/groups-service.js';
import { defineService, type AnyServiceDefinition } from './service-definition.js';
import { refs } from './refs.js';

/** Node groups and layered variables (issue 12): after the registry, whose removals they follow. */
export function groupServices(): AnyServiceDefinition[] {
  return [
    defineService({
      provides: refs.groups,
      deps: { store: refs.store, registry: refs.registry, clock: refs.clock, hub: refs.hub, log: refs.log },
      init: ({ store, registry, clock, hub, log }) => new GroupsService({ store, registry, clock, hub, warn: (message, err) => log.warn({ err }, message) }),
      start: (groups) => groups.start(),
      stop: (groups) => groups.stop(),
    }),
  ];
}
