/**
 * A typed name of a service in the graph. The type parameter is carried only for the compiler:
 * a service that declares `{ store: storeRef }` gets a `Store` under `deps.store`, and nothing
 * else it did not declare.
 */
export interface ServiceRef<T> {
  readonly id: string;
  /** Never set; carries T for the compiler. */
  readonly __type?: (value: T) => T;
}

/** Makes a reference; ids are unique within one graph (the graph refuses a second registration). */
export function serviceRef<T>(id: string): ServiceRef<T> {
  return { id };
}

/** A service's declared dependencies: local names to references. */
// biome-ignore lint/suspicious/noExplicitAny: a dependency map holds refs of different types; init sees each one typed
export type DepRefs = Readonly<Record<string, ServiceRef<any>>>;

/** What `init` receives for declared dependencies `D`: each name typed by its reference. */
export type DepValues<D extends DepRefs> = { readonly [K in keyof D]: D[K] extends ServiceRef<infer T> ? T : never };
