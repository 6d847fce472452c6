import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { FleetError } from '@gpufleet/protocol';

/** One HTTP exchange as join needs it. */
export interface HttpRequest {
  method: 'GET' | 'POST';
  url: string;
  body?: string;
  headers?: Record<string, string>;
  /** The only CA trusted for https (normal verification otherwise). */
  ca?: string;
  /** Skip certificate verification: only for fetching the CA whose fingerprint is then checked. */
  insecure?: boolean;
  timeoutMs?: number;
}

export interface HttpResponse {
  status: number;
  text: string;
}

/** Sends one HTTP request. Injectable in join so tests can stand in for the network. */
export type HttpRequester = (req: HttpRequest) => Promise<HttpResponse>;

// A server's answer to join is small; a huge one is a misdirected URL, not something to buffer.
const MAX_RESPONSE_BYTES = 1024 * 1024;

/** node:http(s) client with a response size limit and one-line errors naming the server. */
export const nodeHttpRequest: HttpRequester = (req) =>
  new Promise((resolve, reject) => {
    let url: URL;
    try {
      url = new URL(req.url);
    } catch {
      reject(new FleetError('invalid_argument', `not a URL: ${req.url}`));
      return;
    }
    const isHttps = url.protocol === 'https:';
    const send = isHttps ? httpsRequest : httpRequest;
    const headers: Record<string, string> = { accept: 'application/json', ...req.headers };
    if (req.body !== undefined) {
      headers['content-type'] ??= 'application/json';
      headers['content-length'] = String(Buffer.byteLength(req.body));
    }
    const r = send(
      url,
      {
        method: req.method,
        headers,
        timeout: req.timeoutMs ?? 30_000,
        ...(isHttps ? { ca: req.ca, rejectUnauthorized: !req.insecure } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_RESPONSE_BYTES) {
            res.destroy();
            reject(new FleetError('unavailable', `the server at ${url.origin} sent a response over ${MAX_RESPONSE_BYTES} bytes`));
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', (err) => reject(networkError(url, err)));
      },
    );
    r.on('timeout', () => r.destroy(new Error('timed out')));
    r.on('error', (err) => reject(networkError(url, err)));
    r.end(req.body);
  });

/** Turns socket and TLS errors into one readable line. */
export function networkError(url: URL, err: Error & { code?: string }): FleetError {
  const where = `the server at ${url.origin}`;
  const why: Record<string, string> = {
    ECONNREFUSED: 'connection refused (is the server running and listening there?)',
    ENOTFOUND: 'host name not found',
    EAI_AGAIN: 'host name lookup failed (temporary DNS failure)',
    ECONNRESET: 'connection reset',
    ETIMEDOUT: 'timed out',
    EHOSTUNREACH: 'host unreachable',
    ENETUNREACH: 'network unreachable',
    DEPTH_ZERO_SELF_SIGNED_CERT: 'its certificate is not signed by the pinned CA',
    SELF_SIGNED_CERT_IN_CHAIN: 'its certificate is not signed by the pinned CA',
    UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'its certificate is not signed by the pinned CA',
    ERR_TLS_CERT_ALTNAME_INVALID: 'its certificate does not name this host',
    CERT_HAS_EXPIRED: 'its certificate has expired',
  };
  const text = (err.code && why[err.code]) ?? err.message;
  return new FleetError('unavailable', `cannot reach ${where}: ${text}`, { cause: err });
}
