// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { act, cleanup, fireEvent, render, screen } from '@testing-library/react';
import type { NodeView } from '@gpufleet/protocol';
import { Heatmap } from '../heatmap.js';
import { Router } from '../../lib/router.js';
import { buildHeatmap, heatNodeFromView, patchHeatmap, type HeatmapModel } from '../../lib/heatmap.js';
import { cellOrigin, gridLayout } from '../../lib/heatmap-grid.js';
import { allocMarksFrom, withAllocations } from '../../lib/heatmap-allocs.js';
import { allocationFixture } from '../../testing/job-fixture.js';

/*
 * The canvas heatmap in jsdom: no layout and no 2D context here, so the scroller's width is set
 * by hand, and the context is either missing (the component must still say what it shows) or a
 * recorder (to see what a paint would set). Hit-testing maps client coordinates to cells with
 * the canvas at (0, 0), which is where jsdom puts every element.
 */

const WIDTH = 5 * 17 - 3; // five 14 px columns

function gpu(index: number, util: number | null, verdict: string, state = 'READY') {
  return {
    index,
    name: 'NVIDIA H100 80GB HBM3',
    state,
    health: { verdict },
    sample: util === null ? null : { utilizationPct: util, temperatureC: 55, powerDrawW: 300 },
  };
}
function view(hostname: string, gpus: unknown[], status = 'READY'): NodeView {
  return { id: `id-${hostname}`, hostname, status, connected: status !== 'OFFLINE', gpus } as unknown as NodeView;
}
/** 3 nodes x 4 GPUs: node-2 GPU 1 unhealthy, node-3 GPU 3 degraded. */
function fleet(): NodeView[] {
  return [
    view('node-1', [gpu(0, 10, 'healthy'), gpu(1, 20, 'healthy'), gpu(2, 30, 'healthy'), gpu(3, 40, 'healthy')]),
    view('node-2', [gpu(0, 50, 'healthy'), gpu(1, 99, 'unhealthy', 'UNHEALTHY'), gpu(2, 60, 'healthy'), gpu(3, 70, 'healthy')]),
    view('node-3', [gpu(0, 80, 'healthy'), gpu(1, 0, 'healthy'), gpu(2, null, 'unknown'), gpu(3, 90, 'degraded')]),
  ];
}
const modelOf = (views: NodeView[]): HeatmapModel => buildHeatmap(views.map(heatNodeFromView).filter((n) => n !== null));
const layout = gridLayout(12, WIDTH);
/** Client coordinates of the middle of cell i. */
const centre = (i: number) => {
  const { x, y } = cellOrigin(layout, i);
  return { clientX: x + 7, clientY: y + 7 };
};
const nextFrame = () => act(() => new Promise<void>((r) => requestAnimationFrame(() => r())));

let getContext: ReturnType<typeof vi.fn>;
beforeEach(() => {
  window.history.replaceState(null, '', '/');
  Object.defineProperty(HTMLElement.prototype, 'clientWidth', {
    configurable: true,
    get(this: HTMLElement) {
      return this.classList.contains('heatmap-scroller') ? WIDTH : 0;
    },
  });
  getContext = vi.fn(() => null);
  HTMLCanvasElement.prototype.getContext = getContext as never;
});
afterEach(() => {
  cleanup();
  delete (HTMLElement.prototype as { clientWidth?: number }).clientWidth;
});

function show(model: HeatmapModel) {
  return render(
    <Router>
      <Heatmap model={model} />
    </Router>,
  );
}

describe('Heatmap', () => {
  it('says in words what it draws: counts by band and health, and links to the GPUs needing attention', () => {
    show(modelOf(fleet()));
    const summary = screen.getByTestId('heatmap-summary').textContent!;
    expect(summary).toContain('12 GPUs on 3 nodes');
    expect(summary).toContain('0–24% 3, 25–49% 2, 50–74% 3, 75–100% 3, no reading 1');
    expect(summary).toContain('healthy 9, degraded 1, unhealthy 1, unknown 1');
    expect(summary).toContain('Not taking work (GPU or node cordoned, draining, drained or unhealthy): 1');
    const links = screen.getAllByTestId('heatmap-attention-link');
    expect(links.map((a) => `${a.dataset.node}/${a.dataset.gpu}/${a.dataset.health}`)).toEqual(['node-2/1/unhealthy', 'node-3/3/degraded']);
    fireEvent.click(links[0]!);
    expect(window.location.pathname).toBe('/nodes/id-node-2');
  });

  it('still shows the summary, and says so, when the browser cannot draw on a canvas', async () => {
    show(modelOf(fleet()));
    await nextFrame();
    expect(getContext).toHaveBeenCalledWith('2d');
    expect(screen.getByText(/cannot draw the heatmap/)).toBeTruthy();
    expect(screen.getByTestId('heatmap').dataset.drawnCells).toBeUndefined();
    expect(screen.getByTestId('heatmap-summary').textContent).toContain('12 GPUs');
  });

  it('marks the canvas with what it painted, once per frame, and again after a live update', async () => {
    const fills: string[] = [];
    const ctx = {
      fillStyle: '',
      strokeStyle: '',
      lineWidth: 1,
      setTransform() {},
      clearRect() {},
      strokeRect() {},
      fillRect(this: { fillStyle: string }) {
        fills.push(this.fillStyle);
      },
    };
    getContext.mockReturnValue(ctx);
    const model = modelOf(fleet());
    const { rerender } = show(model);
    await nextFrame();
    const canvas = screen.getByTestId('heatmap');
    expect(canvas.dataset).toMatchObject({
      drawnCells: '12',
      nodes: '3',
      unhealthy: '1',
      degraded: '1',
      unknown: '1',
      outOfService: '1',
      cols: '5',
      cell: '14',
      pitch: '17',
    });
    // 12 cells and one extra inner fill for each of the two ringed ones.
    expect(fills).toHaveLength(14);
    expect(fills).toContain('#b91c1c');

    const cordoned = patchHeatmap(model, [
      view('node-1', [gpu(0, 10, 'healthy', 'CORDONED'), gpu(1, 20, 'unhealthy', 'UNHEALTHY'), gpu(2, 30, 'healthy'), gpu(3, 40, 'healthy')]),
    ]);
    rerender(
      <Router>
        <Heatmap model={cordoned} />
      </Router>,
    );
    expect(canvas.dataset.outOfService).toBe('1'); // not painted yet
    await nextFrame();
    expect(canvas.dataset).toMatchObject({ outOfService: '3', unhealthy: '2' });
  });

  it('shows node, GPU, model and readings on hover, nothing over a gap, and opens the node on click', () => {
    show(modelOf(fleet()));
    const canvas = screen.getByTestId('heatmap');
    const tip = screen.getByTestId('heatmap-tooltip');
    expect(tip.hidden).toBe(true);
    fireEvent.mouseMove(canvas, centre(5)); // node-2 GPU 1
    expect(tip.hidden).toBe(false);
    expect(tip.textContent).toContain('node-2 · GPU 1 · H100 80GB HBM3');
    expect(tip.textContent).toContain('util 99% · 55 °C · 300 W');
    expect(tip.textContent).toContain('health unhealthy · UNHEALTHY');
    expect(tip.dataset).toMatchObject({ node: 'node-2', gpu: '1', health: 'unhealthy' });
    fireEvent.mouseMove(canvas, { clientX: 15, clientY: 5 }); // the gap after cell 0
    expect(tip.hidden).toBe(true);
    fireEvent.mouseMove(canvas, centre(11));
    expect(tip.dataset.node).toBe('node-3');
    fireEvent.mouseLeave(canvas);
    expect(tip.hidden).toBe(true);
    fireEvent.click(canvas, centre(8));
    expect(window.location.pathname).toBe('/nodes/id-node-3');
  });

  it('moves between GPUs with the keyboard, announces each, and opens the node with Enter', () => {
    show(modelOf(fleet()));
    const canvas = screen.getByTestId('heatmap');
    const spoken = screen.getByTestId('heatmap-focus-text');
    expect(canvas.tabIndex).toBe(0);
    expect(canvas.getAttribute('aria-describedby')).toBe(spoken.id);
    expect(spoken.getAttribute('aria-live')).toBe('polite');
    fireEvent.focus(canvas);
    expect(spoken.textContent).toContain('node-1 · GPU 0');
    fireEvent.keyDown(canvas, { key: 'ArrowRight' });
    expect(spoken.textContent).toContain('node-1 · GPU 1');
    fireEvent.keyDown(canvas, { key: 'ArrowDown' }); // 5 columns: cell 6 = node-2 GPU 2
    expect(spoken.textContent).toContain('node-2 · GPU 2');
    expect(screen.getByTestId('heatmap-tooltip').dataset).toMatchObject({ node: 'node-2', gpu: '2' });
    fireEvent.keyDown(canvas, { key: 'End', ctrlKey: true });
    expect(spoken.textContent).toBe('node-3 · GPU 3 · H100 80GB HBM3, util 90% · 55 °C · 300 W, health degraded');
    fireEvent.keyDown(canvas, { key: 'Enter' });
    expect(window.location.pathname).toBe('/nodes/id-node-3');
    fireEvent.blur(canvas);
    expect(spoken.textContent).toBe('');
  });

  it('says when there are no GPUs instead of drawing an empty canvas', () => {
    show(modelOf([view('empty-1', [])]));
    expect(screen.queryByTestId('heatmap')).toBeNull();
    expect(screen.getByText('No GPUs reported yet.')).toBeTruthy();
  });

  it('says which allocation holds a GPU on hover and to a screen reader, and counts allocated GPUs', () => {
    // node-2 GPU 1 (cell 5) runs llama/web-0.
    const marks = allocMarksFrom([allocationFixture('llama', 0, { nodeId: 'id-node-2', hostname: 'node-2', gpus: [{ index: 1, uuid: null, name: null }] })]);
    show(withAllocations(modelOf(fleet()), marks));
    expect(screen.getByTestId('heatmap-summary').textContent).toContain('Allocated to jobs: 1.');
    const canvas = screen.getByTestId('heatmap');
    const tip = screen.getByTestId('heatmap-tooltip');
    fireEvent.mouseMove(canvas, centre(5));
    expect(tip.dataset.allocation).toBe('llama/web-0');
    expect(tip.textContent).toContain('allocation llama/web-0 (running)');
    fireEvent.mouseMove(canvas, centre(4));
    expect(tip.dataset.allocation).toBeUndefined();
    expect(tip.textContent).not.toContain('allocation');
    fireEvent.mouseLeave(canvas);
    fireEvent.focus(canvas);
    fireEvent.keyDown(canvas, { key: 'ArrowDown' });
    expect(screen.getByTestId('heatmap-focus-text').textContent).toBe(
      'node-2 · GPU 1 · H100 80GB HBM3, util 99% · 55 °C · 300 W, health unhealthy · UNHEALTHY, allocation llama/web-0 (running)',
    );
  });
});
