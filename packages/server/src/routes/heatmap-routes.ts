import { z } from 'zod';
import type { App } from '../http/app.js';
import type { ServerContext } from '../context.js';
import { fleetHeatmap } from '../services/fleet-heatmap.js';

const HeatmapQuery = z.strictObject({ selector: z.string().max(4096).optional() });

export function registerHeatmapRoutes(app: App, ctx: Pick<ServerContext, 'registry' | 'views' | 'clock'>): void {
  const { registry } = ctx;
  // The overview draws every GPU of the fleet: full node views would be ~80 MB at 10,000 nodes.
  app.get(
    '/api/v1/fleet/heatmap',
    {
      config: { auth: 'viewer' },
      schema: {
        tags: ['fleet'],
        summary: "Every GPU's latest utilization, temperature, power, health and state, as parallel arrays (the overview heatmap)",
        querystring: HeatmapQuery,
      },
    },
    async (req) => {
      const { items } = registry.list({ selector: req.query.selector, limit: Number.MAX_SAFE_INTEGER });
      return fleetHeatmap(
        items.map((n) => ctx.views.heatmapRow(n)),
        ctx.clock.now(),
      );
    },
  );
}
