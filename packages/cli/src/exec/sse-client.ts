import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { ApiError, transportMessage, type Connection } from '../api-client.js';
import { CliError } from '../errors.js';
import { TransportError } from '../http-request.js';

/** One Server-Sent Event: its name (`message` when none was given) and its data lines joined. */
export interface SseEvent {
  event: string;
  data: string;
}

/** An open event stream: `ended` resolves when the server closes it (or `close()` is called). */
export interface SseStream {
  ended: Promise<void>;
  close(): void;
}

/**
 * Splits SSE text into events as it arrives (fields `event` and `data`; comments, `id` and
 * `retry` are skipped). Keeps a partial event between chunks.
 */
export class SseParser {
  private buffer = '';
  private event = '';
  private data: string[] = [];

  constructor(private readonly onEvent: (e: SseEvent) => void) {}

  push(text: string): void {
    this.buffer += text;
    let nl: number;
    while ((nl = this.buffer.search(/\r\n|\n|\r/)) >= 0) {
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + (this.buffer.startsWith('\r\n', nl) ? 2 : 1));
      this.line(line);
    }
  }

  private line(line: string): void {
    if (line === '') {
      if (this.data.length > 0) this.onEvent({ event: this.event || 'message', data: this.data.join('\n') });
      this.event = '';
      this.data = [];
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') this.event = value;
    else if (field === 'data') this.data.push(value);
  }
}

/**
 * Opens `path` on the control plane as an event stream with the connection's token and CA. Resolves
 * once the server answered 200 (rejects with the server's error message otherwise); events then go
 * to `onEvent` in order until the stream ends.
 */
export function openEventStream(conn: Connection, path: string, onEvent: (e: SseEvent) => void, opts: { connectTimeoutMs?: number } = {}): Promise<SseStream> {
  const server = conn.server.replace(/\/+$/, '');
  const url = new URL(server + path);
  const isHttps = url.protocol === 'https:';
  const timeoutMs = opts.connectTimeoutMs ?? 15_000;
  return new Promise((resolve, reject) => {
    let req: ClientRequest;
    const onResponse = (res: IncomingMessage) => {
      req.setTimeout(0);
      if (res.statusCode !== 200) {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          reject(
            new ApiError({
              status: res.statusCode ?? 0,
              statusText: res.statusMessage ?? '',
              headers: res.headers,
              text: Buffer.concat(chunks).toString('utf8'),
            }),
          ),
        );
        return;
      }
      res.setEncoding('utf8');
      const parser = new SseParser(onEvent);
      const ended = new Promise<void>((done) => {
        res.on('data', (text: string) => parser.push(text));
        res.on('end', () => done());
        res.on('close', () => done());
        res.on('error', () => done());
      });
      resolve({ ended, close: () => req.destroy() });
    };
    req = (isHttps ? httpsRequest : httpRequest)(
      url,
      { method: 'GET', headers: { accept: 'text/event-stream', authorization: `Bearer ${conn.token}` }, ...(isHttps && conn.caPem ? { ca: conn.caPem } : {}) },
      onResponse,
    );
    req.setTimeout(timeoutMs, () => req.destroy(new TransportError('ETIMEDOUT', 'no answer in time')));
    req.on('error', (err: NodeJS.ErrnoException) => {
      const code = err instanceof TransportError ? err.code : (err.code ?? 'EUNKNOWN');
      reject(new CliError(transportMessage(server, new TransportError(code, err.message), timeoutMs), { cause: err }));
    });
    req.end();
  });
}
