import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** One API answer: status, parsed JSON body (null when not JSON) and the raw text. */
export interface ApiAnswer {
  status: number;
  body: any;
  text: string;
}

export type ApiCall = (method: string, path: string, body?: unknown) => Promise<ApiAnswer>;

/**
 * An API client for a base URL with a bearer token; `ca` is the only CA trusted for https
 * (the server's self-made one). node:http(s) rather than fetch, because fetch cannot be given
 * a CA without an extra dependency.
 */
export function apiClient(baseUrl: string, token: string | null, ca?: string): ApiCall {
  return (method, path, body) =>
    new Promise((resolve, reject) => {
      const url = new URL(baseUrl.replace(/\/+$/, '') + path);
      const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
      const headers: Record<string, string> = { accept: 'application/json' };
      if (token) headers.authorization = `Bearer ${token}`;
      if (payload !== undefined) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = String(Buffer.byteLength(payload));
      }
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      const req = send(url, { method, headers, timeout: 10_000, ...(url.protocol === 'https:' ? { ca } : {}) }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = null;
          try {
            parsed = text ? JSON.parse(text) : null;
          } catch {
            parsed = null;
          }
          resolve({ status: res.statusCode ?? 0, body: parsed, text });
        });
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${url} timed out`)));
      req.on('error', reject);
      req.end(payload);
    });
}
