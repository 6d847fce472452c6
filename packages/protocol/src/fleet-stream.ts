import { z } from 'zod';
import { GpuHealthView, GpuState } from './health.js';
import { NodeStatus, NodeView } from './rest.js';

/**
 * GET /api/v1/stream: what the fleet stream sends, once a second at most, as `nodes` events.
 *
 * A node whose metrics were all that changed comes as a small `deltas` entry (readings, status,
 * liveness, health verdicts); a node where anything else changed (labels, inventory, a state
 * set by someone, a health finding) comes as its full view in `items`. A node is in one of the
 * two lists per event, never both. Anything a delta leaves out keeps the value of the last full
 * view (GET /api/v1/nodes/:ref or an `items` entry).
 */

/**
 * The readings of one GPU that move with every metrics sample, in this order: utilizationPct,
 * memoryUsedBytes, temperatureC, powerDrawW (as in its sample; null where the GPU did not report
 * one). A tuple rather than named fields: at 10,000 nodes a second's deltas are 1.2 MB with names
 * and 0.7 MB without, and the stream stops writing to a reader more than 1 MiB behind.
 */
export const GpuReadings = z.tuple([z.number().nullable(), z.number().nullable(), z.number().nullable(), z.number().nullable()]);
export type GpuReadings = z.infer<typeof GpuReadings>;

/** The health of a GPU or node when nothing is wrong: what an absent `health` in a delta stands for. */
export const PLAIN_HEALTHY: GpuHealthView = Object.freeze({ verdict: 'healthy', rule: null, cause: null, since: null });

/** Whether a health view says no more than PLAIN_HEALTHY (and can be left out of a delta). */
export function isPlainHealthy(h: GpuHealthView): boolean {
  return h.verdict === 'healthy' && h.rule === null && h.cause === null && h.since === null;
}

/**
 * One GPU in a delta, in the order of the node view's `gpus`. `state` is left out while READY and
 * `health` while plainly healthy: those are nearly every GPU, nearly every second.
 */
export const GpuDelta = z.object({
  /** The GPU's index, as in its view (a check that both list the GPUs alike). */
  index: z.number().int(),
  /** null: no sample from this GPU in the node's latest metrics. */
  readings: GpuReadings.nullable(),
  state: GpuState.optional(),
  health: GpuHealthView.optional(),
});
export type GpuDelta = z.infer<typeof GpuDelta>;

/** The host readings a delta carries (the node page shows these); disks and networks wait for a full view. */
export const HostReadings = z.object({
  cpuPct: z.number(),
  load1: z.number(),
  load5: z.number(),
  load15: z.number(),
  memoryUsedBytes: z.number(),
  memoryTotalBytes: z.number(),
});
export type HostReadings = z.infer<typeof HostReadings>;

/** What moves on a node between full views. */
export const NodeDelta = z.object({
  id: z.string(),
  status: NodeStatus,
  connected: z.boolean(),
  lastSeenAt: z.string().nullable(),
  /** When the node's latest metrics sample was taken (epoch ms); null before its first. */
  sampledAt: z.number().nullable(),
  host: HostReadings.nullable(),
  /** The node's verdict summary (its findings wait for a full view); left out while plainly healthy. */
  health: GpuHealthView.optional(),
  gpus: z.array(GpuDelta),
});
export type NodeDelta = z.infer<typeof NodeDelta>;

/** One `nodes` event. */
export const FleetStreamBatch = z.object({
  /** Full views of nodes where more than readings changed (or that are new). */
  items: z.array(NodeView),
  /** Readings and liveness of nodes where only those changed. */
  deltas: z.array(NodeDelta),
  /** Ids of decommissioned nodes. */
  removed: z.array(z.string()),
});
export type FleetStreamBatch = z.infer<typeof FleetStreamBatch>;
