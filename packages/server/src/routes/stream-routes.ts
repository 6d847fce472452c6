import { z } from 'zod';
import type { FastifyReply } from 'fastify';
import type { App } from '../http/app.js';
import type { ServerContext } from '../context.js';
import type { HubEvent } from '../events/event-hub.js';
import { resolveSseLimits, SseStream, type SseKind, type SseLimits } from '../streams/sse-stream.js';
import { FleetFeed } from '../streams/fleet-feed.js';

const RefParams = z.strictObject({ ref: z.string().min(1).max(200) });
const TokenQuery = z.strictObject({ access_token: z.string().optional() });

/**
 * Opens a Server-Sent Events response on a hijacked reply; `onClose` runs once when it ends.
 * `lossless` for streams whose every event matters (a run's output, one node's samples),
 * `latest-state` for the fleet stream (streams/sse-stream.ts).
 */
export function openSseStream(reply: FastifyReply, kind: SseKind, limits: SseLimits, onClose: () => void = () => {}): SseStream {
  reply.hijack();
  const stream = new SseStream(reply.raw, limits, kind);
  stream.onClose(onClose);
  return stream;
}

export function registerStreamRoutes(app: App, ctx: ServerContext, given: Partial<SseLimits> = {}): void {
  const limits = resolveSseLimits(given);

  // Fleet stream: changed nodes once a second, metrics-only changes as small deltas (streams/fleet-feed.ts).
  app.get(
    '/api/v1/stream',
    {
      config: { auth: 'viewer', sse: true },
      schema: {
        tags: ['streams'],
        summary: 'SSE: `nodes` events once a second: full views of nodes that changed, small deltas of nodes whose readings moved, removed ids',
        querystring: TokenQuery,
      },
    },
    async (_req, reply) => {
      new FleetFeed(ctx, openSseStream(reply, 'latest-state', limits)).start();
    },
  );

  app.get(
    '/api/v1/nodes/:ref/stream',
    {
      config: { auth: 'viewer', sse: true },
      schema: { tags: ['streams'], summary: 'SSE: live `metrics` samples and `node` changes of one node', params: RefParams, querystring: TokenQuery },
    },
    async (req, reply) => {
      const node = ctx.registry.resolve(req.params.ref);
      let unsubscribe = () => {};
      const stream = openSseStream(reply, 'lossless', limits, () => unsubscribe());
      unsubscribe = ctx.hub.subscribe((e: HubEvent) => {
        if (e.nodeId !== node.id || e.type === 'run') return;
        if (e.type === 'metrics') stream.send('metrics', ctx.metrics.latest(node.id));
        else {
          const current = ctx.registry.get(node.id);
          if (current) stream.send('node', ctx.views.view(current));
        }
      });
      stream.send('node', ctx.views.view(node));
    },
  );
}
