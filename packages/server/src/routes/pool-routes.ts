import { isAbsolute } from 'node:path';
import { z } from 'zod';
import {
  FleetError,
  parsePoolsFile,
  POOL_NAME,
  POOLS_FILE_MAX_BYTES,
  type ApplyPoolsRequest,
  type PoolEventView,
  type ReplaceNodeRequest,
  type ScalePoolRequest,
} from '@gpufleet/protocol';
import type { App } from '../http/app.js';
import type { PoolsApi } from '../pools/pools-api.js';
import { audited } from './request-audit.js';

/** A pool name in a path, checked as the pools file checks it. */
export const PoolName = z
  .string()
  .max(63)
  .regex(POOL_NAME, 'a pool name is lowercase letters, digits and -, at most 63, starting and ending with a letter or digit');
const PoolParams = z.strictObject({ name: PoolName });

/** Pages of pool events: oldest first after `after`; without it, the newest `limit`. */
export const POOL_EVENTS_MAX_LIMIT = 1000;
const EventsQuery = z.strictObject({
  after: z.coerce.number({ error: 'after must be an event id' }).int('after must be an event id').min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  limit: z.coerce
    .number({ error: 'limit must be a whole number' })
    .int('limit must be a whole number')
    .min(1, 'limit is at least 1')
    .max(POOL_EVENTS_MAX_LIMIT, `limit is at most ${POOL_EVENTS_MAX_LIMIT}`)
    .optional(),
});

const Reason = z.string().trim().min(1, 'say why (reason)').max(500, 'reason is at most 500 characters');

const ApplyBody = z.strictObject({
  source: z.string().min(1, 'source is the pools file text').max(POOLS_FILE_MAX_BYTES),
  // Put in front of each error's position: one line of plain text.
  filename: z
    .string()
    .min(1)
    .max(255)
    .regex(/^[^\u0000-\u001f\u007f]+$/, 'filename is one line of text')
    .optional(),
  baseDir: z.string().min(1).max(4096).refine(isAbsolute, 'baseDir is an absolute path').optional(),
}) satisfies z.ZodType<ApplyPoolsRequest>;

const ScaleBody = z.strictObject({
  to: z.number({ error: 'to is a number of nodes' }).int('to is a whole number of nodes').min(0).max(100_000),
  reason: Reason,
}) satisfies z.ZodType<ScalePoolRequest>;

const ReplaceBody = z.strictObject({
  /** A node id or hostname. */
  node: z.string().min(1, 'node names the node to replace (id or hostname)').max(200),
  reason: Reason,
}) satisfies z.ZodType<ReplaceNodeRequest>;

/** The pools file's text (1 MiB at most) once JSON-escaped, whatever the server's general body limit. */
export const POOLS_APPLY_BODY_LIMIT = 3 * 1024 * 1024;

/** What the pool routes need (a ServerContext fits); read at each request, so the pool manager may come later. */
export interface PoolRouteDeps {
  pools: PoolsApi;
}

/** A page of events and the cursor to ask for the next (`after`): the last id, or the one given when there is nothing new. */
function eventPage(items: PoolEventView[], after: number | undefined): { items: PoolEventView[]; next: number | null } {
  return { items, next: items.at(-1)?.id ?? after ?? null };
}

/**
 * Pools over REST: list and read pools, their events, apply a pools file (admin: it names cloud
 * endpoints, credentials' variables and files on the server), scale a pool and replace a node
 * (operator). Each change is one audit record under its pool action.
 */
export function registerPoolRoutes(app: App, ctx: PoolRouteDeps): void {
  app.get(
    '/api/v1/pools',
    {
      config: { auth: 'viewer' },
      schema: { tags: ['pools'], summary: 'Pools: provider, nodes ready of desired (min..max), GPUs, allocated share, cost per hour, operations in flight' },
    },
    async () => ({ items: await ctx.pools.list() }),
  );

  app.get(
    '/api/v1/pools/:name',
    {
      config: { auth: 'viewer' },
      schema: {
        tags: ['pools'],
        summary: 'One pool: its settings, members (instance, node, state, health), operations with their stage, size over time',
        params: PoolParams,
      },
    },
    async (req) => ctx.pools.get(req.params.name),
  );

  app.get(
    '/api/v1/pools/:name/events',
    {
      config: { auth: 'viewer' },
      schema: {
        tags: ['pools'],
        summary: "A pool's decisions and steps with their reasons: oldest first after `after` (follow with `next`), else the newest `limit` (100)",
        params: PoolParams,
        querystring: EventsQuery,
      },
    },
    async (req) => {
      const { name } = req.params;
      const { after, limit } = req.query;
      // An unknown name would only ever read as "no events yet": say it is unknown instead.
      const pools = await ctx.pools.list();
      if (!pools.some((p) => p.name === name)) {
        const known = pools.length > 0 ? ` (pools: ${pools.map((p) => p.name).join(', ')})` : ' (no pools are applied)';
        throw new FleetError('not_found', `no pool '${name}'${known}`);
      }
      const items = await ctx.pools.events(name, { ...(after === undefined ? {} : { after }), ...(limit === undefined ? {} : { limit }) });
      return eventPage(items, after);
    },
  );

  app.get(
    '/api/v1/pool-events',
    {
      config: { auth: 'viewer' },
      schema: {
        tags: ['pools'],
        summary: 'Events of every pool: oldest first after `after` (follow with `next`), else the newest `limit` (100)',
        querystring: EventsQuery,
      },
    },
    async (req) => {
      const { after, limit } = req.query;
      const items = await ctx.pools.events(null, { ...(after === undefined ? {} : { after }), ...(limit === undefined ? {} : { limit }) });
      return eventPage(items, after);
    },
  );

  app.post(
    '/api/v1/pools/apply',
    {
      bodyLimit: POOLS_APPLY_BODY_LIMIT,
      config: { auth: 'admin' },
      schema: {
        tags: ['pools'],
        summary:
          'Apply a whole pools file (YAML text): its providers and pools replace those applied before; answers what was created, updated, unchanged or removed (400 names the line and field of each problem)',
        body: ApplyBody,
      },
    },
    async (req) =>
      audited(req, 'pools.apply', req.body.filename ?? null, async (audit) => {
        const { source, filename, baseDir } = req.body;
        const config = parsePoolsFile(source, filename === undefined ? {} : { file: filename });
        const result = await ctx.pools.apply(config, baseDir ?? process.cwd(), audit.actor);
        const changed = (list: typeof result.pools) => list.filter((c) => c.change !== 'unchanged').map((c) => `${c.name}:${c.change}`);
        await audit.note({
          action: 'pools.apply',
          target: filename ?? null,
          result: 'ok',
          details: { pools: changed(result.pools), providers: changed(result.providers) },
        });
        return result;
      }),
  );

  app.post(
    '/api/v1/pools/:name/scale',
    {
      config: { auth: 'operator' },
      schema: {
        tags: ['pools'],
        summary: "Set a pool's desired size within min..max, with the reason; the pool manager provisions or removes idle nodes to reach it",
        params: PoolParams,
        body: ScaleBody,
      },
    },
    async (req) =>
      audited(req, 'pool.scale', req.params.name, async (audit) => {
        const { to, reason } = req.body;
        // Noted first, so a refused scale is recorded with what was asked too.
        await audit.note({ action: 'pool.scale', target: req.params.name, result: 'ok', details: { to, reason } });
        return ctx.pools.scale(req.params.name, to, reason, audit.actor);
      }),
  );

  app.post(
    '/api/v1/pools/:name/replace',
    {
      config: { auth: 'operator' },
      schema: {
        tags: ['pools'],
        summary: 'Mark a node of the pool for replacement: cordoned now, a replacement provisioned, then the node drained and terminated',
        params: PoolParams,
        body: ReplaceBody,
      },
    },
    async (req) =>
      audited(req, 'pool.replace', req.params.name, async (audit) => {
        const { node, reason } = req.body;
        await audit.note({ action: 'pool.replace', target: req.params.name, result: 'ok', details: { node, reason } });
        const op = await ctx.pools.replace(req.params.name, node, reason, audit.actor);
        await audit.note({ action: 'pool.replace', target: req.params.name, result: 'ok', details: { node, reason, operation: op.id } });
        return op;
      }),
  );
}
