import { describe, expect, it } from 'vitest';
import { allocMarkSize, drawHeatmap, ringWidth, type HeatColors, type Paint } from './heatmap-draw.js';
import { allocMarksFrom } from './heatmap-allocs.js';
import { allocationFixture } from '../testing/job-fixture.js';
import { gridLayout } from './heatmap-grid.js';
import { utilColor, type HeatCell } from './heatmap.js';

const COLORS: HeatColors = { none: '#none', degraded: '#degraded', unhealthy: '#unhealthy', unknown: '#unknown', focus: '#focus', allocated: '#alloc' };

/** A Paint that writes down every rectangle with the colour it was painted in. */
function recorder() {
  const ops: string[] = [];
  const p: Paint & { ops: string[] } = {
    ops,
    fillStyle: '',
    strokeStyle: '',
    lineWidth: 1,
    setTransform: (a, _b, _c, d) => void ops.push(`scale ${a} ${d}`),
    clearRect: (x, y, w, h) => void ops.push(`clear ${x} ${y} ${w} ${h}`),
    fillRect(x, y, w, h) {
      ops.push(`fill ${x} ${y} ${w} ${h} ${String(this.fillStyle)}`);
    },
    strokeRect(x, y, w, h) {
      ops.push(`stroke ${x} ${y} ${w} ${h} ${String(this.strokeStyle)}`);
    },
  };
  return p;
}

function cell(util: number | null, health: HeatCell['health'], offline = false): HeatCell {
  return {
    hostname: 'h',
    nodeId: 'n',
    index: 0,
    model: 'H100',
    util,
    temp: null,
    power: null,
    health,
    state: 'READY',
    offline,
    nodeStatus: offline ? 'OFFLINE' : 'READY',
    lastSeen: null,
  };
}

describe('drawHeatmap', () => {
  it('fills by utilization, rings degraded and unhealthy GPUs inside their cell, lines unknown ones, greys missing readings', () => {
    const cells = [cell(50, 'healthy'), cell(90, 'unhealthy'), cell(10, 'degraded'), cell(null, 'unknown', true)];
    const l = gridLayout(cells.length, 200);
    const p = recorder();
    const painted = drawHeatmap(p, cells, l, { top: 0, width: 200, height: l.height, scale: 2 }, COLORS, null);
    const r = ringWidth(14);
    expect(painted).toBe(4);
    expect(p.ops).toEqual([
      'scale 2 2',
      `clear 0 0 200 ${l.height}`,
      `fill 0 0 14 14 ${utilColor(50)}`,
      'fill 17 0 14 14 #unhealthy',
      `fill ${17 + r} ${r} ${14 - 2 * r} ${14 - 2 * r} ${utilColor(90)}`,
      'fill 34 0 14 14 #degraded',
      `fill ${34 + r} ${r} ${14 - 2 * r} ${14 - 2 * r} ${utilColor(10)}`,
      'fill 51 0 14 14 #none',
      'stroke 51.5 0.5 13 13 #unknown',
    ]);
  });

  it('paints only the rows in the viewport, shifted by the scroll offset', () => {
    const cells = Array.from({ length: 80_000 }, () => cell(40, 'healthy'));
    const l = gridLayout(cells.length, 1200);
    const p = recorder();
    const painted = drawHeatmap(p, cells, l, { top: 900, width: 1200, height: 90, scale: 1 }, COLORS, null);
    // Rows 100 to 110 (the last partly) of 133 cells.
    expect(painted).toBe(11 * l.cols);
    const ys = p.ops.filter((o) => o.startsWith('fill')).map((o) => Number(o.split(' ')[2]));
    expect(Math.min(...ys)).toBe(0);
    expect(Math.max(...ys)).toBe(10 * l.pitch);
  });

  it('rings the focused cell in the focus colour, and nothing when no cell has focus', () => {
    const cells = [cell(5, 'healthy'), cell(5, 'healthy')];
    const l = gridLayout(2, 200);
    const focused = recorder();
    drawHeatmap(focused, cells, l, { top: 0, width: 200, height: 14, scale: 1 }, COLORS, 1);
    expect(focused.ops.at(-1)).toBe('stroke 15.5 -1.5 17 17 #focus');
    const none = recorder();
    drawHeatmap(none, cells, l, { top: 0, width: 200, height: 14, scale: 1 }, COLORS, null);
    expect(none.ops.some((o) => o.includes('#focus'))).toBe(false);
  });

  it('marks a GPU held by an allocation with a square in its top-left corner, over the fill and the health ring', () => {
    const cells = [cell(50, 'healthy'), { ...cell(90, 'unhealthy'), index: 1 }, { ...cell(10, 'healthy'), index: 2 }];
    const marks = allocMarksFrom([
      allocationFixture('llama', 0, { nodeId: 'n', gpus: [{ index: 1, uuid: null, name: null }] }),
      allocationFixture('llama', 1, { nodeId: 'n', gpus: [{ index: 2, uuid: null, name: null }], status: 'stopped', desired: 'stop' }),
    ]);
    const l = gridLayout(cells.length, 200);
    const p = recorder();
    drawHeatmap(p, cells, l, { top: 0, width: 200, height: l.height, scale: 1 }, COLORS, null, marks);
    const m = allocMarkSize(14);
    const r = ringWidth(14);
    expect(p.ops.filter((o) => o.startsWith('fill'))).toEqual([
      `fill 0 0 14 14 ${utilColor(50)}`,
      'fill 17 0 14 14 #unhealthy',
      `fill ${17 + r} ${r} ${14 - 2 * r} ${14 - 2 * r} ${utilColor(90)}`,
      `fill 17 0 ${m} ${m} #alloc`,
      `fill 34 0 14 14 ${utilColor(10)}`,
    ]);
    expect(m).toBeGreaterThanOrEqual(3);
    expect(m).toBeLessThan(14 / 2);
    expect(allocMarkSize(8)).toBe(3);
  });
});
