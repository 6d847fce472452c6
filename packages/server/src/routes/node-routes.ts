import { z } from 'zod';
import { CLOSE_CODES, FleetError, NODE_SORT_HELP, NODE_SORTS, NODE_STATUSES, PatchLabelsRequest, parseDurationMs } from '@gpufleet/protocol';
import type { App } from '../http/app.js';
import type { ServerContext } from '../context.js';
import { actorOf } from '../health/actor.js';
import { registerNodeSparklineRoute } from './node-sparkline-route.js';
import { registerLabelAttestationRoutes } from './trust-routes.js';
import { audited } from './request-audit.js';
import { LazyItems, sendSlicedJson } from '../http/sliced-json.js';

const RefParams = z.strictObject({ ref: z.string().min(1).max(200) });
const ListQuery = z.strictObject({
  selector: z.string().max(4096).optional(),
  status: z.enum(NODE_STATUSES).optional(),
  q: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(10_000).optional(),
  offset: z.coerce.number().int().min(0).optional(),
  sort: z.enum(NODE_SORTS, { error: NODE_SORT_HELP }).optional(),
  access_token: z.string().optional(),
});
// Fastify hands a request without a body over as null: no body is as good as {}.
const CordonBody = z.strictObject({ reason: z.string().max(500).optional() }).nullish();
const MetricsQuery = z.strictObject({
  since: z.string().max(32).optional(),
  names: z.string().max(1000).optional(),
  access_token: z.string().optional(),
});

/** `since` as epoch ms, or a duration back from now such as 15m. */
export function parseSince(since: string | undefined, now: number): number | undefined {
  if (since === undefined || since === '') return undefined;
  if (/^\d{10,}$/.test(since)) return Number(since);
  try {
    return now - parseDurationMs(since);
  } catch {
    throw new FleetError('invalid_argument', `since '${since}' is neither epoch milliseconds nor a duration such as 15m`);
  }
}

export function registerNodeRoutes(app: App, ctx: ServerContext): void {
  const { registry, views } = ctx;

  app.get(
    '/api/v1/nodes',
    {
      config: { auth: 'viewer' },
      schema: { tags: ['nodes'], summary: 'List nodes (label selector, status, hostname search, sort, paging)', querystring: ListQuery },
    },
    async (req, reply) => {
      const { items, total } = await registry.list(req.query);
      // Views are made as the answer is written, a slice at a time: a page of 10,000 is ~100 MB.
      return sendSlicedJson(reply, { items: new LazyItems(items, (n) => views.view(n)), total });
    },
  );

  registerNodeSparklineRoute(app, ctx);
  registerLabelAttestationRoutes(app, {
    labels: ctx.trust.labels,
    nodes: {
      labelsOf: (id) => (registry.get(id) ? registry.labelsOf(id) : undefined),
      userLabelsOf: (id) => registry.get(id)?.userLabels,
      setUserLabels: (id, set, remove) => registry.setUserLabels(id, set, remove),
    },
  });

  app.get(
    '/api/v1/nodes/:ref',
    { config: { auth: 'viewer' }, schema: { tags: ['nodes'], summary: 'One node by id, id prefix or hostname', params: RefParams } },
    async (req) => {
      return views.view(registry.resolve(req.params.ref));
    },
  );

  app.patch(
    '/api/v1/nodes/:ref/labels',
    { config: { auth: 'operator' }, schema: { tags: ['nodes'], summary: 'Set or remove user labels', params: RefParams, body: PatchLabelsRequest } },
    async (req) => {
      return audited(req, 'node.labels', req.params.ref, async (audit) => {
        const node = registry.resolve(req.params.ref);
        const change = { hostname: node.hostname, set: req.body.set ?? {}, remove: req.body.remove ?? [] };
        await audit.note({ action: 'node.labels', target: node.id, result: 'ok', details: change });
        // Hosts vouch only for signed labels: once a node's labels are attested, changes must be signed too.
        ctx.trust.labels.checkUnsignedChange(node, change.set);
        const updated = await registry.setUserLabels(node.id, change.set, change.remove);
        return views.view(updated);
      });
    },
  );

  app.post(
    '/api/v1/nodes/:ref/approve',
    { config: { auth: 'admin' }, schema: { tags: ['nodes'], summary: 'Approve a PENDING node', params: RefParams } },
    async (req) => {
      return audited(req, 'node.approve', req.params.ref, async (audit) => {
        const node = registry.resolve(req.params.ref);
        await audit.note({ action: 'node.approve', target: node.id, result: 'ok', details: { hostname: node.hostname } });
        if (node.adminState !== 'pending') throw new FleetError('failed_precondition', `node ${node.hostname} is ${registry.status(node)}, not PENDING`);
        await registry.states.node(node.id, 'approve', actorOf(req.principal), null);
        return views.view(registry.get(node.id)!);
      });
    },
  );

  app.post(
    '/api/v1/nodes/:ref/cordon',
    { config: { auth: 'operator' }, schema: { tags: ['nodes'], summary: 'Stop placing new work on a node', params: RefParams, body: CordonBody } },
    async (req) => {
      return audited(req, 'node.cordon', req.params.ref, async (audit) => {
        const node = registry.resolve(req.params.ref);
        await audit.note({ action: 'node.cordon', target: node.id, result: 'ok', details: { hostname: node.hostname, reason: req.body?.reason ?? null } });
        await registry.states.node(node.id, 'cordon', actorOf(req.principal), req.body?.reason ?? null);
        return views.view(registry.get(node.id)!);
      });
    },
  );

  app.post(
    '/api/v1/nodes/:ref/uncordon',
    {
      config: { auth: 'operator' },
      schema: { tags: ['nodes'], summary: 'Allow new work on a cordoned, draining or drained node again', params: RefParams, body: CordonBody },
    },
    async (req) => {
      return audited(req, 'node.uncordon', req.params.ref, async (audit) => {
        const node = registry.resolve(req.params.ref);
        await audit.note({ action: 'node.uncordon', target: node.id, result: 'ok', details: { hostname: node.hostname, reason: req.body?.reason ?? null } });
        await registry.states.node(node.id, 'uncordon', actorOf(req.principal), req.body?.reason ?? null);
        return views.view(registry.get(node.id)!);
      });
    },
  );

  app.delete(
    '/api/v1/nodes/:ref',
    { config: { auth: 'admin' }, schema: { tags: ['nodes'], summary: 'Remove a node: revokes its key and closes its session', params: RefParams } },
    async (req, reply) => {
      await audited(req, 'node.remove', req.params.ref, async (audit) => {
        const node = registry.resolve(req.params.ref);
        await audit.note({ action: 'node.remove', target: node.id, result: 'ok', details: { hostname: node.hostname } });
        await registry.remove(node.id, actorOf(req.principal), null);
        ctx.metrics.dropNode(node.id);
        ctx.gateway.disconnect(node.id, CLOSE_CODES.forbidden, 'node removed from the fleet');
      });
      return reply.status(204).send();
    },
  );

  app.get(
    '/api/v1/nodes/:ref/metrics',
    {
      config: { auth: 'viewer' },
      schema: { tags: ['metrics'], summary: 'Recent metric series of a node (in-memory window)', params: RefParams, querystring: MetricsQuery },
    },
    async (req) => {
      const node = registry.resolve(req.params.ref);
      const names = req.query.names
        ? req.query.names
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : undefined;
      return ctx.metricReads.query(node.id, { since: parseSince(req.query.since, ctx.clock.now()), names });
    },
  );
}
