import { describe, expect, it } from 'vitest';
import type { FleetHeatmap, NodeView } from '@gpufleet/protocol';
import {
  buildHeatmap,
  cellLines,
  cellTitle,
  healthOutline,
  heatNodeFromView,
  heatNodesFromResponse,
  patchHeatmap,
  summarizeHeatmap,
  utilColor,
} from './heatmap.js';

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
const modelOf = (views: NodeView[]) => buildHeatmap(views.map(heatNodeFromView).filter((n) => n !== null));
const names = (cells: readonly { hostname: string; index: number }[]) => cells.map((c) => `${c.hostname}/${c.index}`);

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
});

describe('heatmap model', () => {
  it('makes one cell per GPU, sorted by hostname (numeric) then index, skipping decommissioned nodes', () => {
    const m = modelOf([
      node('gpu-10', 'READY', [gpu(1, 20, 'healthy'), gpu(0, 90, 'unhealthy', 'UNHEALTHY')]),
      node('gpu-2', 'OFFLINE', [gpu(0, null, 'unknown')], false),
      node('gpu-3', 'DECOMMISSIONED', [gpu(0, 10, 'healthy')]),
    ]);
    expect(names(m.cells)).toEqual(['gpu-2/0', 'gpu-10/0', 'gpu-10/1']);
    expect(m.nodes.map((n) => n.hostname)).toEqual(['gpu-2', 'gpu-10']);
    expect(m.start).toEqual([0, 1]);
    expect(m.cells[0]!.offline).toBe(true);
    expect(m.cells[1]!.health).toBe('unhealthy');
    expect(m.cells[1]!.util).toBe(90);
    expect(m.cells[1]!.model).toBe('H100 80GB HBM3');
  });

  it('reads the compact API answer into the same cells as the node views', () => {
    const r: FleetHeatmap = {
      at: '2026-01-01T00:00:00.000Z',
      models: ['NVIDIA H100 80GB HBM3', 'AMD Instinct MI300X'],
      verdicts: ['healthy', 'degraded', 'unhealthy', 'unknown'],
      states: ['READY', 'CORDONED', 'UNHEALTHY'],
      nodes: {
        id: ['b', 'a', 'gone'],
        hostname: ['node-b', 'node-a', 'node-z'],
        status: ['READY', 'OFFLINE', 'DECOMMISSIONED'],
        connected: [true, false, false],
        gpuCount: [2, 1, 1],
      },
      lastSeen: [1_700_000_000_000, 1_600_000_000_000, null],
      gpus: {
        index: [1, 0, 0, 0],
        model: [0, 0, 1, 1],
        util: [55, 7, null, 3],
        temp: [61, 40, null, 1],
        power: [400, 90, null, 1],
        health: [1, 0, 3, 0],
        state: [1, 0, 0, 0],
      },
    };
    const m = buildHeatmap(heatNodesFromResponse(r));
    expect(names(m.cells)).toEqual(['node-a/0', 'node-b/0', 'node-b/1']);
    const [a0, b0, b1] = m.cells;
    expect(a0).toMatchObject({
      nodeId: 'a',
      model: 'Instinct MI300X',
      util: null,
      health: 'unknown',
      offline: true,
      nodeStatus: 'OFFLINE',
      lastSeen: 1_600_000_000_000,
    });
    expect(b0).toMatchObject({ nodeId: 'b', util: 7, temp: 40, power: 90, health: 'healthy', state: 'READY', offline: false });
    expect(b1).toMatchObject({ util: 55, health: 'degraded', state: 'CORDONED', model: 'H100 80GB HBM3' });
  });

  it('treats garbage codes in the compact answer as unknown, not as a crash', () => {
    const r = {
      at: '',
      models: [],
      verdicts: ['healthy'],
      states: ['READY'],
      nodes: { id: ['x'], hostname: ['x'], status: ['READY'], connected: [true], gpuCount: [1] },
      gpus: { index: [0], model: [9], util: [Number.NaN], temp: [null], power: [null], health: [7], state: [5] },
    } as unknown as FleetHeatmap;
    const [c] = buildHeatmap(heatNodesFromResponse(r)).cells;
    expect(c).toMatchObject({ model: 'unknown', util: null, health: 'unknown', state: 'READY' });
  });

  it('patches readings in place of a rebuild, keeping the layout maps', () => {
    const m = modelOf([node('n-1', 'READY', [gpu(0, 10, 'healthy'), gpu(1, 20, 'healthy')]), node('n-2', 'READY', [gpu(0, 30, 'healthy')])]);
    const next = patchHeatmap(m, [node('n-2', 'READY', [gpu(0, 99, 'unhealthy', 'UNHEALTHY')])]);
    expect(next).not.toBe(m);
    expect(next.position).toBe(m.position);
    expect(next.cells.map((c) => c.util)).toEqual([10, 20, 99]);
    expect(next.cells[2]!.state).toBe('UNHEALTHY');
    // The old model is left as it was: whoever still draws it sees a consistent picture.
    expect(m.cells.map((c) => c.util)).toEqual([10, 20, 30]);
    expect(next.cells[0]).toBe(m.cells[0]);
  });

  it('re-sorts when a node arrives, leaves, changes its GPU count or is decommissioned', () => {
    const m = modelOf([node('n-1', 'READY', [gpu(0, 10, 'healthy')]), node('n-3', 'READY', [gpu(0, 30, 'healthy')])]);
    const added = patchHeatmap(m, [node('n-2', 'READY', [gpu(0, 20, 'healthy'), gpu(1, 21, 'healthy')])]);
    expect(names(added.cells)).toEqual(['n-1/0', 'n-2/0', 'n-2/1', 'n-3/0']);
    expect(added.start).toEqual([0, 1, 3]);
    const grown = patchHeatmap(added, [node('n-1', 'READY', [gpu(0, 10, 'healthy'), gpu(1, 11, 'healthy')])]);
    expect(names(grown.cells)).toEqual(['n-1/0', 'n-1/1', 'n-2/0', 'n-2/1', 'n-3/0']);
    const removed = patchHeatmap(grown, [], ['id-n-2']);
    expect(names(removed.cells)).toEqual(['n-1/0', 'n-1/1', 'n-3/0']);
    const decommissioned = patchHeatmap(removed, [node('n-3', 'DECOMMISSIONED', [gpu(0, 30, 'healthy')])]);
    expect(names(decommissioned.cells)).toEqual(['n-1/0', 'n-1/1']);
    expect(patchHeatmap(decommissioned, [])).toBe(decommissioned);
  });

  it('ignores removals and decommissions of nodes it never had', () => {
    const m = modelOf([node('n-1', 'READY', [gpu(0, 10, 'healthy')])]);
    const next = patchHeatmap(m, [node('n-9', 'DECOMMISSIONED', [])], ['id-unknown']);
    expect(names(next.cells)).toEqual(['n-1/0']);
  });
});

describe('heatmap summary and hover text', () => {
  it('counts GPUs by utilization band, health and service, and lists unhealthy then degraded', () => {
    const m = modelOf([
      node('a', 'READY', [gpu(0, 0, 'healthy'), gpu(1, 24.9, 'degraded'), gpu(2, 25, 'unhealthy', 'UNHEALTHY'), gpu(3, 100, 'healthy', 'CORDONED')]),
      node('b', 'OFFLINE', [gpu(0, 80, 'unknown')], false),
      node('c', 'READY', [gpu(0, null, 'unhealthy')]),
    ]);
    const s = summarizeHeatmap(m);
    // A cordoned, draining or drained node takes no new work on any of its GPUs.
    const withNodes = summarizeHeatmap(
      modelOf([
        node('cordoned', 'CORDONED', [gpu(0, 10, 'healthy'), gpu(1, 10, 'healthy', 'CORDONED')]),
        node('draining', 'DRAINING', [gpu(0, 10, 'healthy')]),
        node('drained', 'DRAINED', [gpu(0, 10, 'healthy')]),
        node('sick', 'UNHEALTHY', [gpu(0, 10, 'unhealthy')]),
        node('ready', 'READY', [gpu(0, 10, 'healthy')]),
      ]),
    );
    expect(withNodes.outOfService).toBe(5);
    expect(s.gpus).toBe(6);
    expect(s.nodes).toBe(3);
    expect(s.byBand).toEqual([2, 1, 0, 1]);
    expect(s.noReading).toBe(2);
    expect(s.byHealth).toEqual({ healthy: 2, degraded: 1, unhealthy: 2, unknown: 1 });
    expect(s.outOfService).toBe(2);
    expect(names(s.attention)).toEqual(['a/2', 'c/0', 'a/1']);
    // One summary per model, however many components ask.
    expect(summarizeHeatmap(m)).toBe(s);
  });

  it('puts node, GPU, model and readings in the hover text', () => {
    const [c] = modelOf([node('gpu-7', 'READY', [gpu(3, 55, 'degraded', 'CORDONED')])]).cells;
    const [head, readings, health] = cellLines(c!);
    expect(head).toBe('gpu-7 · GPU 3 · H100 80GB HBM3');
    expect(readings).toBe('util 55% · 60 °C · 300 W');
    expect(health).toBe('health degraded · CORDONED');
    expect(cellTitle(c!)).toBe(`${head}, ${readings}, ${health}`);
    const now = Date.parse('2026-01-01T12:00:00.000Z');
    const offline = (g: unknown, lastSeenAt: string | null) => modelOf([{ ...node('gpu-8', 'OFFLINE', [g], false), lastSeenAt } as NodeView]).cells[0]!;
    // An offline node's readings are history: said to be stale, with their age, never shown as live.
    const stale = offline(gpu(0, 80, 'unknown'), '2026-01-01T11:55:00.000Z');
    expect(cellLines(stale, now)[1]).toBe('stale, last seen 5 min ago: util 80% · 60 °C · 300 W');
    expect(cellLines(stale, now)[2]).toBe('health unknown · node offline');
    expect(cellLines(offline(gpu(0, null, 'unknown'), '2026-01-01T09:00:00.000Z'), now)[1]).toBe('no reading, last seen 3 h ago');
    expect(cellLines(offline(gpu(0, null, 'unknown'), null), now)[1]).toBe('no reading, never seen');
    const [drained] = modelOf([node('gpu-9', 'DRAINED', [gpu(0, 5, 'healthy')])]).cells;
    expect(cellLines(drained!)[2]).toBe('health healthy · node DRAINED');
  });
});
