// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, screen, waitFor } from '@testing-library/react';
import { TimelineEntry } from '@gpufleet/protocol';
import { FakeApi } from '../../testing/fake-api.js';
import { renderSignedIn } from '../../testing/render-page.js';
import { EventsPage } from '../events.js';

/*
 * The events page against a fake GET /api/v1/events that honours `kind` and `exclude` as the
 * server does (server/src/routes/health-routes.ts): run progress stays out unless asked for.
 */

const NODE = 'did:key:z6MkEVENTS1';
const entries: TimelineEntry[] = [
  {
    id: 'a:1',
    source: 'agent',
    at: '2025-05-01T12:00:03.000Z',
    nodeId: NODE,
    hostname: 'gpu-1',
    gpu: null,
    kind: 'run-output',
    code: null,
    message: 'chunk',
    details: null,
  },
  {
    id: 'a:2',
    source: 'agent',
    at: '2025-05-01T12:00:02.000Z',
    nodeId: NODE,
    hostname: 'gpu-1',
    gpu: null,
    kind: 'xid',
    code: 79,
    message: 'GPU fell off the bus',
    details: null,
  },
  {
    id: 'a:3',
    source: 'agent',
    at: '2025-05-01T12:00:01.000Z',
    nodeId: NODE,
    hostname: 'gpu-1',
    gpu: null,
    kind: 'run-result',
    code: null,
    message: 'exit 0',
    details: null,
  },
].map((e) => TimelineEntry.parse(e));

let api: FakeApi;
beforeEach(() => {
  api = new FakeApi().on('GET', '/api/v1/events', (call) => {
    const exclude = new Set((call.query.get('exclude') ?? '').split(',').filter(Boolean));
    const kind = call.query.get('kind');
    return { status: 200, body: { items: entries.filter((e) => !exclude.has(e.kind) && (!kind || e.kind === kind)) } };
  });
  vi.stubGlobal('fetch', api.fetch);
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  sessionStorage.clear();
});

const viewer = { token: `gft_0123456789abcdef_${'v'.repeat(43)}`, name: 'watcher', role: 'viewer' as const };
const kinds = () => screen.queryAllByTestId('events-row').map((r) => r.dataset.kind);
const lastQuery = () => api.callsTo('GET', '/api/v1/events').at(-1)!.query;

describe('events page', () => {
  it('leaves run events out until "show run events" is ticked', async () => {
    renderSignedIn(<EventsPage />, viewer);
    await waitFor(() => expect(kinds()).toEqual(['xid']));
    expect(lastQuery().get('exclude')).toBe('run-started,run-output,run-result,run-refused');
    const box = screen.getByRole('checkbox', { name: 'Show run events' }) as HTMLInputElement;
    expect(box.checked).toBe(false);
    fireEvent.click(box);
    await waitFor(() => expect(kinds()).toEqual(['run-output', 'xid', 'run-result']));
    expect(lastQuery().has('exclude')).toBe(false);
    fireEvent.click(box);
    await waitFor(() => expect(kinds()).toEqual(['xid']));
  });

  it('offers the run kinds by name once shown, and forgets a picked one when hidden again', async () => {
    renderSignedIn(<EventsPage />, viewer);
    const kind = screen.getByLabelText('Kind') as HTMLSelectElement;
    expect([...kind.options].map((o) => o.value)).not.toContain('run-result');
    fireEvent.click(screen.getByTestId('events-show-runs'));
    fireEvent.change(kind, { target: { value: 'run-result' } });
    await waitFor(() => expect(kinds()).toEqual(['run-result']));
    expect(lastQuery().get('kind')).toBe('run-result');
    fireEvent.click(screen.getByTestId('events-show-runs'));
    await waitFor(() => expect(kind.value).toBe(''));
    await waitFor(() => expect(kinds()).toEqual(['xid']));
  });

  it('links each event to its node by id', async () => {
    renderSignedIn(<EventsPage />, viewer);
    await waitFor(() => expect(kinds()).toEqual(['xid']));
    expect(screen.getByRole('link', { name: 'gpu-1' }).getAttribute('href')).toBe(`/nodes/${encodeURIComponent(NODE)}`);
  });
});
