/**
 * Geometry of the heatmap grid: where each cell sits, which cell is under a point, and where the
 * arrow keys go. All in CSS pixels of the grid's content (row 0 at y 0, before scrolling).
 */
export interface GridLayout {
  count: number;
  cols: number;
  rows: number;
  /** Side of a cell. */
  cell: number;
  /** Cell plus gap: the distance from one cell's origin to the next. */
  pitch: number;
  /** Height of the whole grid. */
  height: number;
}

/** Cell sizes from roomy to dense with their gaps; the first that fits the height budget wins. */
const SIZES = [
  { cell: 14, gap: 3 },
  { cell: 10, gap: 2 },
  { cell: 8, gap: 1 },
] as const;

/** Grid heights up to this stay roomy; denser fleets shrink the cells, then scroll. */
export const HEIGHT_BUDGET = 480;

export function gridLayout(count: number, width: number): GridLayout {
  const n = Math.max(0, Math.floor(count));
  const w = Math.max(0, width);
  for (const [i, s] of SIZES.entries()) {
    const pitch = s.cell + s.gap;
    // The last cell needs no gap after it, hence width + gap.
    const cols = Math.max(1, Math.floor((w + s.gap) / pitch));
    const rows = Math.ceil(n / cols);
    const height = rows === 0 ? 0 : rows * pitch - s.gap;
    if (height <= HEIGHT_BUDGET || i === SIZES.length - 1) return { count: n, cols, rows, cell: s.cell, pitch, height };
  }
  throw new Error('unreachable');
}

/** Top-left corner of cell `i`. */
export function cellOrigin(l: GridLayout, i: number): { x: number; y: number } {
  return { x: (i % l.cols) * l.pitch, y: Math.floor(i / l.cols) * l.pitch };
}

/** The cell under (x, y), or null over a gap, outside the grid or past the last cell. */
export function cellAt(l: GridLayout, x: number, y: number): number | null {
  if (!Number.isFinite(x) || !Number.isFinite(y) || x < 0 || y < 0) return null;
  const col = Math.floor(x / l.pitch);
  const row = Math.floor(y / l.pitch);
  if (col >= l.cols || x - col * l.pitch >= l.cell || y - row * l.pitch >= l.cell) return null;
  const i = row * l.cols + col;
  return i < l.count ? i : null;
}

/** Rows whose cells show, at least partly, in a viewport `top`..`top + height` of the grid. */
export function visibleRows(l: GridLayout, top: number, height: number): { first: number; last: number } {
  const first = Math.max(0, Math.floor(top / l.pitch));
  const last = Math.min(l.rows - 1, Math.floor((top + height) / l.pitch));
  return { first, last };
}

/**
 * The cell a key moves the focus to from `i`: arrows by one cell or one row, Home/End to the
 * row's ends (with Ctrl: the grid's), PageUp/PageDown by `pageRows` rows. Null for other keys.
 * Never leaves the grid.
 */
export function moveFocus(l: GridLayout, i: number, key: string, opts: { ctrl?: boolean; pageRows?: number } = {}): number | null {
  if (l.count === 0) return null;
  const last = l.count - 1;
  const at = Math.min(Math.max(0, i), last);
  const rowStart = at - (at % l.cols);
  const page = Math.max(1, opts.pageRows ?? 10) * l.cols;
  const clamp = (v: number) => Math.min(Math.max(0, v), last);
  switch (key) {
    case 'ArrowRight':
      return clamp(at + 1);
    case 'ArrowLeft':
      return clamp(at - 1);
    case 'ArrowDown':
      return at + l.cols <= last ? at + l.cols : at;
    case 'ArrowUp':
      return at - l.cols >= 0 ? at - l.cols : at;
    case 'Home':
      return opts.ctrl ? 0 : rowStart;
    case 'End':
      return opts.ctrl ? last : Math.min(rowStart + l.cols - 1, last);
    case 'PageDown':
      return Math.min(at + page, last);
    case 'PageUp':
      return Math.max(at - page, 0);
    default:
      return null;
  }
}
