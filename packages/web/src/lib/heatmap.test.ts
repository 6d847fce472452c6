// @vitest-environment jsdom
import { describe, expect, it } from 'vitest';
import type { NodeView } from '@gpufleet/protocol';
import { cellTitle, healthOutline, heatCells, utilColor } from './heatmap.js';

function gpu(index: number, util: number | null, verdict: string, state = 'READY') {
  return {
    index,
    name: 'NVIDIA H100 80GB HBM3',
    uuid: `GPU-${index}`,
    pciBusId: null,
    state,
    health: { verdict, rule: null, cause: null, since: null },
    sample: util === null ? null : { utilizationPct: util, temperatureC: 60, powerDrawW: 300 },
  };
}
function node(hostname: string, status: string, gpus: unknown[], connected = true): NodeView {
  return { id: `id-${hostname}`, hostname, status, connected, gpus } as unknown as NodeView;
}

describe('heatmap colour and outline', () => {
  it('colours by utilization from blue (idle) to red (busy)', () => {
    const hue = (c: string) => Number(/hsl\((\d+)/.exec(c)![1]);
    expect(hue(utilColor(0))).toBe(210);
    expect(hue(utilColor(100))).toBe(0);
    expect(hue(utilColor(50))).toBeLessThan(hue(utilColor(10)));
    expect(hue(utilColor(90))).toBeLessThan(hue(utilColor(50)));
    // Out-of-range values are clamped, not extrapolated.
    expect(utilColor(250)).toBe(utilColor(100));
    expect(utilColor(-3)).toBe(utilColor(0));
  });
  it('greys out missing readings and offline nodes (never confused with 0%)', () => {
    expect(utilColor(null)).toBe('var(--heat-none)');
    expect(utilColor(NaN)).toBe('var(--heat-none)');
    expect(utilColor(80, true)).toBe('var(--heat-none)');
    expect(utilColor(0)).not.toBe('var(--heat-none)');
  });
  it('outlines by health', () => {
    expect(healthOutline('healthy')).toBe('none');
    expect(healthOutline('degraded')).toBe('degraded');
    expect(healthOutline('unhealthy')).toBe('unhealthy');
    expect(healthOutline('unknown')).toBe('unknown');
    expect(healthOutline('garbage')).toBe('unknown');
    expect(healthOutline(null)).toBe('unknown');
  });
  it('makes one cell per GPU, sorted by hostname (numeric) then index, skipping decommissioned nodes', () => {
    const cells = heatCells([
      node('gpu-10', 'READY', [gpu(1, 20, 'healthy'), gpu(0, 90, 'unhealthy', 'UNHEALTHY')]),
      node('gpu-2', 'OFFLINE', [gpu(0, null, 'unknown')], false),
      node('gpu-3', 'DECOMMISSIONED', [gpu(0, 10, 'healthy')]),
    ]);
    expect(cells.map((c) => `${c.hostname}/${c.index}`)).toEqual(['gpu-2/0', 'gpu-10/0', 'gpu-10/1']);
    expect(cells[0]!.offline).toBe(true);
    expect(cells[1]!.health).toBe('unhealthy');
    expect(cells[1]!.util).toBe(90);
    expect(cells[1]!.model).toBe('H100 80GB HBM3');
  });
  it('puts node, GPU, model and readings in the hover title', () => {
    const [c] = heatCells([node('gpu-7', 'READY', [gpu(3, 55, 'degraded', 'CORDONED')])]);
    const t = cellTitle(c!);
    expect(t).toContain('gpu-7');
    expect(t).toContain('GPU 3');
    expect(t).toContain('H100');
    expect(t).toContain('util 55%');
    expect(t).toContain('60 °C');
    expect(t).toContain('health degraded');
    expect(t).toContain('CORDONED');
  });
});
