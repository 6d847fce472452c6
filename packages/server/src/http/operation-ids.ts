/**
 * OpenAPI operationIds derived from a route's method and path, so every operation has one without
 * each route file naming it: `GET /api/v1/nodes/:ref/stream` is `getNodesByRefStream`. A route
 * that names its own (`schema.operationId`) keeps it. Ids only change when a path does.
 */
export function deriveOperationId(method: string, url: string): string {
  const path = url.replace(/^\/api\/v1(?=\/|$)/, '');
  const words = path
    .split('/')
    .filter((segment) => segment !== '')
    .map((segment) => {
      if (segment === '*') return 'Wildcard';
      const param = segment.startsWith(':');
      const text = segment.replace(/^:/, '').replace(/\(.*\)$/, '');
      const camel = text
        .split(/[^A-Za-z0-9]+/)
        .filter(Boolean)
        .map((w) => w[0]!.toUpperCase() + w.slice(1))
        .join('');
      return param ? `By${camel}` : camel;
    });
  return method.toLowerCase() + (words.join('') || 'Root');
}

/**
 * Hands out operationIds for one app and refuses a duplicate: two routes whose derived ids clash
 * (`/api/v1/x` and `/x`) must name one explicitly, or the OpenAPI document would be ambiguous.
 */
export class OperationIds {
  private readonly taken = new Map<string, string>();

  /** The id for a route: its own when given, else derived. Throws on a clash. */
  assign(method: string, url: string, explicit?: unknown): string {
    if (explicit !== undefined && (typeof explicit !== 'string' || !/^[A-Za-z][A-Za-z0-9_]*$/.test(explicit))) {
      throw new Error(`route ${method} ${url}: operationId must be an identifier, got ${JSON.stringify(explicit)}`);
    }
    const id = (explicit as string | undefined) ?? deriveOperationId(method, url);
    const key = `${method} ${url}`;
    const holder = this.taken.get(id);
    if (holder !== undefined && holder !== key)
      throw new Error(`route ${key}: operationId '${id}' is already used by ${holder}; give one of them schema.operationId`);
    this.taken.set(id, key);
    return id;
  }
}
