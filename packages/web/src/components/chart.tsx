import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

const PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#65a30d'];

/** A uPlot time chart of one value per GPU; `testid`'s data-points says how many points are drawn. */
export function GpuChart({
  title,
  unit,
  times,
  columns,
  labels,
  testid,
  yMax,
}: {
  title: string;
  unit: string;
  times: number[];
  columns: Array<Array<number | null>>;
  labels: string[];
  testid: string;
  yMax?: number;
}) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = `${labels.join('|')}`;

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const css = getComputedStyle(document.documentElement);
    const axisColor = css.getPropertyValue('--muted').trim() || '#555';
    const gridColor = css.getPropertyValue('--border').trim() || '#ddd';
    const axis = { stroke: axisColor, grid: { stroke: gridColor, width: 1 }, ticks: { stroke: gridColor, width: 1 } };
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height: 180,
      series: [
        {},
        ...labels.map((l, i) => ({
          label: l,
          stroke: PALETTE[i % PALETTE.length],
          width: 1.5,
          spanGaps: false,
          value: (_u: uPlot, v: number | null) => (v === null ? '—' : `${v.toFixed(unit === 'GiB' ? 1 : 0)} ${unit}`),
        })),
      ],
      axes: [axis, { ...axis, size: 50, values: (_u: uPlot, ticks: number[]) => ticks.map((t) => `${t}${unit === '%' ? '%' : ''}`) }],
      scales: { x: { time: true }, y: yMax === undefined ? {} : { range: [0, yMax] } },
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
    };
    const u = new uPlot(opts, [times, ...columns] as uPlot.AlignedData, el);
    plot.current = u;
    const ro = new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height: 180 }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
    // Rebuilt only when the GPUs change (or the theme, via key): new data goes through setData.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [shape, unit, yMax]);

  useEffect(() => {
    plot.current?.setData([times, ...columns] as uPlot.AlignedData);
  }, [times, columns]);

  return (
    <figure className="card chart" style={{ margin: 0 }}>
      <figcaption>
        <strong>{title}</strong> <span className="muted">({unit})</span>
      </figcaption>
      <div ref={box} data-testid={testid} data-points={times.length} role="img" aria-label={`${title} per GPU, ${times.length} points`} />
    </figure>
  );
}
