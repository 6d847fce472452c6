import { z } from 'zod';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { App } from '../http/app.js';
import type { ServerContext } from '../context.js';
import type { HubEvent } from '../events/event-hub.js';

const RefParams = z.strictObject({ ref: z.string().min(1).max(200) });
const TokenQuery = z.strictObject({ access_token: z.string().optional() });

/** Opens a Server-Sent Events response and returns a writer; `onClose` runs once. */
export function openSse(req: FastifyRequest, reply: FastifyReply, onClose: () => void): (event: string, data: unknown) => void {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  res.write('retry: 2000\n\n');
  // Comments keep proxies from closing an idle stream.
  const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    clearInterval(keepAlive);
    onClose();
  };
  req.raw.on('close', close);
  res.on('error', close);
  return (event, data) => {
    if (!closed) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  };
}

export function registerStreamRoutes(app: App, ctx: ServerContext): void {
  // Fleet stream: changed nodes, coalesced to one batch per second so 10,000 nodes stay cheap.
  app.get('/api/v1/stream', { config: { auth: 'viewer' }, schema: { tags: ['streams'], summary: 'SSE: `nodes` events with the views of nodes that changed (batched per second)', querystring: TokenQuery } }, async (req, reply) => {
    const changed = new Set<string>();
    const removed = new Set<string>();
    let unsubscribe = () => {};
    const timer = setInterval(() => {
      if (changed.size === 0 && removed.size === 0) return;
      const items = [...changed].map((id) => ctx.registry.get(id)).filter((n) => n !== undefined).map((n) => ctx.registry.view(n));
      changed.clear();
      send('nodes', { items, removed: [...removed] });
      removed.clear();
    }, 1000);
    const send = openSse(req, reply, () => {
      clearInterval(timer);
      unsubscribe();
    });
    unsubscribe = ctx.hub.subscribe((e: HubEvent) => {
      // Run progress is not a node change (10,000 targets would re-send every node view).
      if (e.type === 'run') return;
      if (e.type === 'node' && e.change === 'removed') removed.add(e.nodeId);
      else changed.add(e.nodeId);
    });
    send('hello', { serverTime: ctx.clock.now() });
  });

  app.get('/api/v1/nodes/:ref/stream', { config: { auth: 'viewer' }, schema: { tags: ['streams'], summary: 'SSE: live `metrics` samples and `node` changes of one node', params: RefParams, querystring: TokenQuery } }, async (req, reply) => {
    const node = ctx.registry.resolve(req.params.ref);
    let unsubscribe = () => {};
    const send = openSse(req, reply, () => unsubscribe());
    unsubscribe = ctx.hub.subscribe((e: HubEvent) => {
      if (e.nodeId !== node.id || e.type === 'run') return;
      if (e.type === 'metrics') send('metrics', ctx.metrics.latest(node.id));
      else {
        const current = ctx.registry.get(node.id);
        if (current) send('node', ctx.registry.view(current));
      }
    });
    send('node', ctx.registry.view(node));
  });
}
