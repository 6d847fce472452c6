import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request the fake control plane received. */
export interface SeenRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

export interface FakeReply {
  status?: number;
  body?: unknown;
  /** Raw text instead of JSON (a proxy's HTML error page, say). */
  text?: string;
}

export type FakeRoute = (req: SeenRequest) => FakeReply | Promise<FakeReply>;

export interface FakeApi {
  url: string;
  requests: SeenRequest[];
  close(): Promise<void>;
}

/**
 * A tiny node:http server standing in for the control plane in tests: routes are keyed by
 * `METHOD /path` (no query); unknown routes answer 404 with the API's error body.
 */
export async function startFakeApi(routes: Record<string, FakeRoute>): Promise<FakeApi> {
  const requests: SeenRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const text = Buffer.concat(chunks).toString('utf8');
      const seen: SeenRequest = {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: req.headers,
        body: text ? JSON.parse(text) : undefined,
      };
      requests.push(seen);
      const route = routes[`${seen.method} ${seen.path}`];
      const reply: FakeReply = route
        ? await route(seen)
        : { status: 404, body: { error: { code: 'not_found', message: `no route ${seen.method} ${seen.path}` } } };
      const status = reply.status ?? 200;
      if (reply.text !== undefined) {
        res.writeHead(status, { 'content-type': 'text/html' }).end(reply.text);
      } else if (reply.body === undefined) {
        res.writeHead(status).end();
      } else {
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(reply.body));
      }
    });
  });
  // Node closes idle kept-alive sockets after 5 s; a test file that pauses longer would meet
  // ECONNRESET on the reused socket. The real server (Fastify) keeps them 72 s.
  server.keepAliveTimeout = 72_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
