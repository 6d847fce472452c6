/**
 * The three Reflect metadata functions tsyringe (a dependency of @peculiar/x509) checks for at
 * load time and calls for its decorators. reflect-metadata is the usual polyfill, but it is not
 * installed; @peculiar/x509 itself never emits design-type metadata, so a per-object map is all
 * that is needed. Existing functions (a real polyfill loaded first) are left alone. Imported for
 * its effect, before @peculiar/x509, by x509-lib.ts only.
 */
type MetadataStore = WeakMap<object, Map<unknown, unknown>>;

interface ReflectMetadata {
  defineMetadata?: (key: unknown, value: unknown, target: object) => void;
  getOwnMetadata?: (key: unknown, target: object) => unknown;
  getMetadata?: (key: unknown, target: object) => unknown;
}

const reflect = Reflect as unknown as ReflectMetadata;
if (typeof reflect.getMetadata !== 'function') {
  const store: MetadataStore = new WeakMap();
  const own = (target: object, key: unknown): unknown => store.get(target)?.get(key);
  reflect.defineMetadata = (key, value, target) => {
    let map = store.get(target);
    if (!map) store.set(target, (map = new Map()));
    map.set(key, value);
  };
  reflect.getOwnMetadata = (key, target) => own(target, key);
  reflect.getMetadata = (key, target) => {
    // Like reflect-metadata: walk the prototype chain until a value is found.
    for (let at: object | null = target; at; at = Object.getPrototypeOf(at) as object | null) {
      const value = own(at, key);
      if (value !== undefined) return value;
    }
    return undefined;
  };
}

export {};
