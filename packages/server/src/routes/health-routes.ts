import { z } from 'zod';
import {
  AgentEvent,
  DrainRequest,
  FleetError,
  GpuCordonRequest,
  HEALTH_TIMELINE_KINDS,
  HealthClearRequest,
  XID_CATALOG_VERSION,
  matchesSelector,
  normalizePciBusId,
  parseDurationMs,
  parseSelector,
  type NodeView,
} from '@gpufleet/protocol';
import type { App } from '../http/app.js';
import type { ServerContext } from '../context.js';
import type { HealthEngine } from '../health/health-engine.js';
import { actorOf } from '../health/actor.js';
import { gpuKeyOf, resolveGpuRef } from '../health/gpu-keys.js';
import { readTimeline, type TimelineQuery } from '../health/timeline.js';
import { parseSince } from './node-routes.js';
import { audited } from './request-audit.js';

/** The server context with the health engine (server.ts adds it as `health`). */
export type HealthRouteContext = ServerContext & { health: HealthEngine };

const RefParams = z.strictObject({ ref: z.string().min(1).max(200) });
const GpuParams = z.strictObject({ ref: z.string().min(1).max(200), gpu: z.string().min(1).max(128) });
const EVENT_KINDS: [string, ...string[]] = [...HEALTH_TIMELINE_KINDS, ...AgentEvent.shape.kind.options];
const EventsQuery = z.strictObject({
  node: z.string().min(1).max(200).optional(),
  gpu: z.string().min(1).max(128).optional(),
  kind: z.enum(EVENT_KINDS).optional(),
  /** Comma-separated kinds to leave out, e.g. run-started,run-output,run-result,run-refused. */
  exclude: z.string().max(1000).optional(),
  since: z.string().max(32).optional(),
  selector: z.string().max(4096).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
  access_token: z.string().optional(),
});

const MAX_DRAIN_MS = 7 * 86_400_000;

/** Drain, GPU cordon/uncordon, health clear, the events timeline and the policy in force. */
export function registerHealthRoutes(app: App, ctx: HealthRouteContext): void {
  const { registry, health, views, drains } = ctx;
  const view = (id: string): NodeView => views.view(registry.get(id)!);

  app.post(
    '/api/v1/nodes/:ref/drain',
    {
      config: { auth: 'operator' },
      schema: {
        tags: ['nodes'],
        summary: 'Stop new work on a node and wait for running work to end (or the timeout): DRAINING, then DRAINED',
        params: RefParams,
        body: DrainRequest.nullish(),
      },
    },
    async (req) => {
      return audited(req, 'node.drain', req.params.ref, async (audit) => {
        const node = registry.resolve(req.params.ref);
        await audit.note({
          action: 'node.drain',
          target: node.id,
          result: 'ok',
          details: { hostname: node.hostname, reason: req.body?.reason ?? null, timeout: req.body?.timeout ?? null },
        });
        let timeoutMs: number | undefined;
        if (req.body?.timeout !== undefined) {
          timeoutMs = parseDurationMs(req.body.timeout);
          if (timeoutMs < 1000 || timeoutMs > MAX_DRAIN_MS) throw new FleetError('invalid_argument', `timeout '${req.body.timeout}' must be between 1s and 7d`);
        }
        await drains.drain(node.id, actorOf(req.principal), req.body?.reason ?? null, timeoutMs === undefined ? {} : { timeoutMs });
        return view(node.id);
      });
    },
  );

  for (const op of ['cordon', 'uncordon'] as const) {
    app.post(
      `/api/v1/nodes/:ref/gpus/:gpu/${op}`,
      {
        config: { auth: 'operator' },
        schema: {
          tags: ['gpus'],
          summary: op === 'cordon' ? "Stop placing new work on one GPU (the node's other GPUs stay usable)" : 'Allow new work on a cordoned GPU again',
          params: GpuParams,
          body: GpuCordonRequest.nullish(),
        },
      },
      async (req) => {
        return audited(req, `gpu.${op}`, req.params.ref, async (audit) => {
          const node = registry.resolve(req.params.ref);
          const gpu = resolveGpuRef(node.hostname, node.gpus, req.params.gpu);
          const key = gpuKeyOf(gpu);
          await audit.note({
            action: `gpu.${op}`,
            target: node.id,
            result: 'ok',
            details: { hostname: node.hostname, gpu: key, reason: req.body?.reason ?? null },
          });
          await registry.states.gpu(node.id, key, op, actorOf(req.principal), req.body?.reason ?? null);
          return view(node.id);
        });
      },
    );
  }

  app.post(
    '/api/v1/nodes/:ref/health/clear',
    {
      config: { auth: 'operator' },
      schema: {
        tags: ['health'],
        summary: 'Clear the health verdicts of a node (and its GPUs) or of one GPU; UNHEALTHY and policy cordons go back to READY',
        params: RefParams,
        body: HealthClearRequest,
      },
    },
    async (req) => {
      return audited(req, 'health.clear', req.params.ref, async (audit) => {
        const node = registry.resolve(req.params.ref);
        const gpuKey = req.body.gpu === undefined ? null : gpuKeyOf(resolveGpuRef(node.hostname, node.gpus, req.body.gpu));
        const details = { hostname: node.hostname, gpu: gpuKey, reason: req.body.reason };
        await audit.note({ action: 'health.clear', target: node.id, result: 'ok', details });
        const { cleared } = await health.clear(node.id, gpuKey, actorOf(req.principal), req.body.reason);
        await audit.note({ action: 'health.clear', target: node.id, result: 'ok', details: { ...details, cleared } });
        return { cleared, node: view(node.id) };
      });
    },
  );

  app.get(
    '/api/v1/events',
    {
      config: { auth: 'viewer' },
      schema: {
        tags: ['health'],
        summary: 'Events timeline, newest first: raw agent events (XID, counters, ...), verdict changes and state transitions',
        querystring: EventsQuery,
      },
    },
    async (req) => {
      const q = req.query;
      const query: TimelineQuery = { limit: q.limit ?? 100 };
      const since = parseSince(q.since, ctx.clock.now());
      if (since !== undefined) query.since = since;
      if (q.kind !== undefined) query.kind = q.kind;
      if (q.exclude !== undefined && q.exclude.trim() !== '') {
        const kinds = q.exclude
          .split(',')
          .map((k) => k.trim())
          .filter((k) => k !== '');
        const unknown = kinds.find((k) => !EVENT_KINDS.includes(k));
        if (unknown !== undefined)
          throw new FleetError('invalid_argument', `exclude: '${unknown.slice(0, 40)}' is not an event kind (one of ${EVENT_KINDS.join(', ')})`);
        query.excludeKinds = kinds;
      }
      const node = q.node === undefined ? undefined : registry.resolve(q.node);
      if (q.selector !== undefined && q.selector !== '') {
        const selector = parseSelector(q.selector);
        const ids = registry
          .all()
          .filter((n) => matchesSelector(selector, registry.labelsOf(n.id)))
          .map((n) => n.id);
        // A selector every node matches filters nothing: no need to send the whole fleet's ids.
        if (node) query.nodeIds = ids.filter((id) => id === node.id);
        else if (ids.length < registry.size) query.nodeIds = ids;
      } else if (node) {
        query.nodeIds = [node.id];
      }
      if (q.gpu !== undefined) {
        if (node) {
          const g = resolveGpuRef(node.hostname, node.gpus, q.gpu);
          query.gpu = { keys: [...new Set([gpuKeyOf(g), g.uuid, g.pciBusId].filter((k): k is string => k !== null))], uuid: g.uuid, pciBusId: g.pciBusId };
        } else if (/^\d{1,3}$/.test(q.gpu)) {
          throw new FleetError('invalid_argument', `GPU '${q.gpu}' is an index: give the node too (node=...), or a UUID or PCI bus id`);
        } else {
          const pci = normalizePciBusId(q.gpu);
          query.gpu = { keys: pci ? [q.gpu, pci] : [q.gpu], uuid: pci ? null : q.gpu, pciBusId: pci };
        }
      }
      return { items: await readTimeline(ctx.store, query, (id) => registry.get(id)?.hostname ?? null) };
    },
  );

  app.get(
    '/api/v1/health/policy',
    { config: { auth: 'viewer' }, schema: { tags: ['health'], summary: 'The health policy in force: its file and every rule as written' } },
    async () => {
      return { source: health.policy.source, catalogVersion: XID_CATALOG_VERSION, rules: health.policy.rules.map((r) => r.spec) };
    },
  );
}
