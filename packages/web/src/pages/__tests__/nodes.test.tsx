// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, screen, waitFor } from '@testing-library/react';
import { GpuView, NodeView } from '@gpufleet/protocol';
import { FakeApi } from '../../testing/fake-api.js';
import { renderSignedIn } from '../../testing/render-page.js';
import { gpuViewFixture, nodeViewFixture } from '../../testing/node-fixture.js';
import { NodesPage } from '../nodes.js';

/*
 * The node table against a fake GET /api/v1/nodes: two nodes share a hostname (old data can do
 * that), one is OFFLINE. Rows open nodes by id; an offline node's readings are dimmed, without
 * sparklines, and say when it was last seen.
 */

const LIVE = 'did:key:z6MkLIVE0001';
const GONE = 'did:key:z6MkGONE0002';
const gpus = [GpuView.parse(gpuViewFixture(0, {}, { utilizationPct: 77 }))];
const nodes = [
  NodeView.parse(nodeViewFixture(LIVE, 'twin', { gpus })),
  NodeView.parse(nodeViewFixture(GONE, 'twin', { gpus, status: 'OFFLINE', connected: false, lastSeenAt: new Date(Date.now() - 12 * 60_000).toISOString() })),
];

beforeEach(() => {
  window.history.replaceState(null, '', '/nodes');
  const api = new FakeApi()
    .on('GET', '/api/v1/nodes', () => ({ status: 200, body: { items: nodes, total: nodes.length } }))
    .on('GET', '/api/v1/sparklines', () => ({
      status: 200,
      body: { start: 0, bucketMs: 30_000, points: 2, items: nodes.map((n) => ({ id: n.id, util: [1, 2], temp: [3, 4] })), missing: [] },
    }));
  vi.stubGlobal('fetch', api.fetch);
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  sessionStorage.clear();
});

const viewer = { token: `gft_0123456789abcdef_${'v'.repeat(43)}`, name: 'watcher', role: 'viewer' as const };

describe('node table', () => {
  it('opens each of two nodes sharing a hostname by its own id', async () => {
    renderSignedIn(<NodesPage />, viewer);
    await waitFor(() => expect(screen.getAllByTestId('nodes-row')).toHaveLength(2));
    const [a, b] = screen.getAllByTestId('nodes-row');
    expect(a!.querySelector('a')!.getAttribute('href')).toBe(`/nodes/${encodeURIComponent(LIVE)}`);
    fireEvent.click(b!);
    expect(window.location.pathname).toBe(`/nodes/${encodeURIComponent(GONE)}`);
  });

  it("dims an offline node's readings, leaves out its sparklines and says when it was last seen", async () => {
    renderSignedIn(<NodesPage />, viewer);
    await waitFor(() => expect(screen.getAllByTestId('nodes-spark-util')).toHaveLength(1));
    const [live, gone] = screen.getAllByTestId('nodes-row');
    expect(live!.dataset.stale).toBeUndefined();
    expect(live!.querySelector('[data-testid="nodes-spark-util"]')).not.toBeNull();
    expect(gone!.dataset.stale).toBe('true');
    expect(gone!.className).toContain('stale');
    expect(gone!.querySelector('[data-testid="nodes-spark-util"]')).toBeNull();
    expect(gone!.querySelector('[data-testid="nodes-row-last-seen"]')!.textContent).toBe('last seen 12 min ago');
    expect(gone!.querySelector('.spark-cell')!.getAttribute('title')).toMatch(/not live/);
  });
});
