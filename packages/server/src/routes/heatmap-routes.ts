import { z } from 'zod';
import type { App } from '../http/app.js';
import type { ServerContext } from '../context.js';
import { HeatmapBuilder } from '../services/fleet-heatmap.js';
import { FLEET_SLICE, forEachInSlices } from '../services/loop-slices.js';
import { sendSlicedJson } from '../http/sliced-json.js';

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
    async (req, reply) => {
      const { items } = await registry.list({ selector: req.query.selector, limit: Number.MAX_SAFE_INTEGER });
      // At 100,000 nodes (800,000 GPUs, 24 MB of JSON) building and writing it in one piece held
      // the event loop for seconds: both go a slice at a time.
      const heatmap = new HeatmapBuilder(ctx.clock.now());
      await forEachInSlices(items, FLEET_SLICE, (n) => heatmap.add(ctx.views.heatmapRow(n)));
      return sendSlicedJson(reply, heatmap.heatmap);
    },
  );
}
