import { describe, expect, it } from 'vitest';
import { cellAt, cellOrigin, gridLayout, HEIGHT_BUDGET, moveFocus, visibleRows } from './heatmap-grid.js';

describe('heatmap grid layout', () => {
  it('keeps roomy 14 px cells while the grid fits the height budget', () => {
    const l = gridLayout(400, 1200);
    expect(l).toMatchObject({ cell: 14, pitch: 17, cols: 70, rows: 6 });
    expect(l.height).toBe(6 * 17 - 3);
  });
  it('shrinks cells for large fleets, then lets the grid grow past the budget (it scrolls)', () => {
    const mid = gridLayout(3000, 1200);
    expect(mid.cell).toBe(10);
    expect(mid.height).toBeLessThanOrEqual(HEIGHT_BUDGET);
    const big = gridLayout(80_000, 1200);
    expect(big.cell).toBe(8);
    expect(big.cols).toBe(133);
    expect(big.rows).toBe(Math.ceil(80_000 / 133));
    expect(big.height).toBeGreaterThan(HEIGHT_BUDGET);
  });
  it('fits the last cell without its gap, and always has a column', () => {
    // 3 cells of 14 and 2 gaps of 3 are 48 px.
    expect(gridLayout(10, 48).cols).toBe(3);
    expect(gridLayout(10, 47).cols).toBe(2);
    expect(gridLayout(10, 0).cols).toBe(1);
    expect(gridLayout(0, 500)).toMatchObject({ rows: 0, height: 0 });
  });
});

describe('heatmap hit-testing', () => {
  const l = gridLayout(25, 10 * 17 - 3); // 10 columns of 14 px cells, 3 rows (the last one half full)

  it('finds the cell under a point and none over gaps or past the end', () => {
    expect(l.cols).toBe(10);
    expect(cellAt(l, 0, 0)).toBe(0);
    expect(cellAt(l, 13.9, 13.9)).toBe(0);
    expect(cellAt(l, 14.5, 5)).toBeNull(); // the gap between 0 and 1
    expect(cellAt(l, 17, 0)).toBe(1);
    expect(cellAt(l, 17 * 9 + 2, 17 + 2)).toBe(19);
    expect(cellAt(l, 17 * 4 + 1, 17 * 2 + 1)).toBe(24);
    expect(cellAt(l, 17 * 5 + 1, 17 * 2 + 1)).toBeNull(); // row 3 ends at cell 24
    expect(cellAt(l, 17 * 10 + 1, 0)).toBeNull(); // right of the grid
    expect(cellAt(l, -1, 3)).toBeNull();
    expect(cellAt(l, Number.NaN, 3)).toBeNull();
  });
  it('puts every cell where hit-testing finds it', () => {
    for (let i = 0; i < l.count; i++) {
      const { x, y } = cellOrigin(l, i);
      expect(cellAt(l, x + l.cell / 2, y + l.cell / 2)).toBe(i);
    }
  });
  it('knows which rows a viewport shows', () => {
    const big = gridLayout(80_000, 1200);
    expect(visibleRows(big, 0, 560)).toEqual({ first: 0, last: Math.floor(560 / 9) });
    expect(visibleRows(big, 900, 90)).toEqual({ first: 100, last: 110 });
    expect(visibleRows(big, 1e9, 500).last).toBe(big.rows - 1);
  });
});

describe('heatmap keyboard moves', () => {
  const l = gridLayout(25, 10 * 17 - 3);
  it('moves by a cell, a row or a page, never out of the grid', () => {
    expect(moveFocus(l, 0, 'ArrowRight')).toBe(1);
    expect(moveFocus(l, 0, 'ArrowLeft')).toBe(0);
    expect(moveFocus(l, 3, 'ArrowDown')).toBe(13);
    expect(moveFocus(l, 13, 'ArrowUp')).toBe(3);
    expect(moveFocus(l, 3, 'ArrowUp')).toBe(3);
    expect(moveFocus(l, 18, 'ArrowDown')).toBe(18); // no cell below 18 in the last row
    expect(moveFocus(l, 24, 'ArrowRight')).toBe(24);
    expect(moveFocus(l, 5, 'PageDown', { pageRows: 1 })).toBe(15);
    expect(moveFocus(l, 5, 'PageDown', { pageRows: 5 })).toBe(24);
    expect(moveFocus(l, 15, 'PageUp', { pageRows: 5 })).toBe(0);
  });
  it('goes to the row ends with Home/End and to the grid ends with Ctrl', () => {
    expect(moveFocus(l, 14, 'Home')).toBe(10);
    expect(moveFocus(l, 14, 'End')).toBe(19);
    expect(moveFocus(l, 21, 'End')).toBe(24);
    expect(moveFocus(l, 14, 'Home', { ctrl: true })).toBe(0);
    expect(moveFocus(l, 14, 'End', { ctrl: true })).toBe(24);
  });
  it('ignores other keys and an empty grid, and clamps a stale focus', () => {
    expect(moveFocus(l, 4, 'a')).toBeNull();
    expect(moveFocus(gridLayout(0, 100), 0, 'ArrowRight')).toBeNull();
    expect(moveFocus(l, 99, 'ArrowLeft')).toBe(23);
  });
});
