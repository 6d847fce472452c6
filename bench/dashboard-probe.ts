// What the dashboard bench runs inside the page. Plain JavaScript strings, not functions: tsx
// would add its own helpers to a function's source, which do not exist in the browser.
//
// The heatmap counts as drawn when the element with data-testid="heatmap" reports the expected
// number of cells: its data-drawn-cells attribute (a canvas heatmap sets it after painting) or,
// for a heatmap made of one DOM element per GPU, its number of children.

/** Installed before any page script: long tasks, SSE arrivals, and the first frame the heatmap is whole. */
export function probeScript(expectedCells: number): string {
  return `(() => {
  const b = (window.__bench = { longTasks: [], sseEvents: 0, sseChars: 0, markers: {}, drawnAt: null });
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) b.longTasks.push([e.startTime, e.duration]);
    }).observe({ type: 'longtask', buffered: true });
  } catch (e) { b.longTaskError = String(e); }
  // Each SSE event's arrival time and size; a marker (a cordon reason) notes when it first arrived.
  const add = EventSource.prototype.addEventListener;
  EventSource.prototype.addEventListener = function (type, listener, options) {
    if (typeof listener !== 'function') return add.call(this, type, listener, options);
    return add.call(this, type, function (ev) {
      const t = performance.now();
      if (typeof ev.data === 'string') {
        b.sseEvents++;
        b.sseChars += ev.data.length;
        for (const m in b.markers) if (b.markers[m] === null && ev.data.includes(m)) b.markers[m] = t;
      }
      return listener.call(this, ev);
    }, options);
  };
  b.drawnCells = () => {
    const el = document.querySelector('[data-testid="heatmap"]');
    if (!el) return 0;
    const d = el.getAttribute('data-drawn-cells');
    return d !== null ? Number(d) : el.childElementCount;
  };
  // The frame after the one that first holds every cell: that one has been painted.
  const tick = () => {
    if (b.drawnCells() >= ${Number(expectedCells)}) requestAnimationFrame(() => { b.drawnAt = performance.now(); });
    else requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
})();`;
}

/**
 * Starts watching for a cordoned GPU to show on the heatmap; the promise lands in
 * window.__bench.shown as { arrivedAt, shownAt, timeOrigin } (page clock, ms).
 * A canvas heatmap shows it in its data-out-of-service count (set when drawn); a DOM heatmap in
 * the GPU's own cell (its title names the state).
 */
export function watchCordonScript(marker: string, hostname: string, gpu: number): string {
  return `(() => {
  const b = window.__bench;
  b.markers[${JSON.stringify(marker)}] = null;
  const el = document.querySelector('[data-testid="heatmap"]');
  const canvas = el && el.hasAttribute('data-out-of-service');
  const before = canvas ? Number(el.getAttribute('data-out-of-service')) : 0;
  const cell = canvas ? null : el.querySelector('[data-node=${JSON.stringify(hostname)}][data-gpu="${gpu}"]');
  const shown = () => {
    const now = document.querySelector('[data-testid="heatmap"]');
    if (canvas) return now && Number(now.getAttribute('data-out-of-service')) > before;
    return cell && cell.isConnected && (cell.getAttribute('title') || '').includes('CORDONED');
  };
  b.shown = new Promise((resolve) => {
    const check = () => {
      if (shown()) requestAnimationFrame(() => resolve({ arrivedAt: b.markers[${JSON.stringify(marker)}], shownAt: performance.now(), timeOrigin: performance.timeOrigin }));
      else requestAnimationFrame(check);
    };
    requestAnimationFrame(check);
  });
  return { canvas: !!canvas, found: !!(canvas || cell) };
})()`;
}

/**
 * Arms a one-shot mousemove watcher; window.__bench.hover resolves with the ms from the event to
 * the frame after the tooltip shows new text (or, without a tooltip element, the next frame).
 */
export function armHoverScript(): string {
  return `(() => {
  const b = window.__bench;
  const tipText = () => { const t = document.querySelector('[data-testid="heatmap-tooltip"]'); return t && !t.hidden ? t.textContent : null; };
  const prev = tipText();
  const hasTip = !!document.querySelector('[data-testid="heatmap-tooltip"]');
  b.hover = new Promise((resolve) => {
    const onMove = (e) => {
      document.removeEventListener('mousemove', onMove, true);
      const t0 = e.timeStamp;
      const check = () => {
        const now = tipText();
        if (!hasTip || (now && now !== prev)) requestAnimationFrame(() => resolve({ ms: performance.now() - t0, text: now }));
        else requestAnimationFrame(check);
      };
      requestAnimationFrame(check);
    };
    document.addEventListener('mousemove', onMove, true);
  });
  return hasTip;
})()`;
}

/** Page coordinates of `count` distinct cells inside the viewport, spread over the visible heatmap. */
export function hoverTargetsScript(count: number): string {
  return `(() => {
  const el = document.querySelector('[data-testid="heatmap"]');
  const r = el.getBoundingClientRect();
  const top = Math.max(r.top, 0), bottom = Math.min(r.bottom, innerHeight);
  const out = [];
  if (el.hasAttribute('data-cols')) {
    const cols = Number(el.dataset.cols), pitch = Number(el.dataset.pitch), size = Number(el.dataset.cell);
    const rows = Math.floor((bottom - r.top) / pitch) - 1;
    const firstRow = Math.ceil((top - r.top) / pitch);
    const total = Number(el.dataset.drawnCells);
    for (let i = 0; out.length < ${Number(count)} && i < ${Number(count)} * 20; i++) {
      const col = (i * 37) % cols, row = firstRow + ((i * 11) % Math.max(1, rows - firstRow));
      const x = r.left + col * pitch + size / 2, y = r.top + row * pitch + size / 2;
      // Under a sticky header, say, the mouse would never reach the canvas.
      if (row * cols + col >= total || document.elementFromPoint(x, y) !== el) continue;
      out.push({ x, y });
    }
  } else {
    const cells = el.children;
    const visible = [];
    for (let i = 0; i < cells.length && visible.length < 5000; i++) {
      const c = cells[i].getBoundingClientRect();
      if (c.top >= top && c.bottom <= bottom && document.elementFromPoint(c.left + c.width / 2, c.top + c.height / 2) === cells[i]) visible.push(c);
      else if (c.top > bottom) break;
    }
    for (let i = 0; i < ${Number(count)} && visible.length > 0; i++) {
      const c = visible[(i * 997) % visible.length];
      out.push({ x: c.left + c.width / 2, y: c.top + c.height / 2 });
    }
  }
  return out;
})()`;
}
