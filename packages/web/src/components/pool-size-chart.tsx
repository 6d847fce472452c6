import { useEffect, useMemo, useRef, useState } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { PoolDetailView } from '../lib/pools.js';
import { Empty } from './states.js';
import './pools.css';

const HEIGHT = 180;

/** The theme on <html data-theme>, followed as it changes: the chart's axis colours are read from it. */
function useThemeName(): string {
  const [theme, setTheme] = useState(() => document.documentElement.dataset.theme ?? '');
  useEffect(() => {
    const mo = new MutationObserver(() => setTheme(document.documentElement.dataset.theme ?? ''));
    mo.observe(document.documentElement, { attributes: true, attributeFilter: ['data-theme'] });
    return () => mo.disconnect();
  }, []);
  return theme;
}

/** Chart columns of a pool's history: epoch seconds, ready, desired. */
export function historyColumns(history: PoolDetailView['history']): [number[], number[], number[]] {
  const rows = history.filter((h) => Number.isFinite(Date.parse(h.at)));
  return [rows.map((h) => Math.floor(Date.parse(h.at) / 1000)), rows.map((h) => h.ready), rows.map((h) => h.desired)];
}

/** The pool's size over time (uPlot): nodes ready and the size wanted, one point per minute. */
export function PoolSizeChart({ history }: { history: PoolDetailView['history'] }) {
  const theme = useThemeName();
  const columns = useMemo(() => historyColumns(history), [history]);
  const last = history[history.length - 1];
  if (columns[0].length === 0) return <Empty>No history yet: the pool's size is recorded once a minute.</Empty>;
  return (
    <figure className="card chart pool-chart" style={{ margin: 0 }}>
      <figcaption>
        <strong>Nodes ready and desired</strong> <span className="muted">(last 24 h)</span>
      </figcaption>
      <SizePlot
        key={theme}
        columns={columns}
        label={`Pool size over time, ${columns[0].length} points; now ${last?.ready ?? 0} ready of ${last?.desired ?? 0} desired`}
      />
    </figure>
  );
}

function SizePlot({ columns, label }: { columns: [number[], number[], number[]]; label: string }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const css = getComputedStyle(document.documentElement);
    const color = (name: string, fallback: string) => css.getPropertyValue(name).trim() || fallback;
    const axis = {
      stroke: color('--muted', '#555'),
      grid: { stroke: color('--border', '#ddd'), width: 1 },
      ticks: { stroke: color('--border', '#ddd'), width: 1 },
    };
    const nodes = (_u: uPlot, v: number | null) => (v === null ? '—' : `${v} node${v === 1 ? '' : 's'}`);
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height: HEIGHT,
      series: [
        {},
        { label: 'ready', stroke: color('--ok', '#166534'), width: 2, value: nodes },
        { label: 'desired', stroke: color('--accent', '#1d4ed8'), width: 1.5, dash: [6, 4], value: nodes },
      ],
      axes: [axis, { ...axis, size: 40, values: (_u: uPlot, ticks: number[]) => ticks.map((t) => (Number.isInteger(t) ? String(t) : '')) }],
      scales: {
        // From the data itself, at least an hour wide: for a single sample uPlot would span
        // 86,400 of its time units (a thousand days in seconds).
        x: {
          time: true,
          range: (u, min, max) => {
            const xs = u.data[0];
            const first = xs[0] ?? min;
            const last = xs[xs.length - 1] ?? max;
            return [Math.min(first, last - 3600), last];
          },
        },
        y: { range: (_u, _min, max) => [0, Math.max(1, max + 1)] },
      },
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
    };
    const u = new uPlot(opts, columns as uPlot.AlignedData, el);
    plot.current = u;
    const ro = new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height: HEIGHT }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
    // Built once per theme (the key); new points go through setData below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  useEffect(() => {
    plot.current?.setData(columns as uPlot.AlignedData);
  }, [columns]);

  return <div ref={box} className="pool-chart-plot" data-testid="pool-size-chart" data-points={columns[0].length} role="img" aria-label={label} />;
}
