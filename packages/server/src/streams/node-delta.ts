import { isPlainHealthy, type GpuDelta, type GpuHealthView, type GpuView, type NodeDelta, type NodeView } from '@gpufleet/protocol';

function gpuDeltaOf(g: GpuView): GpuDelta {
  const s = g.sample;
  const d: GpuDelta = { index: g.index, readings: s ? [s.utilizationPct, s.memoryUsedBytes, s.temperatureC, s.powerDrawW] : null };
  if (g.state !== 'READY') d.state = g.state;
  if (!isPlainHealthy(g.health)) d.health = g.health;
  return d;
}

/**
 * The part of a node view that moves with every metrics sample (see protocol fleet-stream.ts).
 * Made from the view itself, so a delta can never say something the full view would not.
 */
export function nodeDeltaOf(v: NodeView, sampledAt: number | null): NodeDelta {
  const h = v.host;
  const d: NodeDelta = {
    id: v.id,
    status: v.status,
    connected: v.connected,
    lastSeenAt: v.lastSeenAt,
    sampledAt,
    host: h
      ? { cpuPct: h.cpuPct, load1: h.load1, load5: h.load5, load15: h.load15, memoryUsedBytes: h.memoryUsedBytes, memoryTotalBytes: h.memoryTotalBytes }
      : null,
    gpus: v.gpus.map(gpuDeltaOf),
  };
  const health: GpuHealthView = { verdict: v.health.verdict, rule: v.health.rule, cause: v.health.cause, since: v.health.since };
  if (!isPlainHealthy(health)) d.health = health;
  return d;
}
