import { z } from 'zod';
import { NODE_STATUSES, parseSelector, matchesSelector, type FleetGpuRow, type NodeStatus } from '@gpufleet/protocol';
import type { App } from '../http/app.js';
import type { ServerContext } from '../context.js';
import { shortGpuModel } from '../services/builtin-labels.js';
import { parseSince } from './node-routes.js';

const SelectorQuery = z.strictObject({ selector: z.string().max(4096).optional() });
const AuditQuery = z.strictObject({
  since: z.string().max(32).optional(),
  actor: z.string().max(200).optional(),
  action: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(10_000).optional(),
});

export function registerFleetRoutes(app: App, ctx: ServerContext): void {
  const { registry } = ctx;

  app.get('/api/v1/gpus', { config: { auth: 'viewer' }, schema: { tags: ['gpus'], summary: 'Every GPU in the fleet with its node and latest readings', querystring: SelectorQuery } }, async (req) => {
    const selector = parseSelector(req.query.selector ?? '');
    const items: FleetGpuRow[] = [];
    for (const node of registry.list({ limit: Number.MAX_SAFE_INTEGER }).items) {
      if (!matchesSelector(selector, registry.labelsOf(node.id))) continue;
      const view = registry.view(node);
      // The verdict comes from the health engine through the node view (gpu.health).
      for (const gpu of view.gpus) items.push({ nodeId: node.id, hostname: node.hostname, nodeStatus: view.status, gpu, health: gpu.health.verdict });
    }
    return { items };
  });

  app.get('/api/v1/fleet/summary', { config: { auth: 'viewer' }, schema: { tags: ['fleet'], summary: 'Counts of nodes by status and GPUs by model, fleet power and utilization' } }, async () => {
    const byStatus = Object.fromEntries(NODE_STATUSES.map((s) => [s, 0])) as Record<NodeStatus, number>;
    const byModel: Record<string, number> = {};
    const byVendor: Record<string, number> = {};
    let gpus = 0;
    let power = 0;
    let utilSum = 0;
    let utilN = 0;
    const nodes = registry.all().filter((n) => n.adminState !== 'decommissioned');
    for (const node of nodes) {
      byStatus[registry.status(node)]++;
      for (const g of node.gpus) {
        gpus++;
        const model = shortGpuModel(g.name);
        byModel[model] = (byModel[model] ?? 0) + 1;
        byVendor[g.vendor] = (byVendor[g.vendor] ?? 0) + 1;
      }
      if (!registry.isOnline(node.id)) continue;
      for (const s of ctx.metrics.latest(node.id)?.gpus ?? []) {
        power += s.powerDrawW ?? 0;
        if (s.utilizationPct !== null) {
          utilSum += s.utilizationPct;
          utilN++;
        }
      }
    }
    return { nodes: { total: nodes.length, byStatus }, gpus: { total: gpus, byModel, byVendor }, powerDrawW: Math.round(power), avgGpuUtilPct: utilN ? Math.round((utilSum / utilN) * 10) / 10 : null };
  });

  app.get('/api/v1/audit', { config: { auth: 'admin' }, schema: { tags: ['audit'], summary: 'Audit log, newest first', querystring: AuditQuery } }, async (req) => {
    const entries = await ctx.store.listAudit({ since: parseSince(req.query.since, ctx.clock.now()), actor: req.query.actor, action: req.query.action, limit: req.query.limit });
    return { items: entries.map((e) => ({ ...e, at: new Date(e.at).toISOString() })) };
  });
}
