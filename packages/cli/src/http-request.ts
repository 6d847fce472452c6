import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** One HTTP exchange with the control plane. */
export interface HttpRequest {
  url: URL;
  method: string;
  headers?: Record<string, string>;
  body?: string;
  /** PEM of a CA to trust in addition to the system's (a self-made server CA saved at login). */
  caPem?: string;
  /** Skip certificate checks: only to fetch a CA whose fingerprint is then compared. */
  insecure?: boolean;
  timeoutMs?: number;
}

export interface HttpResponse {
  status: number;
  statusText: string;
  headers: IncomingHttpHeaders;
  text: string;
  /** The body as received (binary files: release targets). */
  bytes?: Buffer;
}

const MAX_RESPONSE_BYTES = 256 * 1024 * 1024;

/** An error with the code of the failure (ECONNREFUSED, ETIMEDOUT, a TLS code...) kept. */
export class TransportError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'TransportError';
    this.code = code;
  }
}

/**
 * Sends a request with node:http(s). Global fetch cannot trust an extra CA without the undici
 * package, and a fleet's own CA is the normal case for https here, so the client uses this.
 */
export function sendHttp(req: HttpRequest): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const isHttps = req.url.protocol === 'https:';
    const send = isHttps ? httpsRequest : httpRequest;
    const headers: Record<string, string> = { ...req.headers };
    if (req.body !== undefined) headers['content-length'] = String(Buffer.byteLength(req.body));
    const r = send(
      req.url,
      {
        method: req.method,
        headers,
        ...(isHttps && req.caPem ? { ca: req.caPem } : {}),
        ...(isHttps && req.insecure ? { rejectUnauthorized: false } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) {
            r.destroy(new TransportError('ERESPONSETOOLARGE', 'the reply is larger than 256 MiB'));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => {
          const bytes = Buffer.concat(chunks);
          resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', headers: res.headers, text: bytes.toString('utf8'), bytes });
        });
        res.on('error', (err) => reject(toTransportError(err)));
      },
    );
    r.setTimeout(req.timeoutMs ?? 15_000, () => r.destroy(new TransportError('ETIMEDOUT', 'no answer in time')));
    r.on('error', (err) => reject(toTransportError(err)));
    if (req.body !== undefined) r.write(req.body);
    r.end();
  });
}

function toTransportError(err: unknown): TransportError {
  if (err instanceof TransportError) return err;
  const e = err as NodeJS.ErrnoException;
  // AggregateError (IPv4 and IPv6 both refused) keeps the first error's code on itself.
  const code = e.code ?? (e as unknown as { errors?: NodeJS.ErrnoException[] }).errors?.[0]?.code ?? 'EUNKNOWN';
  return new TransportError(code, e.message || code);
}
