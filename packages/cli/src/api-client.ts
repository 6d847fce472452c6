import { CliError } from './errors.js';
import { sendHttp, TransportError, type HttpResponse } from './http-request.js';

/** Where the CLI talks to and with which token; `source` says where they came from (for messages). */
export interface Connection {
  server: string;
  token: string;
  caPem?: string;
  source: string;
}

export type Query = Record<string, string | number | boolean | undefined | null>;

export interface ApiClientOptions {
  timeoutMs?: number;
}

const TLS_CODES = /^(ERR_TLS_|ERR_SSL_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT|CERT_)/;

/** Maps a failed exchange to one line a person can act on. */
export function transportMessage(server: string, err: TransportError, timeoutMs: number): string {
  const at = `the control plane at ${server}`;
  switch (err.code) {
    case 'ECONNREFUSED':
      return `cannot reach ${at}: is \`gpufleet server\` running?`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot reach ${at}: the host name does not resolve`;
    case 'ETIMEDOUT':
      return `${at} did not answer within ${timeoutMs >= 1000 ? `${Math.round(timeoutMs / 1000)}s` : `${timeoutMs}ms`}`;
    case 'ECONNRESET':
    case 'EPIPE':
      return `${at} closed the connection (is it an https server reached over http, or the other way round?)`;
    case 'EPROTO':
      return `cannot speak TLS with ${at} (is it a plain-HTTP server? use http://)`;
    default:
      if (TLS_CODES.test(err.code)) {
        return `the TLS certificate of ${at} is not trusted (${err.code}): run \`gpufleet login --server ${server} --token <token> --ca-fingerprint <sha256 of its CA>\``;
      }
      return `cannot reach ${at}: ${err.message}`;
  }
}

/** The message of an error reply: the server's `{error:{message}}` when there is one. */
export function replyMessage(res: HttpResponse): string {
  if (res.status === 401) return 'the API token was refused: run `gpufleet login`';
  try {
    const body = JSON.parse(res.text) as { error?: { code?: unknown; message?: unknown } };
    if (body && typeof body.error?.message === 'string' && body.error.message) return body.error.message;
  } catch {
    // Not our JSON error body: a proxy or some other server answered.
  }
  return `the control plane answered HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
}

/** An error reply from the server with its HTTP status and domain code kept. */
export class ApiError extends CliError {
  readonly status: number;
  readonly code: string | null;
  constructor(res: HttpResponse) {
    super(replyMessage(res));
    this.name = 'ApiError';
    this.status = res.status;
    let code: string | null = null;
    try {
      const c = (JSON.parse(res.text) as { error?: { code?: unknown } }).error?.code;
      code = typeof c === 'string' ? c : null;
    } catch {
      /* no body */
    }
    this.code = code;
  }
}

/** JSON client for the control plane's REST API (`/api/v1/...`) with bearer-token auth. */
export class ApiClient {
  readonly server: string;
  private readonly conn: Connection;
  private readonly timeoutMs: number;

  constructor(conn: Connection, opts: ApiClientOptions = {}) {
    this.conn = conn;
    this.server = conn.server.replace(/\/+$/, '');
    this.timeoutMs = opts.timeoutMs ?? 15_000;
  }

  get<T>(path: string, query?: Query): Promise<T> {
    return this.request<T>('GET', path, { query });
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('POST', path, { body });
  }

  patch<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PATCH', path, { body });
  }

  delete(path: string): Promise<void> {
    return this.request<void>('DELETE', path, {});
  }

  /** GET of a file as it is (TUF metadata, a release target): its exact bytes. */
  async getBytes(path: string): Promise<Buffer> {
    const url = new URL(this.server + path);
    let res: HttpResponse;
    try {
      res = await sendHttp({ url, method: 'GET', headers: { authorization: `Bearer ${this.conn.token}` }, caPem: this.conn.caPem, timeoutMs: this.timeoutMs });
    } catch (err) {
      if (err instanceof TransportError) throw new CliError(transportMessage(this.server, err, this.timeoutMs), { cause: err });
      throw err;
    }
    if (res.status < 200 || res.status >= 300) throw new ApiError(res);
    return res.bytes ?? Buffer.from(res.text, 'utf8');
  }

  /** Sends one request; resolves with the parsed JSON (undefined for 204), rejects with one-line errors. */
  async request<T>(method: string, path: string, opts: { query?: Query; body?: unknown }): Promise<T> {
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { accept: 'application/json', authorization: `Bearer ${this.conn.token}` };
    let body: string | undefined;
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['content-type'] = 'application/json';
    }
    let res: HttpResponse;
    try {
      res = await sendHttp({ url, method, headers, body, caPem: this.conn.caPem, timeoutMs: this.timeoutMs });
    } catch (err) {
      if (err instanceof TransportError) throw new CliError(transportMessage(this.server, err, this.timeoutMs), { cause: err });
      throw err;
    }
    if (res.status < 200 || res.status >= 300) throw new ApiError(res);
    if (res.status === 204 || res.text.trim() === '') return undefined as T;
    try {
      return JSON.parse(res.text) as T;
    } catch {
      throw new CliError(`the control plane at ${this.server} sent a reply that is not JSON (HTTP ${res.status})`);
    }
  }
}

/** Path segment for a node/token reference typed by a person (hostnames, ids, prefixes). */
export function seg(ref: string): string {
  // ':' is legal in a path segment and keeps did:key ids readable in logs.
  return encodeURIComponent(ref).replace(/%3A/gi, ':');
}
