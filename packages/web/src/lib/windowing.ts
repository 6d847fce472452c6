/** The rows to render for a scrolled list of fixed-height rows, with `overscan` extra each side. */
export function visibleRange(scrollTop: number, viewportHeight: number, rowHeight: number, count: number, overscan = 10): { start: number; end: number } {
  if (count <= 0 || rowHeight <= 0) return { start: 0, end: 0 };
  const first = Math.floor(Math.max(0, scrollTop) / rowHeight);
  const last = Math.ceil((Math.max(0, scrollTop) + Math.max(0, viewportHeight)) / rowHeight);
  return { start: Math.max(0, first - overscan), end: Math.min(count, last + overscan) };
}

/** The page numbers (of `pageSize` rows) that hold rows start..end-1. */
export function pagesFor(start: number, end: number, pageSize: number): number[] {
  if (end <= start || pageSize <= 0) return [];
  const out: number[] = [];
  for (let p = Math.floor(start / pageSize); p <= Math.floor((end - 1) / pageSize); p++) out.push(p);
  return out;
}

/**
 * The selector sent to the server: what the person typed, AND-ed with the vendor filter
 * (vendor is the builtin `gpu.vendor` label, so the server filters it like any label).
 */
export function combinedSelector(typed: string, vendor: string): string {
  const parts = [typed.trim(), vendor ? `gpu.vendor=${vendor}` : ''].filter(Boolean);
  return parts.join(',');
}
