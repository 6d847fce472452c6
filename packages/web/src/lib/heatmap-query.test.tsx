// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { cleanup, screen, waitFor } from '@testing-library/react';
import type { FleetHeatmap } from '@gpufleet/protocol';
import { FakeApi, fakeError, type FakeReply } from '../testing/fake-api.js';
import { renderSignedIn } from '../testing/render-page.js';
import { allocationFixture } from '../testing/job-fixture.js';
import { summarizeHeatmap } from './heatmap.js';
import { useFleetHeatmap } from './heatmap-query.js';

/*
 * The overview's heatmap model with allocated GPUs marked: the heatmap and the active
 * allocations are two calls; a refused allocations call (an older server, a fault) leaves the
 * heatmap as it is, unmarked.
 */

const HEATMAP: FleetHeatmap = {
  at: '2026-01-01T00:00:00.000Z',
  models: ['NVIDIA H100 80GB HBM3'],
  verdicts: ['healthy', 'degraded', 'unhealthy', 'unknown'],
  states: ['READY', 'CORDONED', 'UNHEALTHY'],
  nodes: { id: ['node-a'], hostname: ['gpu-a'], status: ['READY'], connected: [true], gpuCount: [2] },
  lastSeen: [1_700_000_000_000],
  gpus: { index: [0, 1], model: [0, 0], util: [10, 20], temp: [50, 50], power: [100, 100], health: [0, 0], state: [0, 0] },
};

function Probe() {
  const q = useFleetHeatmap();
  if (!q.data) return <p>loading</p>;
  return <p data-testid="allocated">{summarizeHeatmap(q.data).allocated}</p>;
}

let allocations: FakeReply;
beforeEach(() => {
  const api = new FakeApi().on('GET', '/api/v1/fleet/heatmap', () => ({ status: 200, body: HEATMAP })).on('GET', '/api/v1/allocations', () => allocations);
  vi.stubGlobal('fetch', api.fetch);
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  sessionStorage.clear();
});

const viewer = { token: `gft_0123456789abcdef_${'v'.repeat(43)}`, name: 'watcher', role: 'viewer' as const };

describe('useFleetHeatmap', () => {
  it('marks the GPUs the active allocations hold', async () => {
    allocations = { status: 200, body: { items: [allocationFixture('llama', 1, { nodeId: 'node-a' })] } };
    renderSignedIn(<Probe />, viewer);
    await waitFor(() => expect(screen.getByTestId('allocated').textContent).toBe('1'));
  });

  it('a refused allocations call leaves the heatmap unmarked, not broken', async () => {
    allocations = fakeError(404, 'not_found', 'no route GET /api/v1/allocations');
    renderSignedIn(<Probe />, viewer);
    await waitFor(() => expect(screen.getByTestId('allocated').textContent).toBe('0'));
  });
});
