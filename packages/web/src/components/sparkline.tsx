import './sparkline.css';

/** Where a sparkline's values land inside its box. */
export interface SparklineGeometry {
  /** One `x,y x,y ...` string per run of consecutive values (gaps split the line). */
  lines: string[];
  /** Runs of a single value, drawn as dots since a one-point line is invisible. */
  dots: Array<{ x: number; y: number }>;
  /** The newest value's position, marked so "now" reads at a glance. */
  last: { x: number; y: number } | null;
  min: number | null;
  max: number | null;
  lastValue: number | null;
  /** Values that are numbers. */
  count: number;
}

const PAD = 2;
const round = (v: number) => Math.round(v * 10) / 10;

/**
 * Positions for `values` in a width x height box, oldest on the left. Y spans `domain` when
 * given (utilization: 0-100, so a quiet node looks quiet), else the values' own range widened
 * to at least `minSpan` around its middle (temperatures: a 0.3 °C wobble stays a flat line).
 */
export function sparklineGeometry(
  values: readonly (number | null)[],
  width: number,
  height: number,
  opts: { domain?: [number, number]; minSpan?: number } = {},
): SparklineGeometry {
  const nums = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  const geometry: SparklineGeometry = { lines: [], dots: [], last: null, min: null, max: null, lastValue: null, count: nums.length };
  if (nums.length === 0) return geometry;
  const min = Math.min(...nums);
  const max = Math.max(...nums);
  let [lo, hi] = opts.domain ?? [min, max];
  const span = Math.max(hi - lo, opts.minSpan ?? 0);
  if (!opts.domain) {
    const mid = (lo + hi) / 2;
    [lo, hi] = span > 0 ? [mid - span / 2, mid + span / 2] : [mid - 1, mid + 1];
  }
  const innerW = width - 2 * PAD;
  const innerH = height - 2 * PAD;
  const step = values.length > 1 ? innerW / (values.length - 1) : 0;
  const at = (i: number, v: number) => {
    const clamped = Math.min(hi, Math.max(lo, v));
    return { x: round(PAD + i * step), y: round(PAD + (1 - (clamped - lo) / (hi - lo || 1)) * innerH) };
  };
  let run: Array<{ x: number; y: number }> = [];
  const flush = () => {
    if (run.length === 1) geometry.dots.push(run[0]!);
    else if (run.length > 1) geometry.lines.push(run.map((p) => `${p.x},${p.y}`).join(' '));
    run = [];
  };
  values.forEach((v, i) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) return flush();
    const p = at(i, v);
    run.push(p);
    geometry.last = p;
    geometry.lastValue = v;
  });
  flush();
  geometry.min = min;
  geometry.max = max;
  return geometry;
}

export interface SparklineProps {
  values: readonly (number | null)[];
  /** What the line shows, e.g. "GPU utilization". */
  label: string;
  /** How the window reads in the summary, e.g. "last 15 minutes". */
  span: string;
  format: (v: number) => string;
  /** Colour family: the CSS variables --spark-util or --spark-temp. */
  tone: 'util' | 'temp';
  domain?: [number, number];
  minSpan?: number;
  width?: number;
  height?: number;
  testId?: string;
}

/** A tiny inline SVG line chart, its min, max and last value in its title for screen readers and hover. */
export function Sparkline({ values, label, span, format, tone, domain, minSpan, width = 64, height = 18, testId }: SparklineProps) {
  const g = sparklineGeometry(values, width, height, { ...(domain ? { domain } : {}), ...(minSpan === undefined ? {} : { minSpan }) });
  const summary =
    g.count === 0 ? `${label}: no readings in the ${span}` : `${label}, ${span}: min ${format(g.min!)}, max ${format(g.max!)}, last ${format(g.lastValue!)}`;
  return (
    <svg
      className={`sparkline sparkline-${tone}`}
      width={width}
      height={height}
      viewBox={`0 0 ${width} ${height}`}
      role="img"
      aria-label={summary}
      data-testid={testId}
      data-count={g.count}
    >
      <title>{summary}</title>
      {/* The track frames the chart area, so a young series (one dot at the right) still reads as "recent". */}
      <rect className="sparkline-track" width={width} height={height} rx={2} />
      {g.lines.map((points, i) => (
        <polyline key={i} points={points} />
      ))}
      {g.dots.map((p, i) => (
        <circle key={`d${i}`} className="sparkline-dot" cx={p.x} cy={p.y} r={1.25} />
      ))}
      {g.last && <circle className="sparkline-last" cx={g.last.x} cy={g.last.y} r={1.75} />}
    </svg>
  );
}
