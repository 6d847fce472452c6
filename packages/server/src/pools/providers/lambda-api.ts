import { ProviderError } from './cloud-provider.js';

/**
 * A small client of the Lambda Cloud REST API (https://cloud.lambdalabs.com/api/v1, as documented
 * in its OpenAPI spec): JSON bodies, `{ "data": ... }` on success and
 * `{ "error": { "code", "message", "suggestion"? } }` on failure. Every failure comes out as a
 * ProviderError; the error `code` decides the kind, as the docs ask (messages may change).
 */
export interface LambdaApiOptions {
  /** Base URL, e.g. https://cloud.lambdalabs.com/api/v1 (no trailing slash needed). */
  endpoint: string;
  /** Returns the API key or throws a ProviderError('auth'); read at each call so a fixed env is picked up. */
  apiKey: () => string;
  /** A call that has not answered within this is abandoned as transient. */
  timeoutMs: number;
  /** Injected in tests that need to see a network failure; default global fetch. */
  fetch?: typeof fetch;
}

/** Codes of the documented error list, by the kind they are. */
const AUTH_CODES = new Set(['global/invalid-api-key', 'global/account-inactive']);
const INVALID_CODES = new Set([
  'global/invalid-parameters',
  'global/invalid-address',
  'instance-operations/launch/file-system-in-wrong-region',
  'instance-operations/launch/file-systems-not-supported',
  'ssh-keys/key-in-use',
]);

const MAX_BODY_CHARS = 4 * 1024 * 1024;

export class LambdaApi {
  private readonly base: string;
  private readonly doFetch: typeof fetch;

  constructor(private readonly options: LambdaApiOptions) {
    this.base = options.endpoint.replace(/\/+$/, '');
    this.doFetch = options.fetch ?? fetch;
  }

  get(path: string): Promise<unknown> {
    return this.call('GET', path, undefined);
  }

  post(path: string, body: unknown, context: { region?: string } = {}): Promise<unknown> {
    return this.call('POST', path, body, context);
  }

  /** Sends one request and returns the `data` of the answer. */
  private async call(method: string, path: string, body: unknown, context: { region?: string } = {}): Promise<unknown> {
    const key = this.options.apiKey();
    const what = `${method} ${path}`;
    const controller = new AbortController();
    // A timer of our own: it is cleared on every path, so no stray timer keeps the process up.
    const timer = setTimeout(() => controller.abort(), this.options.timeoutMs);
    let status: number;
    let text: string;
    let retryAfter: string | null;
    try {
      const response = await this.doFetch(`${this.base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${key}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: controller.signal,
      });
      status = response.status;
      retryAfter = response.headers.get('retry-after');
      text = await response.text();
    } catch (err) {
      if (controller.signal.aborted) throw new ProviderError('transient', `lambda ${what}: no answer within ${this.options.timeoutMs} ms`, { code: 'timeout' });
      throw new ProviderError('transient', `lambda ${what}: ${networkText(err)}`, { code: 'network' });
    } finally {
      clearTimeout(timer);
    }
    if (text.length > MAX_BODY_CHARS)
      throw new ProviderError('transient', `lambda ${what}: answer larger than ${MAX_BODY_CHARS} characters`, { status, code: 'bad_response' });
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (status >= 200 && status < 300) {
      if (!isObject(json) || !('data' in json)) {
        throw new ProviderError('transient', `lambda ${what}: answer is not the documented JSON ({"data": ...}): ${snippet(text)}`, {
          status,
          code: 'bad_response',
        });
      }
      return json.data;
    }
    throw errorFromAnswer(what, status, json, text, retryAfter, context.region);
  }
}

/** Maps a failed answer to a ProviderError by its documented code, else by HTTP status. */
export function errorFromAnswer(what: string, status: number, json: unknown, text: string, retryAfter: string | null, region?: string): ProviderError {
  const error = isObject(json) && isObject(json.error) ? json.error : undefined;
  const code = typeof error?.code === 'string' ? error.code : undefined;
  const message = typeof error?.message === 'string' ? error.message : snippet(text);
  const suggestion = typeof error?.suggestion === 'string' ? ` (${error.suggestion})` : '';
  const said = `lambda ${what}: ${code ? `${code}: ` : ''}${message}${suggestion}`;
  const base = { status, ...(code ? { code } : {}) };
  const retryAfterMs = parseRetryAfter(retryAfter);
  // Throttling is transient whatever code rides along with it.
  if (status === 429) return new ProviderError('transient', said, { ...base, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
  if (code !== undefined) {
    if (AUTH_CODES.has(code)) return new ProviderError('auth', said, base);
    if (code === 'global/quota-exceeded') return new ProviderError('quota', said, base);
    if (code === 'instance-operations/launch/insufficient-capacity')
      return new ProviderError('capacity', said, { ...base, ...(region ? { zone: region } : {}) });
    if (INVALID_CODES.has(code)) return new ProviderError('invalid', said, base);
    if (code === 'global/object-does-not-exist') return new ProviderError('not_found', said, base);
    // Upstream (provider/...) failures are outages the docs tell us to retry.
    if (code.startsWith('provider/')) return new ProviderError('transient', said, base);
  }
  if (status === 401 || status === 403) return new ProviderError('auth', said, base);
  if (status === 404) return new ProviderError('not_found', said, base);
  if (status >= 500) return new ProviderError('transient', said, { ...base, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
  return new ProviderError('invalid', said, base);
}

/** Retry-After as seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function snippet(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  if (oneLine === '') return '(empty answer)';
  return oneLine.length > 200 ? `${oneLine.slice(0, 200)}…` : oneLine;
}

function networkText(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code) return `${cause.code}${cause.message ? ` (${cause.message})` : ''}`;
  return err instanceof Error ? err.message : String(err);
}
