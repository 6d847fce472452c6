/** A reply of the control plane: status and parsed JSON body (null when the body is not JSON). */
export interface ApiReply<T = unknown> {
  status: number;
  body: T;
}

/**
 * The small REST client scenarios use: GETs (the checks) and POSTs (the actions: submit a job,
 * stop it, drain a node) with the admin token against the server the runner started, through
 * the public API, as an operator's tools would.
 */
export class ScenarioApi {
  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
    private readonly timeoutMs = 5000,
  ) {}

  get<T = unknown>(path: string, query: Record<string, string | number | undefined> = {}): Promise<ApiReply<T>> {
    return this.request<T>('GET', path, query, undefined);
  }

  post<T = unknown>(path: string, body: unknown): Promise<ApiReply<T>> {
    return this.request<T>('POST', path, {}, body);
  }

  private async request<T>(method: 'GET' | 'POST', path: string, query: Record<string, string | number | undefined>, body: unknown): Promise<ApiReply<T>> {
    const url = new URL(this.baseUrl.replace(/\/+$/, '') + path);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, String(v));
    const res = await fetch(url, {
      method,
      headers: {
        authorization: `Bearer ${this.token}`,
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const text = await res.text();
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = null;
    }
    return { status: res.status, body: parsed as T };
  }
}

/** The error message of a 4xx/5xx reply, or its status. */
export function replyError(r: ApiReply): string {
  const msg = (r.body as { error?: { message?: unknown } } | null)?.error?.message;
  return typeof msg === 'string' ? `${r.status}: ${msg}` : `HTTP ${r.status}`;
}
