// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, screen, waitFor } from '@testing-library/react';
import { GpuView, NodeView } from '@gpufleet/protocol';
import { GpuTable } from '../node-gpu-table.js';
import { FakeApi } from '../../testing/fake-api.js';
import { renderSignedIn } from '../../testing/render-page.js';
import { gpuViewFixture, nodeViewFixture } from '../../testing/node-fixture.js';

/*
 * The node page's GPU table against a fake of POST /api/v1/nodes/:ref/gpus/:gpu/cordon|uncordon
 * (server/src/routes/health-routes.ts: body { reason? }): the action asks first, with a reason.
 */

const ID = 'did:key:z6MkGPUTABLE';
const operator = { token: `gft_0123456789abcdef_${'o'.repeat(43)}`, name: 'op', role: 'operator' as const };

function node(over: Partial<NodeView> = {}): NodeView {
  const gpus = [gpuViewFixture(0), gpuViewFixture(1)].map((g) => GpuView.parse(g));
  return NodeView.parse(nodeViewFixture(ID, 'gpu-table', { gpus, ...over }));
}

let api: FakeApi;
beforeEach(() => {
  api = new FakeApi().on('POST', '/api/v1/nodes/:ref/gpus/:gpu/:op', (call, { gpu, op }) => {
    const n = node();
    const reason = (call.body as { reason?: string } | undefined)?.reason ?? null;
    n.gpus[Number(gpu)] = {
      ...n.gpus[Number(gpu)]!,
      state: op === 'cordon' ? 'CORDONED' : 'READY',
      stateChange: op === 'cordon' ? { by: 'token:op', reason, at: new Date().toISOString(), drainDeadline: null } : null,
    };
    return { status: 200, body: n };
  });
  vi.stubGlobal('fetch', api.fetch);
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  sessionStorage.clear();
});

const posts = () => api.callsTo('POST', '/api/v1/nodes/');

describe('GPU table', () => {
  it('asks for a reason before cordoning a GPU, and sends it', async () => {
    renderSignedIn(<GpuTable n={node()} />, operator);
    fireEvent.click(screen.getByTestId('gpu-cordon-1'));
    const dialog = screen.getByTestId('confirm-dialog');
    expect(dialog.textContent).toContain('Cordon GPU 1 of gpu-table?');
    expect(posts()).toHaveLength(0);
    fireEvent.change(screen.getByTestId('confirm-reason'), { target: { value: '  ECC errors  ' } });
    fireEvent.click(screen.getByTestId('confirm-ok'));
    await waitFor(() => expect(posts()).toHaveLength(1));
    expect(posts()[0]!.path).toBe(`/api/v1/nodes/${encodeURIComponent(ID)}/gpus/1/cordon`);
    expect(posts()[0]!.body).toEqual({ reason: 'ECC errors' });
  });

  it('sends nothing when the dialog is cancelled, and no reason field when none was given', async () => {
    renderSignedIn(<GpuTable n={node()} />, operator);
    fireEvent.click(screen.getByTestId('gpu-cordon-0'));
    fireEvent.click(screen.getByTestId('confirm-cancel'));
    await waitFor(() => expect(screen.queryByTestId('confirm-dialog')).toBeNull());
    expect(posts()).toHaveLength(0);
    fireEvent.click(screen.getByTestId('gpu-cordon-0'));
    fireEvent.click(screen.getByTestId('confirm-ok'));
    await waitFor(() => expect(posts()).toHaveLength(1));
    expect(posts()[0]!.body).toEqual({});
  });

  it('asks before uncordoning too', async () => {
    const n = node();
    n.gpus[0] = { ...n.gpus[0]!, state: 'CORDONED', stateChange: { by: 'x', reason: 'r', at: '2025-05-01T12:00:00.000Z', drainDeadline: null } };
    renderSignedIn(<GpuTable n={n} />, operator);
    fireEvent.click(screen.getByTestId('gpu-uncordon-0'));
    expect(screen.getByTestId('confirm-dialog').textContent).toContain('Uncordon GPU 0 of gpu-table?');
    fireEvent.change(screen.getByTestId('confirm-reason'), { target: { value: 'fan replaced' } });
    fireEvent.click(screen.getByTestId('confirm-ok'));
    await waitFor(() => expect(posts()).toHaveLength(1));
    expect(posts()[0]!.path).toMatch(/\/gpus\/0\/uncordon$/);
    expect(posts()[0]!.body).toEqual({ reason: 'fan replaced' });
  });

  it("dims an offline node's GPU readings and marks them stale", () => {
    renderSignedIn(<GpuTable n={node({ status: 'OFFLINE', connected: false })} />, operator);
    const rows = screen.getAllByTestId('gpu-row');
    expect(rows.map((r) => [r.dataset.stale, r.className])).toEqual([
      ['true', 'stale'],
      ['true', 'stale'],
    ]);
    expect(rows[0]!.getAttribute('title')).toMatch(/not live/);
  });

  it('shows live readings plainly', () => {
    renderSignedIn(<GpuTable n={node()} />, operator);
    const rows = screen.getAllByTestId('gpu-row');
    expect(rows.map((r) => r.dataset.stale ?? null)).toEqual([null, null]);
    expect(rows[0]!.textContent).toContain('40%');
  });
});
