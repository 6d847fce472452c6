// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, screen, waitFor } from '@testing-library/react';
import { FleetGpuRow, GpuView } from '@gpufleet/protocol';
import { FakeApi, fakeError } from '../../testing/fake-api.js';
import { renderSignedIn } from '../../testing/render-page.js';
import { gpuViewFixture } from '../../testing/node-fixture.js';
import { GpusPage } from '../gpus.js';

/*
 * The GPUs page against a fake GET /api/v1/gpus that pages like the server
 * (server/src/routes/fleet-routes.ts: limit, offset, total): 1,000 GPUs, and the page must ask
 * only for the pages it shows and render only the rows in view.
 */

const TOTAL = 1000;
const nodeId = (n: number) => `did:key:z6MkNODE${String(n).padStart(4, '0')}`;
function row(i: number): FleetGpuRow {
  const n = Math.floor(i / 8);
  const offline = n === 1;
  const gpu = GpuView.parse(
    gpuViewFixture(i % 8, i === 3 ? { state: 'CORDONED', stateChange: { by: 'x', reason: 'fan', at: '2025-05-01T12:00:00.000Z', drainDeadline: null } } : {}, {
      utilizationPct: i % 100,
    }),
  );
  return FleetGpuRow.parse({
    nodeId: nodeId(n),
    hostname: `gpu-${String(n).padStart(4, '0')}`,
    nodeStatus: offline ? 'OFFLINE' : 'READY',
    gpu,
    health: 'healthy',
  });
}
// GPU 2 of the first node is held by llama/web-0 (the server's `allocation`; the schema above strips it, so it is added after).
const ALL = Array.from({ length: TOTAL }, (_, i) => (i === 2 ? { ...row(i), allocation: { id: 'alloc_llama_0', job: 'llama', name: 'web-0' } } : row(i)));

let api: FakeApi;
beforeEach(() => {
  window.history.replaceState(null, '', '/gpus');
  api = new FakeApi()
    .on('GET', '/api/v1/fleet/summary', () => ({
      status: 200,
      body: {
        nodes: { total: 125, byStatus: {} },
        gpus: { total: TOTAL, byModel: { H100: TOTAL, A100: 0 }, byVendor: { nvidia: TOTAL } },
        powerDrawW: 0,
        avgGpuUtilPct: null,
      },
    }))
    .on('GET', '/api/v1/gpus', (call) => {
      if (call.query.get('state') === 'BROKEN') return fakeError(400, 'invalid_argument', 'state must be one of READY, CORDONED, UNHEALTHY');
      const limit = Number(call.query.get('limit') ?? TOTAL);
      const offset = Number(call.query.get('offset') ?? 0);
      const state = call.query.get('state');
      const items = state ? ALL.filter((r) => r.gpu.state === state) : ALL;
      return { status: 200, body: { items: items.slice(offset, offset + limit), total: items.length } };
    });
  vi.stubGlobal('fetch', api.fetch);
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  sessionStorage.clear();
});

const viewer = { token: `gft_0123456789abcdef_${'v'.repeat(43)}`, name: 'watcher', role: 'viewer' as const };
const gpuCalls = () => api.callsTo('GET', '/api/v1/gpus').map((c) => Object.fromEntries(c.query));

describe('GPUs page', () => {
  it('shows how many GPUs match and renders only the rows in view, from the first page only', async () => {
    renderSignedIn(<GpusPage />, viewer);
    await waitFor(() => expect(screen.getByTestId('gpus-total').dataset.total).toBe(String(TOTAL)));
    const rows = screen.getAllByTestId('gpus-row');
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.length).toBeLessThan(60);
    expect(gpuCalls()).toEqual([{ sort: 'node', limit: '200', offset: '0' }]);
    expect(screen.getByRole('table', { name: 'GPUs' }).getAttribute('aria-rowcount')).toBe(String(TOTAL + 1));
  });

  it('fetches only the page scrolled to, and renders its rows', async () => {
    renderSignedIn(<GpusPage />, viewer);
    await waitFor(() => expect(screen.getAllByTestId('gpus-row').length).toBeGreaterThan(0));
    const list = screen.getByRole('table', { name: 'GPUs' });
    list.scrollTop = 500 * 40;
    fireEvent.scroll(list);
    await waitFor(() => expect(screen.getAllByTestId('gpus-row').some((r) => r.dataset.hostname === 'gpu-0062' && r.dataset.gpu === '4')).toBe(true));
    expect(gpuCalls().map((c) => c.offset)).toEqual(['0', '400']);
    expect(screen.getAllByTestId('gpus-row').length).toBeLessThan(60);
  });

  it('asks the server for a sort and filters, and keeps them in the URL', async () => {
    renderSignedIn(<GpusPage />, viewer);
    await waitFor(() => expect(screen.getAllByTestId('gpus-row').length).toBeGreaterThan(0));
    fireEvent.click(screen.getByTestId('gpus-sort-util'));
    await waitFor(() => expect(gpuCalls().at(-1)).toMatchObject({ sort: '-util' }));
    fireEvent.click(screen.getByTestId('gpus-sort-util'));
    await waitFor(() => expect(gpuCalls().at(-1)).toMatchObject({ sort: 'util' }));
    fireEvent.change(screen.getByTestId('gpus-state'), { target: { value: 'CORDONED' } });
    await waitFor(() => expect(screen.getByTestId('gpus-total').dataset.total).toBe('1'));
    expect(gpuCalls().at(-1)).toMatchObject({ state: 'CORDONED', sort: 'util' });
    await waitFor(() => expect(window.location.search).toBe('?state=CORDONED&sort=util'));
    const [only] = screen.getAllByTestId('gpus-row');
    expect(only!.dataset).toMatchObject({ gpu: '3', state: 'CORDONED', hostname: 'gpu-0000' });
  });

  it("offers the fleet's models and sends the one picked", async () => {
    renderSignedIn(<GpusPage />, viewer);
    await waitFor(() => expect([...(screen.getByTestId('gpus-model') as HTMLSelectElement).options].map((o) => o.value)).toEqual(['', 'A100', 'H100']));
    fireEvent.change(screen.getByTestId('gpus-model'), { target: { value: 'H100' } });
    await waitFor(() => expect(gpuCalls().at(-1)).toMatchObject({ model: 'H100' }));
  });

  it('reads its filters from the URL', async () => {
    window.history.replaceState(null, '', '/gpus?health=unhealthy&node=gpu-7&sort=-temp');
    renderSignedIn(<GpusPage />, viewer);
    await waitFor(() => expect(gpuCalls()[0]).toEqual({ health: 'unhealthy', node: 'gpu-7', sort: '-temp', limit: '200', offset: '0' }));
    expect((await screen.findByTestId('gpus-sort-temp')).dataset.sort).toBe('descending');
    expect((screen.getByTestId('gpus-health') as HTMLSelectElement).value).toBe('unhealthy');
  });

  it('opens the node of a row by id', async () => {
    renderSignedIn(<GpusPage />, viewer);
    await waitFor(() => expect(screen.getAllByTestId('gpus-row').length).toBeGreaterThan(0));
    fireEvent.click(screen.getAllByTestId('gpus-row')[9]!);
    expect(window.location.pathname).toBe(`/nodes/${encodeURIComponent(nodeId(1))}`);
  });

  it('dims the GPUs of an offline node and says so', async () => {
    renderSignedIn(<GpusPage />, viewer);
    await waitFor(() => expect(screen.getAllByTestId('gpus-row').length).toBeGreaterThan(10));
    const rows = screen.getAllByTestId('gpus-row');
    expect(rows[0]!.dataset.stale).toBeUndefined();
    expect(rows[8]!.dataset.stale).toBe('true');
    expect(rows[8]!.className).toContain('stale');
    expect(rows[8]!.textContent).toContain('(offline)');
  });

  it("shows the server's refusal with a retry", async () => {
    window.history.replaceState(null, '', '/gpus?state=BROKEN');
    renderSignedIn(<GpusPage />, viewer);
    await waitFor(() => expect(document.body.textContent).toContain('state must be one of READY, CORDONED, UNHEALTHY'));
  });

  it('names the allocation holding a GPU, and opens its job from there (not the node)', async () => {
    renderSignedIn(<GpusPage />, viewer);
    await waitFor(() => expect(screen.getAllByTestId('gpus-row').length).toBeGreaterThan(3));
    const rows = screen.getAllByTestId('gpus-row');
    expect(rows.map((r) => r.dataset.allocation).slice(0, 4)).toEqual(['', '', 'alloc_llama_0', '']);
    expect(screen.getAllByRole('columnheader').map((h) => h.textContent)).toContain('Allocation');
    const links = screen.getAllByTestId('gpus-allocation');
    expect(links.map((a) => [a.textContent, a.getAttribute('href')])).toEqual([['llama/web-0', '/jobs/llama?alloc=web-0']]);
    expect(rows[0]!.textContent).toContain('—');
    fireEvent.click(links[0]!);
    expect(window.location.pathname).toBe('/jobs/llama');
    expect(window.location.search).toBe('?alloc=web-0');
  });
});
