import { describe, expect, it } from 'vitest';
import { FleetHeatmap, type NodeView } from '@gpufleet/protocol';
import { HeatmapBuilder, type HeatmapNode } from './fleet-heatmap.js';

/** The heatmap of `views`, added one at a time as the route adds them. */
function fleetHeatmap(views: readonly HeatmapNode[], at: number) {
  const builder = new HeatmapBuilder(at);
  for (const view of views) builder.add(view);
  return builder.heatmap;
}

function gpu(index: number, name: string | null, sample: Record<string, number | null> | null, verdict = 'healthy', state = 'READY') {
  return { index, name, sample, state, health: { verdict, rule: null, cause: null, since: null } };
}
function node(id: string, status: string, connected: boolean, gpus: unknown[]): NodeView {
  return { id, hostname: `host-${id}`, status, connected, gpus } as unknown as NodeView;
}

describe('HeatmapBuilder', () => {
  const at = Date.UTC(2026, 0, 2, 3, 4, 5);
  const heat = fleetHeatmap(
    [
      node('a', 'READY', true, [
        gpu(0, 'NVIDIA H100 80GB HBM3', { utilizationPct: 87.6, temperatureC: 61.2, powerDrawW: 512.5 }),
        gpu(1, 'NVIDIA H100 80GB HBM3', { utilizationPct: 3.4, temperatureC: null, powerDrawW: Number.NaN }, 'unhealthy', 'UNHEALTHY'),
      ]),
      node('gone', 'DECOMMISSIONED', false, [gpu(0, 'NVIDIA A100', { utilizationPct: 50, temperatureC: 50, powerDrawW: 50 })]),
      node('b', 'OFFLINE', false, [gpu(3, null, null, 'unknown', 'CORDONED')]),
      node('c', 'PENDING', true, []),
    ],
    at,
  );

  it('matches its published schema', () => {
    expect(FleetHeatmap.safeParse(heat).success).toBe(true);
  });
  it('has one node entry per node and one GPU entry per GPU, decommissioned nodes left out', () => {
    expect(heat.at).toBe('2026-01-02T03:04:05.000Z');
    expect(heat.nodes).toEqual({
      id: ['a', 'b', 'c'],
      hostname: ['host-a', 'host-b', 'host-c'],
      status: ['READY', 'OFFLINE', 'PENDING'],
      connected: [true, false, true],
      gpuCount: [2, 1, 0],
    });
    expect(heat.gpus.index).toEqual([0, 1, 3]);
  });
  it('rounds readings to whole units and keeps missing or garbage ones null', () => {
    expect(heat.gpus.util).toEqual([88, 3, null]);
    expect(heat.gpus.temp).toEqual([61, null, null]);
    expect(heat.gpus.power).toEqual([513, null, null]);
  });
  it('codes models, verdicts and states as indexes into their tables', () => {
    const decode = <T>(table: readonly T[], codes: number[]) => codes.map((c) => table[c]);
    expect(decode(heat.models, heat.gpus.model)).toEqual(['NVIDIA H100 80GB HBM3', 'NVIDIA H100 80GB HBM3', 'unknown']);
    expect(heat.models).toEqual(['NVIDIA H100 80GB HBM3', 'unknown']);
    expect(decode(heat.verdicts, heat.gpus.health)).toEqual(['healthy', 'unhealthy', 'unknown']);
    expect(decode(heat.states, heat.gpus.state)).toEqual(['READY', 'UNHEALTHY', 'CORDONED']);
  });
  it('is empty, not broken, for an empty fleet', () => {
    const empty = fleetHeatmap([], at);
    expect(empty.nodes.id).toEqual([]);
    expect(empty.gpus.util).toEqual([]);
    expect(FleetHeatmap.safeParse(empty).success).toBe(true);
  });
});
