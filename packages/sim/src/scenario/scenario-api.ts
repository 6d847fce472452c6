/** A reply of the control plane: status and parsed JSON body (null when the body is not JSON). */
export interface ApiReply<T = unknown> {
  status: number;
  body: T;
}

/**
 * The small REST client scenario checks use: GETs with the admin token against the server the
 * runner started. Assertions go through the public API, as an operator's tools would.
 */
export class ScenarioApi {
  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
    private readonly timeoutMs = 5000,
  ) {}

  async get<T = unknown>(path: string, query: Record<string, string | number | undefined> = {}): Promise<ApiReply<T>> {
    const url = new URL(this.baseUrl.replace(/\/+$/, '') + path);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, String(v));
    const res = await fetch(url, {
      headers: { authorization: `Bearer ${this.token}`, accept: 'application/json' },
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const text = await res.text();
    let body: unknown = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = null;
    }
    return { status: res.status, body: body as T };
  }
}

/** The error message of a 4xx/5xx reply, or its status. */
export function replyError(r: ApiReply): string {
  const msg = (r.body as { error?: { message?: unknown } } | null)?.error?.message;
  return typeof msg === 'string' ? `${r.status}: ${msg}` : `HTTP ${r.status}`;
}
