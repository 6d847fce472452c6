import { z } from 'zod';
import {
  FleetError,
  GPU_SORT_HELP,
  GPU_SORTS,
  GPU_STATES,
  NODE_STATUSES,
  REPORTED_VERDICTS,
  type FleetGpuRow,
  type GpuSample,
  type GpuSort,
  type NodeStatus,
  type NodeView,
} from '@gpufleet/protocol';
import type { App } from '../http/app.js';
import type { ServerContext } from '../context.js';
import { shortGpuModel } from '../services/builtin-labels.js';
import { gpuFilter, sortGpus, type GpuFilter, type GpuRowFacts } from '../services/gpu-order.js';
import { gpuKeyOf } from '../health/gpu-keys.js';
import { RecentOrders } from '../services/recent-orders.js';
import { parseSince } from './node-routes.js';
import { LazyItems, sendSlicedJson } from '../http/sliced-json.js';
import { FLEET_SLICE, forEachInSlices } from '../services/loop-slices.js';

const GpuListQuery = z.strictObject({
  selector: z.string().max(4096).optional(),
  model: z.string().max(200).optional(),
  state: z.enum(GPU_STATES, { error: `state must be one of ${GPU_STATES.join(', ')}` }).optional(),
  health: z.enum(REPORTED_VERDICTS, { error: `health must be one of ${REPORTED_VERDICTS.join(', ')}` }).optional(),
  node: z.string().max(200).optional(),
  sort: z.enum(GPU_SORTS, { error: GPU_SORT_HELP }).optional(),
  limit: z.coerce
    .number({ error: 'limit must be a whole number' })
    .int('limit must be a whole number')
    .min(1, 'limit must be at least 1')
    .max(10_000, 'limit must be at most 10000')
    .optional(),
  offset: z.coerce.number({ error: 'offset must be a whole number' }).int('offset must be a whole number').min(0, 'offset must be 0 or more').optional(),
});
const AuditQuery = z.strictObject({
  since: z.string().max(32).optional(),
  actor: z.string().max(200).optional(),
  action: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(10_000).optional(),
});

/** How long the GPU list keeps one query's order for the next pages of it (at least). */
export const GPU_ORDER_TTL_MS = 2000;

/**
 * Without `limit`, at most this many GPUs come back in one response; past it the request is refused
 * and pages must be asked for. At 100,000 nodes the whole list (800,000 GPUs, ~1 KB of JSON each)
 * is longer than a JavaScript string may be: building it blocked the server for half a minute and
 * then failed (measured, docs/benchmarks.md).
 */
export const GPU_LIST_UNPAGED_MAX = 10_000;

/** GPU rows made per slice of an answer (a row carries its GPU's whole view, ~1 KB). */
const GPU_ROW_SLICE = 500;

export function registerFleetRoutes(app: App, ctx: ServerContext): void {
  const { registry, views: nodeViews } = ctx;
  const orders = new RecentOrders<GpuRowFacts>(GPU_ORDER_TTL_MS, 8);

  /*
   * Filters and sorts on small per-GPU facts (readings, state, verdict), then builds full node
   * views only for the nodes on the requested page: at 10,000 nodes the views of the whole fleet
   * are ~90 MiB and most of a second, one page of them a few milliseconds. Without `limit` every
   * GPU comes back (the CLI's `gpus ls`); the dashboard always asks for pages.
   *
   * Sorting 80,000 GPUs takes a few hundred milliseconds on a small machine, and a scrolled page
   * asks for several pages of one order: the order (not the readings, which each page reads
   * fresh) is kept for GPU_ORDER_TTL_MS per query (longer when it took long to make: RecentOrders),
   * so a page's membership may lag that much.
   */
  app.get(
    '/api/v1/gpus',
    {
      config: { auth: 'viewer' },
      schema: {
        tags: ['gpus'],
        summary:
          'Every GPU in the fleet with its node, latest readings and the allocation holding it (label selector, model, state, health, node, sort, paging; without limit at most 10,000 GPUs, else 400)',
        querystring: GpuListQuery,
      },
    },
    async (req, reply) => {
      const { selector, sort, limit, offset = 0, ...filter } = req.query;
      const sorted = await orders.get(JSON.stringify([selector, filter, sort]), ctx.clock, () => gpuRows(selector, filter, sort));
      if (limit === undefined && sorted.length - offset > GPU_LIST_UNPAGED_MAX) {
        throw new FleetError(
          'invalid_argument',
          `${sorted.length - offset} GPUs match, more than ${GPU_LIST_UNPAGED_MAX} in one response: ask for pages with limit (at most 10000) and offset (\`gpufleet gpus ls\` pages by itself)`,
          { details: { total: sorted.length, max: GPU_LIST_UNPAGED_MAX } },
        );
      }
      const page = limit === undefined ? sorted.slice(offset) : sorted.slice(offset, offset + limit);
      // Rows are made as the answer is written, a slice at a time; a node's view once for its GPUs.
      const views = new Map<string, NodeView>();
      const row = (r: GpuRowFacts): FleetGpuRow | undefined => {
        const node = registry.get(r.nodeId);
        if (!node) return undefined; // removed since the order was kept
        let view = views.get(r.nodeId);
        if (!view) views.set(r.nodeId, (view = nodeViews.view(node)));
        const gpu = view.gpus[r.position];
        if (!gpu) return undefined;
        // The verdict comes from the health engine through the node view (gpu.health).
        return { nodeId: r.nodeId, hostname: node.hostname, nodeStatus: view.status, gpu, health: gpu.health.verdict, allocation: gpu.allocation ?? null };
      };
      return sendSlicedJson(reply, { items: new LazyItems(page, row, GPU_ROW_SLICE), total: sorted.length });
    },
  );

  /** Every GPU of the nodes the selector picks, as small facts, filtered and sorted. */
  async function gpuRows(selector: string | undefined, filter: GpuFilter, sort: GpuSort | undefined): Promise<GpuRowFacts[]> {
    const keep = gpuFilter(filter);
    const rows: GpuRowFacts[] = [];
    const { items: nodes } = await registry.list({ selector, limit: Number.MAX_SAFE_INTEGER });
    await forEachInSlices(nodes, FLEET_SLICE, (node) => {
      const row = nodeViews.heatmapRow(node);
      const samples = new Map<string, GpuSample>();
      for (const s of ctx.metrics.latest(node.id)?.gpus ?? []) samples.set(s.uuid ?? s.pciBusId ?? `#${s.index}`, s);
      node.gpus.forEach((g, position) => {
        // An offline node's last readings are history, not the present: they are shown stale, never sorted as live.
        const sample = row.connected ? (samples.get(gpuKeyOf(g)) ?? null) : null;
        const facts: GpuRowFacts = {
          nodeId: node.id,
          hostname: node.hostname,
          nodeStatus: row.status,
          position,
          index: g.index,
          model: shortGpuModel(g.name),
          state: (row.gpus[position]?.state ?? 'READY') as GpuRowFacts['state'],
          health: (row.gpus[position]?.health.verdict ?? 'unknown') as GpuRowFacts['health'],
          util: sample?.utilizationPct ?? null,
          temp: sample?.temperatureC ?? null,
          power: sample?.powerDrawW ?? null,
          memoryUsed: sample?.memoryUsedBytes ?? null,
        };
        if (keep(facts)) rows.push(facts);
      });
    });
    return await sortGpus(rows, sort);
  }

  app.get(
    '/api/v1/fleet/summary',
    { config: { auth: 'viewer' }, schema: { tags: ['fleet'], summary: 'Counts of nodes by status and GPUs by model, fleet power and utilization' } },
    async () => {
      const byStatus = Object.fromEntries(NODE_STATUSES.map((s) => [s, 0])) as Record<NodeStatus, number>;
      const byModel: Record<string, number> = {};
      const byVendor: Record<string, number> = {};
      let gpus = 0;
      let power = 0;
      let utilSum = 0;
      let utilN = 0;
      const nodes = registry.all().filter((n) => n.adminState !== 'decommissioned');
      await forEachInSlices(nodes, FLEET_SLICE, (node) => {
        byStatus[registry.status(node)]++;
        for (const g of node.gpus) {
          gpus++;
          const model = shortGpuModel(g.name);
          byModel[model] = (byModel[model] ?? 0) + 1;
          byVendor[g.vendor] = (byVendor[g.vendor] ?? 0) + 1;
        }
        if (!registry.isOnline(node.id)) return;
        for (const s of ctx.metrics.latest(node.id)?.gpus ?? []) {
          power += s.powerDrawW ?? 0;
          if (s.utilizationPct !== null) {
            utilSum += s.utilizationPct;
            utilN++;
          }
        }
      });
      return {
        nodes: { total: nodes.length, byStatus },
        gpus: { total: gpus, byModel, byVendor },
        powerDrawW: Math.round(power),
        avgGpuUtilPct: utilN ? Math.round((utilSum / utilN) * 10) / 10 : null,
      };
    },
  );

  app.get(
    '/api/v1/audit',
    { config: { auth: 'admin' }, schema: { tags: ['audit'], summary: 'Audit log, newest first', querystring: AuditQuery } },
    async (req) => {
      const entries = await ctx.store.listAudit({
        since: parseSince(req.query.since, ctx.clock.now()),
        actor: req.query.actor,
        action: req.query.action,
        limit: req.query.limit,
      });
      return { items: entries.map((e) => ({ ...e, at: new Date(e.at).toISOString() })) };
    },
  );
}
