import type { HeatCell } from './heatmap.js';
import { healthOutline, utilColor } from './heatmap.js';
import { cellOrigin, visibleRows, type GridLayout } from './heatmap-grid.js';
import { NO_ALLOCS, type AllocMarks } from './heatmap-allocs.js';

/** The few canvas calls drawing needs (a CanvasRenderingContext2D has them; tests pass a recorder). */
export interface Paint {
  fillStyle: string | CanvasGradient | CanvasPattern;
  strokeStyle: string | CanvasGradient | CanvasPattern;
  lineWidth: number;
  setTransform(a: number, b: number, c: number, d: number, e: number, f: number): void;
  clearRect(x: number, y: number, w: number, h: number): void;
  fillRect(x: number, y: number, w: number, h: number): void;
  strokeRect(x: number, y: number, w: number, h: number): void;
}

/** Theme colours, read from the CSS variables at draw time so both themes apply. */
export interface HeatColors {
  none: string;
  degraded: string;
  unhealthy: string;
  unknown: string;
  focus: string;
  /** The corner mark of a GPU held by a workload allocation. */
  allocated: string;
}

export interface Viewport {
  /** Scroll offset of the viewport in the grid, CSS px. */
  top: number;
  width: number;
  height: number;
  /** Device pixels per CSS pixel. */
  scale: number;
}

/** How thick a health ring is for a cell size: thick enough to read, thin enough to leave the colour. */
export function ringWidth(cell: number): number {
  return Math.max(2, Math.round(cell / 5));
}

/** The side of the corner mark of an allocated GPU: big enough to see, small enough to leave the fill readable. */
export function allocMarkSize(cell: number): number {
  return Math.max(3, Math.round(cell * 0.4));
}

/**
 * Paints the cells in the viewport: fill = utilization, a ring = degraded or unhealthy (inset,
 * so neighbours never cover it), a thin inset line = unknown health, a square in the top-left
 * corner = held by a workload allocation, and a focus ring around the focused cell. Returns how
 * many cells were painted.
 */
export function drawHeatmap(
  p: Paint,
  cells: readonly HeatCell[],
  l: GridLayout,
  v: Viewport,
  colors: HeatColors,
  focus: number | null,
  allocs: AllocMarks = NO_ALLOCS,
): number {
  p.setTransform(v.scale, 0, 0, v.scale, 0, 0);
  p.clearRect(0, 0, v.width, v.height);
  const { first, last } = visibleRows(l, v.top, v.height);
  const ring = ringWidth(l.cell);
  const mark = allocMarkSize(l.cell);
  const anyAllocs = allocs.size > 0;
  let painted = 0;
  for (let row = first; row <= last; row++) {
    const end = Math.min(cells.length, (row + 1) * l.cols);
    for (let i = row * l.cols; i < end; i++) {
      const c = cells[i]!;
      const { x, y: gy } = cellOrigin(l, i);
      const y = gy - v.top;
      const fillColor = c.offline || c.util === null ? colors.none : utilColor(c.util);
      const outline = healthOutline(c.health);
      if (outline === 'degraded' || outline === 'unhealthy') {
        p.fillStyle = outline === 'degraded' ? colors.degraded : colors.unhealthy;
        p.fillRect(x, y, l.cell, l.cell);
        p.fillStyle = fillColor;
        p.fillRect(x + ring, y + ring, l.cell - 2 * ring, l.cell - 2 * ring);
      } else {
        p.fillStyle = fillColor;
        p.fillRect(x, y, l.cell, l.cell);
        if (outline === 'unknown') {
          p.strokeStyle = colors.unknown;
          p.lineWidth = 1;
          p.strokeRect(x + 0.5, y + 0.5, l.cell - 1, l.cell - 1);
        }
      }
      if (anyAllocs && allocs.get(c.nodeId)?.has(c.index)) {
        p.fillStyle = colors.allocated;
        p.fillRect(x, y, mark, mark);
      }
      painted++;
    }
  }
  if (focus !== null && focus >= 0 && focus < cells.length) {
    const { x, y } = cellOrigin(l, focus);
    p.strokeStyle = colors.focus;
    p.lineWidth = 2;
    p.strokeRect(x - 1.5, y - v.top - 1.5, l.cell + 3, l.cell + 3);
  }
  return painted;
}
