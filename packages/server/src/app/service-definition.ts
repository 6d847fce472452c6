import type { DepRefs, DepValues, ServiceRef } from './service-ref.js';

/**
 * One service of the composition root (in the spirit of Backstage's `registerInit({ deps })`):
 * what it provides, what it needs, how it is built from exactly what it needs, and its
 * lifecycle. `init` sees only the declared dependencies, so using an undeclared one does not
 * compile; the graph checks at boot that every declared one is registered.
 */
export interface ServiceDefinition<T, D extends DepRefs = DepRefs> {
  provides: ServiceRef<T>;
  deps: D;
  /** Builds the service; may read the store (load state) but must not start timers or listen. */
  init(deps: DepValues<D>): T | Promise<T>;
  /** Starts its work (timers, subscriptions, listening). Called in dependency order. */
  start?(self: T): void | Promise<void>;
  /** Stops and drains. Called in reverse order; a failure is logged and the rest still stop. */
  stop?(self: T): void | Promise<void>;
}

/** A definition of any type, as the graph holds them. */
// biome-ignore lint/suspicious/noExplicitAny: a list of services of different types; each is checked where it is defined
export type AnyServiceDefinition = ServiceDefinition<any, DepRefs>;

/** Identity function that lets TypeScript infer T and D (and check init against them). */
export function defineService<T, D extends DepRefs>(def: ServiceDefinition<T, D>): ServiceDefinition<T, D> {
  return def;
}

/** A service that is a value known before boot (config, clock, logger): no deps, no lifecycle. */
export function valueService<T>(ref: ServiceRef<T>, value: NoInfer<T>): ServiceDefinition<T, Record<string, never>> {
  return { provides: ref, deps: {}, init: () => value };
}
