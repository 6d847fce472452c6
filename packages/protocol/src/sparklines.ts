import { z } from 'zod';

/** At most this many node ids per GET /api/v1/sparklines: one page of the dashboard's table. */
export const SPARKLINE_MAX_IDS = 200;
/** Points per sparkline when the request does not say; also the most the dashboard draws. */
export const SPARKLINE_DEFAULT_POINTS = 30;
export const SPARKLINE_MAX_POINTS = 60;

/** One node's recent history, one value per bucket (null: no reading in that bucket). */
export const NodeSparkline = z.object({
  id: z.string(),
  /** Mean utilization of the node's GPUs (%), averaged over each bucket. */
  util: z.array(z.number().nullable()),
  /** Temperature of the node's hottest GPU (°C), averaged over each bucket. */
  temp: z.array(z.number().nullable()),
});
export type NodeSparkline = z.infer<typeof NodeSparkline>;

export const NodeSparklines = z.object({
  /** Epoch ms where the first bucket starts; bucket i covers [start + i*bucketMs, start + (i+1)*bucketMs). */
  start: z.number().int(),
  bucketMs: z.number().int().positive(),
  /** Buckets per series (every util and temp array has this length). */
  points: z.number().int().positive(),
  items: z.array(NodeSparkline),
  /** Asked-for ids the server does not know (removed meanwhile): no series for them. */
  missing: z.array(z.string()),
});
export type NodeSparklines = z.infer<typeof NodeSparklines>;
