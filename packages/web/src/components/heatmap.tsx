import { memo, useCallback, useEffect, useId, useLayoutEffect, useMemo, useRef, useState, type KeyboardEvent, type MouseEvent, type RefObject } from 'react';
import { cellLines, cellTitle, summarizeHeatmap, UTIL_BANDS, type HeatCell, type HeatmapModel, type HeatSummary } from '../lib/heatmap.js';
import { cellAt, cellOrigin, gridLayout, moveFocus } from '../lib/heatmap-grid.js';
import { drawHeatmap, type HeatColors } from '../lib/heatmap-draw.js';
import { allocLine, allocMarkOf } from '../lib/heatmap-allocs.js';
import { Link, useRouter } from '../lib/router.js';
import { Badge, Empty } from './states.js';
import './heatmap.css';
import { nodePath } from '../lib/node-path.js';

/** The heatmap scrolls inside this height (CSS px) once the fleet outgrows it. */
const VIEWPORT_MAX = 560;
/** Links listed under "needs attention"; the rest are counted. */
const ATTENTION_LIMIT = 50;

const count = (n: number) => n.toLocaleString('en-US');

/** The theme's colours for the canvas, from the CSS variables (fallbacks where none are set). */
function readColors(el: Element): HeatColors {
  const css = getComputedStyle(el);
  const v = (name: string, fallback: string) => css.getPropertyValue(name).trim() || fallback;
  return {
    none: v('--heat-none', '#9ca3af'),
    degraded: v('--outline-degraded', '#b45309'),
    unhealthy: v('--outline-unhealthy', '#b91c1c'),
    unknown: v('--outline-unknown', '#6b7280'),
    focus: v('--focus', '#2563eb'),
    allocated: v('--heat-alloc', '#111827'),
  };
}

/** The element's content width, kept current (ResizeObserver where there is one, window resizes otherwise). */
function useWidth(ref: RefObject<HTMLElement | null>): number {
  const [width, setWidth] = useState(0);
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    const measure = () => setWidth(el.clientWidth);
    measure();
    if (typeof ResizeObserver === 'function') {
      const ro = new ResizeObserver(measure);
      ro.observe(el);
      return () => ro.disconnect();
    }
    window.addEventListener('resize', measure);
    return () => window.removeEventListener('resize', measure);
  }, [ref]);
  return width;
}

/**
 * One cell per GPU on a canvas: fill = utilization, ring = health; hover or keyboard focus shows
 * node, GPU, model and readings; click or Enter opens the node. Only the rows in view are drawn,
 * at most once per animation frame, so 80,000 GPUs cost what the visible ones cost. A summary in
 * words and links to the GPUs that need attention say the same for those who cannot see it.
 */
export const Heatmap = memo(function Heatmap({ model }: { model: HeatmapModel }) {
  const { navigate } = useRouter();
  const scrollerRef = useRef<HTMLDivElement>(null);
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const width = useWidth(scrollerRef);
  const total = model.cells.length;
  const layout = useMemo(() => gridLayout(total, width), [total, width]);
  const summary = useMemo(() => summarizeHeatmap(model), [model]);
  const viewHeight = Math.min(layout.height, VIEWPORT_MAX);
  const [focus, setFocus] = useState(0);
  const [hasFocus, setHasFocus] = useState(false);
  const [hover, setHover] = useState<number | null>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [announce, setAnnounce] = useState('');
  const [noCanvas, setNoCanvas] = useState(false);
  const liveId = useId();
  const focused = Math.min(focus, Math.max(0, total - 1));

  // What the next frame draws; the frame callback reads it, so it never draws stale props.
  const latest = useRef({ model, layout, summary, viewHeight, width, focus: null as number | null });
  latest.current = { model, layout, summary, viewHeight, width, focus: hasFocus ? focused : null };
  const frame = useRef(0);
  const draw = useCallback(() => {
    frame.current = 0;
    const canvas = canvasRef.current;
    const scroller = scrollerRef.current;
    if (!canvas || !scroller) return;
    const ctx = canvas.getContext('2d');
    if (!ctx) {
      setNoCanvas(true);
      return;
    }
    const s = latest.current;
    const scale = Math.min(3, window.devicePixelRatio || 1);
    const w = Math.round(s.width * scale);
    const h = Math.round(s.viewHeight * scale);
    if (canvas.width !== w) canvas.width = w;
    if (canvas.height !== h) canvas.height = h;
    drawHeatmap(
      ctx,
      s.model.cells,
      s.layout,
      { top: scroller.scrollTop, width: s.width, height: s.viewHeight, scale },
      readColors(canvas),
      s.focus,
      s.model.allocs,
    );
    // What was just painted, for anyone reading the page (tests, benchmarks): a canvas has no cells to count.
    const d = canvas.dataset;
    d.drawnCells = String(s.model.cells.length);
    d.nodes = String(s.summary.nodes);
    d.unhealthy = String(s.summary.byHealth.unhealthy);
    d.degraded = String(s.summary.byHealth.degraded);
    d.unknown = String(s.summary.byHealth.unknown);
    d.outOfService = String(s.summary.outOfService);
    d.allocated = String(s.summary.allocated);
  }, []);
  const schedule = useCallback(() => {
    if (frame.current === 0) frame.current = requestAnimationFrame(draw);
  }, [draw]);
  useEffect(() => () => cancelAnimationFrame(frame.current), []);
  useEffect(schedule, [schedule, model, layout, viewHeight, width, focused, hasFocus]);
  // The theme toggle changes the CSS variables: repaint with the new colours.
  useEffect(() => {
    const mo = new MutationObserver(schedule);
    mo.observe(document.documentElement, { attributes: true, attributeFilter: ['data-theme'] });
    return () => mo.disconnect();
  }, [schedule]);

  /** The cell in words for a screen reader, with the allocation holding it. */
  const describe = (c: HeatCell) => {
    const mark = allocMarkOf(model.allocs, c);
    return mark ? `${cellTitle(c)}, ${allocLine(mark)}` : cellTitle(c);
  };
  const open = (i: number) => {
    const c = model.cells[i];
    if (c) navigate(nodePath(c.nodeId));
  };
  const cellUnder = (e: MouseEvent) => {
    const r = e.currentTarget.getBoundingClientRect();
    return cellAt(layout, e.clientX - r.left, e.clientY - r.top + (scrollerRef.current?.scrollTop ?? 0));
  };
  const bringIntoView = (i: number) => {
    const scroller = scrollerRef.current;
    if (!scroller) return;
    const { y } = cellOrigin(layout, i);
    if (y < scroller.scrollTop) scroller.scrollTop = y;
    else if (y + layout.cell > scroller.scrollTop + viewHeight) scroller.scrollTop = y + layout.cell - viewHeight;
  };
  const onKeyDown = (e: KeyboardEvent) => {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      open(focused);
      return;
    }
    const next = moveFocus(layout, focused, e.key, { ctrl: e.ctrlKey || e.metaKey, pageRows: Math.floor(viewHeight / layout.pitch) });
    if (next === null) return;
    e.preventDefault();
    setHover(null);
    setFocus(next);
    bringIntoView(next);
    const c = model.cells[next];
    if (c) setAnnounce(describe(c));
  };

  if (total === 0) return <Empty>No GPUs reported yet.</Empty>;
  const tipIndex = hover ?? (hasFocus ? focused : null);
  const tip = tipIndex === null ? undefined : model.cells[tipIndex];
  const tipMark = tip ? allocMarkOf(model.allocs, tip) : null;
  const tipAt = tipIndex === null ? null : cellOrigin(layout, tipIndex);
  const TIP_WIDTH = 260;
  const tipLeft = tipAt === null ? 0 : tipAt.x + layout.pitch + TIP_WIDTH + 4 > width ? Math.max(0, tipAt.x - TIP_WIDTH - 4) : tipAt.x + layout.pitch + 4;
  const tipTop = tipAt === null ? 0 : Math.max(0, tipAt.y - scrollTop);

  return (
    <div className="heatmap-block">
      <div className="heatmap-wrap">
        <div
          ref={scrollerRef}
          className="heatmap-scroller"
          style={{ maxHeight: VIEWPORT_MAX }}
          onScroll={(e) => {
            setScrollTop(e.currentTarget.scrollTop);
            setHover(null);
            schedule();
          }}
        >
          <canvas
            ref={canvasRef}
            className="heatmap-canvas"
            style={{ height: viewHeight, display: noCanvas ? 'none' : undefined }}
            tabIndex={0}
            aria-roledescription="heatmap"
            aria-label={`GPU utilization of ${count(total)} GPUs. Arrow keys move between GPUs, Home and End to a row's ends, Enter opens the GPU's node.`}
            aria-describedby={liveId}
            data-testid="heatmap"
            data-cells={total}
            data-cols={layout.cols}
            data-pitch={layout.pitch}
            data-cell={layout.cell}
            onFocus={() => {
              setHasFocus(true);
              const c = model.cells[focused];
              if (c) setAnnounce(describe(c));
            }}
            onBlur={() => setHasFocus(false)}
            onKeyDown={onKeyDown}
            onMouseMove={(e) => setHover(cellUnder(e))}
            onMouseLeave={() => setHover(null)}
            onClick={(e) => {
              const i = cellUnder(e);
              if (i === null) return;
              setFocus(i);
              open(i);
            }}
          />
          <div aria-hidden="true" style={{ height: Math.max(0, layout.height - viewHeight) }} />
        </div>
        <div
          role="tooltip"
          className={`heatmap-tooltip${tip?.offline ? ' stale' : ''}`}
          data-testid="heatmap-tooltip"
          data-stale={tip?.offline ? 'true' : undefined}
          hidden={!tip}
          style={{ left: tipLeft, top: tipTop, width: TIP_WIDTH }}
          data-node={tip?.hostname}
          data-gpu={tip?.index}
          data-health={tip?.health}
          data-allocation={tipMark?.label}
        >
          {tip && cellLines(tip).map((line, i) => <div key={i}>{line}</div>)}
          {tipMark && <div className="heatmap-tooltip-alloc">{allocLine(tipMark)}</div>}
        </div>
        <div id={liveId} className="heatmap-sr" aria-live="polite" data-testid="heatmap-focus-text">
          {hasFocus ? announce : ''}
        </div>
      </div>
      {noCanvas && <p className="muted">This browser cannot draw the heatmap; the summary below has the same numbers.</p>}
      <Legend />
      <HeatmapSummary summary={summary} />
    </div>
  );
});

function Legend() {
  return (
    <div className="heatmap-legend" aria-hidden="true">
      <span>0%</span>
      <span className="heatmap-ramp" />
      <span>100%</span>
      <span className="heatmap-swatch heatmap-swatch-degraded" /> degraded
      <span className="heatmap-swatch heatmap-swatch-unhealthy" /> unhealthy
      <span className="heatmap-swatch heatmap-swatch-unknown" /> health unknown
      <span className="heatmap-swatch" /> no reading / offline
      <span className="heatmap-swatch heatmap-swatch-allocated" /> allocated to a job
    </div>
  );
}

/** The heatmap in words: counts by utilization band and health, and links to the GPUs that need attention. */
export function HeatmapSummary({ summary: s }: { summary: HeatSummary }) {
  const shown = s.attention.slice(0, ATTENTION_LIMIT);
  return (
    <div className="heatmap-summary">
      <p data-testid="heatmap-summary">
        {count(s.gpus)} GPUs on {count(s.nodes)} nodes. Utilization: {UTIL_BANDS.map((b, i) => `${b.label} ${count(s.byBand[i]!)}`).join(', ')}, no reading{' '}
        {count(s.noReading)}. Health: healthy {count(s.byHealth.healthy)}, degraded {count(s.byHealth.degraded)}, unhealthy {count(s.byHealth.unhealthy)},
        unknown {count(s.byHealth.unknown)}. Not taking work (GPU or node cordoned, draining, drained or unhealthy): {count(s.outOfService)}. Allocated to jobs:{' '}
        {count(s.allocated)}.
      </p>
      {shown.length > 0 && (
        <>
          <h3 className="heatmap-attention-title">Needs attention</h3>
          <ul className="heatmap-attention" data-testid="heatmap-attention">
            {shown.map((c) => (
              <li key={`${c.nodeId}/${c.index}`}>
                <Badge value={c.health} />{' '}
                <Link to={nodePath(c.nodeId)} data-testid="heatmap-attention-link" data-node={c.hostname} data-gpu={c.index} data-health={c.health}>
                  {c.hostname} GPU {c.index}
                </Link>{' '}
                <span className="muted">{c.state !== 'READY' ? c.state : ''}</span>
              </li>
            ))}
          </ul>
          {s.attention.length > shown.length && (
            <p className="muted">and {count(s.attention.length - shown.length)} more GPUs that are degraded or unhealthy.</p>
          )}
        </>
      )}
    </div>
  );
}
