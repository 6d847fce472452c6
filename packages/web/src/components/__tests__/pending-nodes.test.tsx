// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, screen, waitFor } from '@testing-library/react';
import { NodeView } from '@gpufleet/protocol';
import { FakeApi, fakeError } from '../../testing/fake-api.js';
import { renderSignedIn } from '../../testing/render-page.js';
import { nodeViewFixture } from '../../testing/node-fixture.js';
import { PendingNodes, PendingNotice } from '../pending-nodes.js';

/*
 * Approving PENDING nodes against a fake of GET /api/v1/nodes?status=PENDING and
 * POST /api/v1/nodes/:ref/approve (server/src/routes/node-routes.ts: admin only, 409 when the
 * node is not PENDING, the node's view back).
 */

const TOKEN = `gft_00000000000000aa_${'a'.repeat(43)}`;
const admin = { token: TOKEN, name: 'root', role: 'admin' as const };

function fleet() {
  const nodes = [nodeViewFixture('did:key:z6MkPEND1', 'late-1', { status: 'PENDING' }), nodeViewFixture('did:key:z6MkREDY2', 'old-2')].map((n) =>
    NodeView.parse(n),
  );
  const api = new FakeApi()
    .on('GET', '/api/v1/nodes', (call) => {
      const status = call.query.get('status');
      const items = nodes.filter((n) => !status || n.status === status);
      return { status: 200, body: { items, total: items.length } };
    })
    .on('POST', '/api/v1/nodes/:ref/approve', (_call, { ref }) => {
      const n = nodes.find((x) => x.id === ref || x.hostname === ref);
      if (!n) return fakeError(404, 'not_found', `no node '${ref}'`);
      if (n.status !== 'PENDING') return fakeError(409, 'failed_precondition', `node ${n.hostname} is ${n.status}, not PENDING`);
      n.status = 'READY';
      return { status: 200, body: n };
    });
  return { api, nodes };
}

let f: ReturnType<typeof fleet>;
beforeEach(() => {
  f = fleet();
  vi.stubGlobal('fetch', f.api.fetch);
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  sessionStorage.clear();
});

describe('pending nodes', () => {
  it('the overview notice counts them and links to the filtered node table; none, no notice', () => {
    renderSignedIn(<PendingNotice count={0} />, admin);
    expect(screen.queryByTestId('overview-pending')).toBeNull();
    cleanup();
    renderSignedIn(<PendingNotice count={3} />, admin);
    expect(screen.getByTestId('overview-pending').textContent).toContain('3 nodes wait for approval.');
    expect(screen.getByTestId('overview-pending-link').getAttribute('href')).toBe('/nodes?status=PENDING');
  });

  it('lists PENDING nodes for an admin and approves one after asking', async () => {
    renderSignedIn(<PendingNodes />, admin);
    const approve = await screen.findByTestId('pending-approve-late-1');
    expect(screen.getByTestId('pending-nodes').textContent).toContain('1 node waits for approval');
    expect(screen.queryByTestId('pending-approve-old-2')).toBeNull();
    fireEvent.click(approve);
    expect(screen.getByTestId('confirm-dialog').textContent).toContain('did:key:z6MkPEND1');
    fireEvent.click(screen.getByTestId('confirm-cancel'));
    await waitFor(() => expect(screen.queryByTestId('confirm-dialog')).toBeNull());
    expect(f.api.callsTo('POST', '/api/v1/nodes')).toHaveLength(0);

    fireEvent.click(screen.getByTestId('pending-approve-late-1'));
    fireEvent.click(screen.getByTestId('confirm-ok'));
    // Approved, the list is asked again and, empty, goes away.
    await waitFor(() => expect(screen.queryByTestId('pending-nodes')).toBeNull());
    expect(f.api.callsTo('POST', '/api/v1/nodes').map((c) => c.path)).toEqual(['/api/v1/nodes/did%3Akey%3Az6MkPEND1/approve']);
    expect(f.nodes[0]!.status).toBe('READY');
  });

  it("shows the server's refusal of an approval", async () => {
    renderSignedIn(<PendingNodes />, admin);
    fireEvent.click(await screen.findByTestId('pending-approve-late-1'));
    // Someone else approved it meanwhile: the server says the node is no longer PENDING.
    f.nodes[0]!.status = 'READY';
    fireEvent.click(screen.getByTestId('confirm-ok'));
    expect((await screen.findByRole('alert')).textContent).toBe('node late-1 is READY, not PENDING');
  });

  it('an operator sees nothing and nothing is fetched', () => {
    renderSignedIn(<PendingNodes />, { ...admin, role: 'operator' });
    expect(screen.queryByTestId('pending-nodes')).toBeNull();
    expect(f.api.calls).toHaveLength(0);
  });
});
