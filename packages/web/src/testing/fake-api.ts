/**
 * A stand-in for the control plane's REST API in component tests: routes answer with the shapes
 * the server writes (tests check their fixtures against the protocol's schemas), errors use the
 * server's `{ error: { code, message } }` body, and every call is recorded.
 */

export interface FakeCall {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
  authorization: string | null;
  /** The request was sent with fetch's keepalive (it outlives a closing page). */
  keepalive: boolean;
}

export interface FakeReply {
  status: number;
  body?: unknown;
}

export type FakeRoute = (call: FakeCall, params: Record<string, string>) => FakeReply | Promise<FakeReply>;

/** `{ error: { code, message } }` with its HTTP status, as the server's error mapper writes it. */
export function fakeError(status: number, code: string, message: string): FakeReply {
  return { status, body: { error: { code, message } } };
}

export class FakeApi {
  readonly calls: FakeCall[] = [];
  private readonly routes: Array<{ method: string; pattern: string[]; route: FakeRoute }> = [];

  /** `on('DELETE', '/api/v1/api-tokens/:id', ...)`. */
  on(method: string, pattern: string, route: FakeRoute): this {
    this.routes.push({ method, pattern: pattern.split('/').filter(Boolean), route });
    return this;
  }

  /** Calls made with this method to paths starting with `prefix`. */
  callsTo(method: string, prefix: string): FakeCall[] {
    return this.calls.filter((c) => c.method === method && c.path.startsWith(prefix));
  }

  /** A `fetch` for vi.stubGlobal: only same-origin paths, like the dashboard's ApiClient sends. */
  readonly fetch = async (input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(String(input), 'http://dashboard.test');
    const method = (init.method ?? 'GET').toUpperCase();
    const headers = new Headers(init.headers);
    const call: FakeCall = {
      method,
      path: url.pathname,
      query: url.searchParams,
      body: typeof init.body === 'string' ? JSON.parse(init.body) : undefined,
      authorization: headers.get('authorization'),
      keepalive: init.keepalive === true,
    };
    this.calls.push(call);
    for (const r of this.routes) {
      if (r.method !== method) continue;
      const params = match(r.pattern, url.pathname);
      if (!params) continue;
      const reply = await r.route(call, params);
      return toResponse(reply);
    }
    return toResponse(fakeError(404, 'not_found', `no route ${method} ${url.pathname}`));
  };
}

function match(pattern: string[], path: string): Record<string, string> | null {
  const parts = path.split('/').filter(Boolean);
  if (parts.length !== pattern.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    const p = pattern[i]!;
    if (p.startsWith(':')) params[p.slice(1)] = decodeURIComponent(parts[i]!);
    else if (p !== parts[i]) return null;
  }
  return params;
}

function toResponse(r: FakeReply): Response {
  if (r.status === 204 || r.body === undefined) return new Response(null, { status: r.status });
  return new Response(JSON.stringify(r.body), { status: r.status, headers: { 'content-type': 'application/json' } });
}
