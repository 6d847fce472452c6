// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { AlertRuleView, AlertTransition, NodeView } from '@gpufleet/protocol';
import { FakeApi, fakeError } from '../../testing/fake-api.js';
import { renderSignedIn } from '../../testing/render-page.js';
import { nodeViewFixture } from '../../testing/node-fixture.js';
import { AlertHistory, HISTORY_PAGE } from '../alert-history.js';
import { AlertsPage } from '../alerts.js';

/*
 * The alert history view against a fake of GET /api/v1/alerts/history and /rules
 * (server/src/routes/alert-routes.ts, alerts/alert-history.ts): newest first, `rule` and `node`
 * filters (an unknown node is a 404 from the registry, an unknown rule too), `limit` default 100.
 * Fixtures are checked against the protocol's AlertTransition and AlertRuleView.
 */

const T0 = Date.parse('2025-05-01T12:00:00Z');
const NODES = [nodeViewFixture('did:key:z6MkAAAA1', 'gpu-a'), nodeViewFixture('did:key:z6MkBBBB2', 'gpu-b')].map((n) => NodeView.parse(n));

function rule(name: string, severity: 'warning' | 'critical'): AlertRuleView {
  return AlertRuleView.parse({
    name,
    kind: name === 'Hot' ? 'metric' : 'health',
    severity,
    condition: 'x',
    for: '0s',
    selector: '',
    labels: {},
    summary: 's',
    receivers: [],
    pending: 0,
    firing: 0,
  });
}

/** `count` transitions, oldest first, alternating rules and nodes like a busy fleet. */
function transitions(count: number): AlertTransition[] {
  const out: AlertTransition[] = [];
  for (let i = 0; i < count; i++) {
    const node = NODES[i % 2]!;
    const hot = i % 3 !== 0;
    const steps = [
      ['inactive', 'pending'],
      ['pending', 'firing'],
      ['firing', 'resolved'],
    ] as const;
    const [from, to] = steps[i % 3]!;
    out.push(
      AlertTransition.parse({
        at: new Date(T0 + i * 60_000).toISOString(),
        alertId: `al-${i}`,
        rule: hot ? 'Hot' : 'GpuUnhealthy',
        severity: hot ? 'warning' : 'critical',
        nodeId: node.id,
        hostname: node.hostname,
        gpu: hot ? 'GPU-8a3f0c2e-1111-2222-3333-444455556666' : null,
        from,
        to,
        value: hot ? 91 + i : null,
      }),
    );
  }
  return out;
}

function historyRoutes(stored: AlertTransition[]) {
  const rules = [rule('Hot', 'warning'), rule('GpuUnhealthy', 'critical')];
  return (
    new FakeApi()
      // The registry's search: hostname substring or id, not decommissioned (node-registry.ts list).
      .on('GET', '/api/v1/nodes', (call) => {
        const q = (call.query.get('q') ?? '').toLowerCase();
        const items = NODES.filter((n) => n.hostname.toLowerCase().includes(q) || n.id.includes(q));
        return { status: 200, body: { items: items.slice(0, Number(call.query.get('limit') ?? 500)), total: items.length } };
      })
      .on('GET', '/api/v1/alerts/rules', () => ({ status: 200, body: { items: rules, receivers: [] } }))
      .on('GET', '/api/v1/alerts/history', (call) => {
        const q = call.query;
        const limit = Number(q.get('limit') ?? 100);
        if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) return fakeError(400, 'invalid_argument', 'querystring/limit: too big');
        const r = q.get('rule');
        if (r !== null && !rules.some((x) => x.name === r)) return fakeError(404, 'not_found', `no alert rule '${r}'`);
        const ref = q.get('node');
        const node = ref === null ? null : NODES.find((n) => n.hostname === ref || n.id === ref);
        if (ref !== null && !node) return fakeError(404, 'not_found', `no node '${ref}' (give an id, an id prefix or a hostname)`);
        const items = [...stored]
          .reverse()
          .filter((t) => (r === null || t.rule === r) && (!node || t.nodeId === node.id))
          .slice(0, limit);
        return { status: 200, body: { items } };
      })
  );
}

let api: FakeApi;
const viewer = { token: `gft_0123456789abcdef_${'v'.repeat(43)}`, name: 'watcher', role: 'viewer' as const };
const rows = () => screen.queryAllByTestId('history-row');
const historyCalls = () => api.callsTo('GET', '/api/v1/alerts/history').map((c) => Object.fromEntries(c.query));

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  sessionStorage.clear();
});

describe('alert history', () => {
  beforeEach(() => {
    api = historyRoutes(transitions(7));
    vi.stubGlobal('fetch', api.fetch);
  });

  it('shows the state changes newest first: when (relative, absolute on hover), rule, node, from and to', async () => {
    renderSignedIn(<AlertHistory />, viewer);
    await waitFor(() => expect(rows()).toHaveLength(7));
    const first = rows()[0]!;
    // Transition 6 is the newest: GpuUnhealthy on gpu-a, inactive -> pending.
    expect(first.dataset).toMatchObject({ rule: 'GpuUnhealthy', node: 'gpu-a', from: 'inactive', to: 'pending' });
    expect(rows()[1]!.dataset).toMatchObject({ rule: 'Hot', node: 'gpu-b', from: 'firing', to: 'resolved' });
    const when = first.querySelector('time')!;
    expect(when.getAttribute('datetime')).toBe(new Date(T0 + 6 * 60_000).toISOString());
    expect(when.textContent).toMatch(/ago$/);
    expect(when.getAttribute('title')).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    // By id, never by hostname: hostnames can be shared.
    expect(within(first).getByRole('link', { name: 'gpu-a' }).getAttribute('href')).toBe('/nodes/did%3Akey%3Az6MkAAAA1');
    // A GPU key is shortened in the cell, whole on hover.
    const gpuCell = rows()[1]!.querySelector('td.mono')!;
    expect(gpuCell.getAttribute('title')).toBe('GPU-8a3f0c2e-1111-2222-3333-444455556666');
    expect(gpuCell.textContent!.length).toBeLessThan(20);
    expect(historyCalls()[0]).toEqual({ limit: String(HISTORY_PAGE) });
    // Fewer than a page: nothing older to show.
    expect(screen.queryByTestId('history-more')).toBeNull();
  });

  it('filters by rule (from the rules list) and by hostname', async () => {
    renderSignedIn(<AlertHistory />, viewer);
    await waitFor(() => expect(rows()).toHaveLength(7));
    await waitFor(() => expect(screen.getByRole('option', { name: 'GpuUnhealthy' })).toBeTruthy());
    fireEvent.change(screen.getByTestId('history-rule'), { target: { value: 'GpuUnhealthy' } });
    await waitFor(() => expect(rows()).toHaveLength(3));
    expect(rows().every((r) => r.dataset.rule === 'GpuUnhealthy')).toBe(true);
    fireEvent.change(screen.getByTestId('history-host'), { target: { value: 'gpu-b' } });
    await waitFor(() => expect(rows()).toHaveLength(1));
    expect(rows()[0]!.dataset).toMatchObject({ rule: 'GpuUnhealthy', node: 'gpu-b' });
    // The hostname is looked up, and the history asked by the node's id.
    expect(historyCalls().at(-1)).toEqual({ rule: 'GpuUnhealthy', node: 'did:key:z6MkBBBB2', limit: '100' });
  });

  it('a hostname that names no node is told as such, with near names, without asking the history', async () => {
    renderSignedIn(<AlertHistory />, viewer);
    await waitFor(() => expect(rows()).toHaveLength(7));
    const before = historyCalls().length;
    fireEvent.change(screen.getByTestId('history-host'), { target: { value: 'gpu' } });
    expect((await screen.findByTestId('history-filter-error')).textContent).toBe("No node is named 'gpu'. Did you mean gpu-a, gpu-b?");
    expect(rows()).toHaveLength(0);
    fireEvent.change(screen.getByTestId('history-host'), { target: { value: 'no-such-host' } });
    await waitFor(() => expect(screen.getByTestId('history-filter-error').textContent).toBe("No node is named 'no-such-host'."));
    expect(historyCalls()).toHaveLength(before);
    fireEvent.change(screen.getByTestId('history-host'), { target: { value: '' } });
    await waitFor(() => expect(rows()).toHaveLength(7));
  });

  it("a refusal of the history itself shows the server's message", async () => {
    api = historyRoutes(transitions(1));
    const refusing = new FakeApi().on('GET', '/api/v1/alerts/history', () => fakeError(503, 'unavailable', 'the alert engine is starting'));
    vi.stubGlobal('fetch', (input: RequestInfo | URL, init?: RequestInit) =>
      String(input).startsWith('/api/v1/alerts/history') ? refusing.fetch(input, init) : api.fetch(input, init),
    );
    renderSignedIn(<AlertHistory />, viewer);
    expect((await screen.findByRole('alert')).textContent).toContain('the alert engine is starting');
    expect(rows()).toHaveLength(0);
  });
});

describe('alert history paging and the alerts page tab', () => {
  it('a full page offers older changes, fetched by a longer limit', async () => {
    api = historyRoutes(transitions(HISTORY_PAGE + 30));
    vi.stubGlobal('fetch', api.fetch);
    renderSignedIn(<AlertHistory />, viewer);
    await waitFor(() => expect(rows()).toHaveLength(HISTORY_PAGE));
    fireEvent.click(screen.getByTestId('history-more'));
    await waitFor(() => expect(rows()).toHaveLength(HISTORY_PAGE + 30));
    expect(historyCalls().at(-1)).toEqual({ limit: String(2 * HISTORY_PAGE) });
    expect(screen.queryByTestId('history-more')).toBeNull();
    // Still newest first across the whole list.
    const times = rows().map((r) => r.querySelector('time')!.getAttribute('datetime')!);
    expect([...times].sort().reverse()).toEqual(times);
  });

  it('the alerts page opens the history from its tab', async () => {
    api = historyRoutes(transitions(2))
      .on('GET', '/api/v1/alerts', () => ({ status: 200, body: { items: [] } }))
      .on('GET', '/api/v1/silences', () => ({ status: 200, body: { items: [] } }));
    vi.stubGlobal('fetch', api.fetch);
    renderSignedIn(<AlertsPage />, viewer);
    await screen.findByText('None.');
    expect(api.callsTo('GET', '/api/v1/alerts/history')).toHaveLength(0);
    fireEvent.click(screen.getByTestId('alerts-tab-history'));
    await waitFor(() => expect(rows()).toHaveLength(2));
    expect(screen.getByTestId('alerts-tab-history').getAttribute('aria-selected')).toBe('true');
  });
});
