/** A failed API call: the server's error code, message and details, and the HTTP status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** The error body's `details`, as the server sent them (unchecked). */
    readonly details: unknown = undefined,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Reads the `{ error: { code, message } }` body of a failed response, whatever it holds. */
async function errorOf(res: Response): Promise<ApiError> {
  let code = 'unknown';
  let message = `${res.status} ${res.statusText}`;
  let details: unknown;
  try {
    const body = (await res.json()) as { error?: { code?: unknown; message?: unknown; details?: unknown } };
    if (typeof body?.error?.code === 'string') code = body.error.code;
    if (typeof body?.error?.message === 'string') message = body.error.message;
    details = body?.error?.details;
  } catch {
    // Not JSON (a proxy's page): the status line says enough.
  }
  return new ApiError(res.status, code, message, details);
}

/** Calls the REST API of the same origin with the bearer token; JSON in, JSON out. */
export class ApiClient {
  constructor(
    private readonly token: string,
    private readonly onUnauthorized: () => void = () => {},
  ) {}

  /** `keepalive` lets the request outlive the page (a cancel sent while the tab closes). */
  async request<T>(method: string, path: string, body?: unknown, opts: { keepalive?: boolean } = {}): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}`, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), ...(opts.keepalive ? { keepalive: true } : {}) });
    } catch (err) {
      throw new ApiError(0, 'unavailable', `the server does not answer (${err instanceof Error ? err.message : String(err)})`);
    }
    if (res.status === 401) this.onUnauthorized();
    if (!res.ok) throw await errorOf(res);
    if (res.status === 204) return undefined as T;
    return (await res.json()) as T;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }
  post<T>(path: string, body: unknown = {}): Promise<T> {
    return this.request<T>('POST', path, body);
  }
  patch<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PATCH', path, body);
  }
  delete<T = void>(path: string): Promise<T> {
    return this.request<T>('DELETE', path);
  }

  /** The URL of an SSE stream with the token in the query (EventSource cannot send headers). */
  streamUrl(path: string): string {
    return `${path}${path.includes('?') ? '&' : '?'}access_token=${encodeURIComponent(this.token)}`;
  }
}

/** `?a=1&b=x` from the defined, non-empty values. */
export function query(params: Record<string, string | number | boolean | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}
