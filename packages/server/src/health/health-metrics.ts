import { REPORTED_VERDICTS, type GpuHealthView, type GpuInfo } from '@gpufleet/protocol';
import { escapeLabelValue, FamilyWriter, labelBlock } from '../metrics/exposition.js';
import type { EventCount } from './event-counter.js';
import { gpuKeyOf } from './gpu-keys.js';

/** What the health series are made of. */
export interface HealthSeriesInput {
  nodes: ReadonlyArray<{ id: string; hostname: string; gpus: readonly GpuInfo[] }>;
  /** The verdict of one GPU (the health engine's gpuHealth). */
  gpuHealth(nodeId: string, gpuKey: string, hasSample: boolean): GpuHealthView;
  /** Whether the GPU is in the node's latest metrics frame (default: yes). */
  hasSample?: (nodeId: string, gpuKey: string) => boolean;
  /** Agent events by kind and code (the health engine's counts.entries()). */
  eventCounts: readonly EventCount[];
}

const CHUNK_LINES = 8192;

/**
 * `gpufleet_gpu_health{node,hostname,gpu,UUID,verdict}`: 1 for the verdict each GPU has, 0 for
 * the others (healthy, degraded, unhealthy, unknown), and `gpufleet_health_events_total{kind,code}`.
 * Yields chunks of exposition text so a large fleet's scrape does not hold the event loop.
 */
export function* renderHealthSeries(input: HealthSeriesInput): Generator<string, void, undefined> {
  const f = new FamilyWriter('gpufleet_gpu_health', 'gauge', 'GPU health verdict from the health policy: 1 for the verdict the GPU has, 0 for the others.');
  for (const node of input.nodes) {
    const nodeLabels = `node="${escapeLabelValue(node.id)}",hostname="${escapeLabelValue(node.hostname)}"`;
    for (const g of node.gpus) {
      const key = gpuKeyOf(g);
      const verdict = input.gpuHealth(node.id, key, input.hasSample?.(node.id, key) ?? true).verdict;
      const base = `{${nodeLabels},gpu="${g.index}",UUID="${escapeLabelValue(g.uuid ?? '')}",verdict="`;
      for (const v of REPORTED_VERDICTS) f.sample(`${base}${v}"}`, v === verdict ? 1 : 0);
      if (f.pending >= CHUNK_LINES) yield f.flush();
    }
  }
  const rest = f.flush();
  if (rest !== '') yield rest;

  const c = new FamilyWriter(
    'gpufleet_health_events_total',
    'counter',
    'Health-relevant agent events (XID, SXid, fallen off the bus, driver, counter, GPU missing, tool failure) since the server started, by kind and code.',
  );
  for (const e of input.eventCounts)
    c.sample(
      labelBlock([
        ['kind', e.kind],
        ['code', e.code],
      ]),
      e.count,
    );
  const counts = c.flush();
  if (counts !== '') yield counts;
}
