import { z } from 'zod';
import { GpuState, ReportedVerdict } from './health.js';
import { NodeStatus } from './rest.js';

/**
 * GET /api/v1/fleet/heatmap: every GPU's latest readings in parallel arrays, small enough to
 * fetch for 10,000 nodes: about 2.2 MiB, where their full node views are about 90 MiB.
 *
 * `nodes.*` are parallel arrays, one entry per node (decommissioned ones left out, no particular
 * order). `gpus.*` are parallel arrays, one entry per GPU: the first `nodes.gpuCount[0]` belong
 * to the first node, the next `nodes.gpuCount[1]` to the second, and so on. `gpus.model`,
 * `gpus.health` and `gpus.state` are indexes into `models`, `verdicts` and `states`. Readings are
 * rounded to whole units (%, °C, W) and null where the GPU has not reported one.
 */
export const FleetHeatmap = z.object({
  /** When the readings were read, ISO 8601. */
  at: z.string(),
  models: z.array(z.string()),
  verdicts: z.array(ReportedVerdict),
  states: z.array(GpuState),
  nodes: z.object({
    id: z.array(z.string()),
    hostname: z.array(z.string()),
    status: z.array(NodeStatus),
    connected: z.array(z.boolean()),
    gpuCount: z.array(z.number().int().min(0)),
  }),
  /** When each node was last heard from (epoch ms, parallel to `nodes.id`; null: never): an offline node's readings are that old. */
  lastSeen: z.array(z.number().nullable()).optional(),
  gpus: z.object({
    index: z.array(z.number().int()),
    model: z.array(z.number().int().min(0)),
    util: z.array(z.number().int().nullable()),
    temp: z.array(z.number().int().nullable()),
    power: z.array(z.number().int().nullable()),
    health: z.array(z.number().int().min(0)),
    state: z.array(z.number().int().min(0)),
  }),
});
export type FleetHeatmap = z.infer<typeof FleetHeatmap>;
