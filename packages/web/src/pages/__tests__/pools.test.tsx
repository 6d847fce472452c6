// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { fakeError } from '../../testing/fake-api.js';
import { FakePoolApi } from '../../testing/fake-pool-api.js';
import { POOL_NODE_B, poolDetailFixture, poolEventFixture, poolMemberFixture, poolOperationFixture } from '../../testing/pool-fixture.js';
import { renderSignedIn } from '../../testing/render-page.js';
import { POOL_EVENTS_POLL_MS } from '../../components/pool-events.js';
import { PoolsPage } from '../pools.js';
import { PoolDetailPage } from '../pool-detail.js';

// jsdom has no canvas (nor matchMedia, which uPlot reads as it loads): a stand-in records what
// the chart is given; the real chart is drawn in Chromium by test/web/pools.e2e.test.ts.
const plots = vi.hoisted(() => [] as Array<{ data: unknown[]; series: Array<{ label?: string }>; destroyed: boolean }>);
vi.mock('uplot', () => ({
  default: class {
    rec: { data: unknown[]; series: Array<{ label?: string }>; destroyed: boolean };
    constructor(opts: { series: Array<{ label?: string }> }, data: unknown[]) {
      this.rec = { data, series: opts.series, destroyed: false };
      plots.push(this.rec);
    }
    setData(data: unknown[]) {
      this.rec.data = data;
    }
    setSize() {}
    destroy() {
      this.rec.destroyed = true;
    }
  },
}));

/*
 * The Pools list and a pool's page (summary, size over time, operations with their stages,
 * members, decisions followed by cursor, Scale to… and Replace) against a fake of the pools
 * routes with the server's view shapes (protocol pool-views.ts).
 */

const admin = { token: `gft_0123456789abcdef_${'a'.repeat(43)}`, name: 'root', role: 'admin' as const };
const operator = { token: `gft_0123456789abcdef_${'o'.repeat(43)}`, name: 'ops', role: 'operator' as const };
const viewer = { token: `gft_0123456789abcdef_${'v'.repeat(43)}`, name: 'watcher', role: 'viewer' as const };

let net: FakePoolApi;
beforeEach(() => {
  window.history.replaceState(null, '', '/pools');
  net = new FakePoolApi();
  vi.stubGlobal('fetch', net.fetch);
  // jsdom lays nothing out, so it has no ResizeObserver either.
  vi.stubGlobal(
    'ResizeObserver',
    class {
      observe() {}
      disconnect() {}
    },
  );
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  sessionStorage.clear();
});

describe('Pools list', () => {
  it('lists each pool by name: provider, ready/desired with min..max, GPUs, allocated, $/h and in flight', async () => {
    net.add(poolDetailFixture('training'));
    net.add(
      poolDetailFixture('inference', {
        provider: 'lab',
        providerType: 'ssh',
        ready: 1,
        desired: 1,
        minNodes: 1,
        maxNodes: 4,
        gpus: 8,
        allocatedPct: null,
        costPerHour: null,
        inFlight: 0,
      }),
    );
    renderSignedIn(<PoolsPage />, viewer);
    await waitFor(() => expect(screen.getAllByTestId('pools-row').length).toBe(2));
    const rows = screen.getAllByTestId('pools-row');
    expect(rows.map((r) => r.dataset.name)).toEqual(['inference', 'training']);
    const cells = (r: HTMLElement) => [...r.querySelectorAll('td')].map((td) => td.textContent);
    expect(cells(rows[1]!)).toEqual(['training', 'sim (sim, sim.h100x8)', '2/3 (2..10)', '16', '75%', '$25.00/h', '1']);
    expect(cells(rows[0]!)).toEqual(['inference', 'lab (ssh, sim.h100x8)', '1/1 (1..4)', '8', '—', 'unknown', '0']);
    expect(within(rows[1]!).getByText('training').getAttribute('href')).toBe('/pools/training');
  });

  it('with no pool, says how to create one', async () => {
    renderSignedIn(<PoolsPage />, viewer);
    const empty = await screen.findByText(/No pools yet/);
    const text = empty.closest('.state')!.textContent;
    expect(text).toContain('gpufleet pools apply pools.yaml');
    expect(text).toContain('gpufleet server --pools FILE');
    expect(screen.queryByTestId('pools-row')).toBeNull();
  });

  it('a refused list shows the error with a retry', async () => {
    net.refuse('GET /api/v1/pools', fakeError(500, 'internal', 'the store is gone'));
    renderSignedIn(<PoolsPage />, viewer);
    expect((await screen.findByRole('alert')).textContent).toContain('the store is gone');
    expect(screen.getByRole('button', { name: 'Retry' })).toBeTruthy();
  });
});

describe('Pool page', () => {
  it('shows the size and why, the settings, cost, the size chart and the members with node links', async () => {
    net.add(poolDetailFixture('training', { desiredSource: 'manual', manualReason: 'demo tomorrow', desired: 4 }));
    renderSignedIn(<PoolDetailPage name="training" />, viewer);
    await screen.findByTestId('pool-title');
    expect(screen.getByTestId('pool-size').dataset).toMatchObject({ ready: '2', desired: '4', current: '3' });
    expect(screen.getByTestId('pool-desired-why').textContent).toBe('4: set by an operator: demo tomorrow');
    expect(screen.getByTestId('pool-cost').textContent).toBe('$25.00/h');
    const summary = screen.getByTestId('pool-title').parentElement!.textContent!;
    expect(summary).toContain('10 min');
    expect(summary).toContain('replace after 2 min unhealthy; at most 2 replacements at once and 10% unavailable');
    expect(summary).toContain('grows at 80% allocated');
    expect(screen.getByTestId('pool-size-chart').dataset.points).toBe('3');
    const plot = plots.find((p) => !p.destroyed)!;
    expect(plot.series.map((x) => x.label)).toEqual([undefined, 'ready', 'desired']);
    const t0 = Date.parse('2026-12-05T10:03:00.000Z') / 1000;
    expect(plot.data).toEqual([
      [t0, t0 + 60, t0 + 120],
      [2, 2, 2],
      [2, 2, 3],
    ]);
    expect(screen.getByTestId('pool-size-chart').getAttribute('aria-label')).toContain('now 2 ready of 3 desired');
    const members = screen.getAllByTestId('pool-member');
    expect(members.map((m) => [m.dataset.instance, m.dataset.state, m.dataset.health])).toEqual([
      ['sim-0', 'active', 'healthy'],
      ['sim-1', 'active', 'healthy'],
    ]);
    expect(within(members[1]!).getByTestId('pool-member-node').getAttribute('href')).toBe(`/nodes/${encodeURIComponent(POOL_NODE_B)}`);
    expect(members[1]!.textContent).toContain('$12.50/h');
    // A viewer reads, and gets no action.
    expect(screen.queryByTestId('pool-scale')).toBeNull();
    expect(screen.queryByTestId('pool-member-replace')).toBeNull();
  });

  it('shows each operation in flight with its stage as steps, and a failed one with its error', async () => {
    net.add(
      poolDetailFixture('training', {
        inFlight: 2,
        operations: [
          poolOperationFixture({ id: 'op_p', kind: 'provision', stage: 'joining' }),
          poolOperationFixture({ id: 'op_r', kind: 'replace', stage: 'draining', oldNodeId: POOL_NODE_B, reason: 'unhealthy for 2 min (XID 79)' }),
          poolOperationFixture({ id: 'op_f', kind: 'replace', stage: 'failed', oldNodeId: POOL_NODE_B, error: 'capacity: no sim.h100x8 in sim-a, sim-b' }),
          poolOperationFixture({ id: 'op_d', kind: 'provision', stage: 'done' }),
        ],
      }),
    );
    renderSignedIn(<PoolDetailPage name="training" />, admin);
    const inFlight = await screen.findByTestId('pool-ops-in-flight');
    const ops = within(inFlight).getAllByTestId('pool-op');
    expect(ops.map((o) => o.dataset.id)).toEqual(['op_p', 'op_r']);
    const steps = (op: HTMLElement) =>
      within(op)
        .getAllByTestId('op-step')
        .map((s) => `${s.dataset.stage}:${s.dataset.state}`);
    expect(steps(ops[0]!)).toEqual(['requested:done', 'provisioning:done', 'joining:current', 'done:todo']);
    expect(steps(ops[1]!)).toEqual(['requested:done', 'provisioning:done', 'joining:done', 'draining:current', 'terminating:todo', 'done:todo']);
    expect(within(ops[1]!).getByText('draining', { exact: false }).closest('li')!.getAttribute('aria-current')).toBe('step');
    expect(ops[1]!.textContent).toContain('unhealthy for 2 min (XID 79)');
    expect(ops[1]!.textContent).toContain('of sim-host-1');
    const failed = within(screen.getByTestId('pool-ops-failed')).getAllByTestId('pool-op');
    expect(failed.map((o) => o.dataset.id)).toEqual(['op_f']);
    expect(within(failed[0]!).getByTestId('pool-op-error').textContent).toBe('capacity: no sim.h100x8 in sim-a, sim-b');
    expect(steps(failed[0]!)).toEqual(['failed:failed']);
    // The node being replaced offers no second Replace.
    const b = screen.getAllByTestId('pool-member').find((m) => m.dataset.node === POOL_NODE_B)!;
    expect(within(b).getByTestId('pool-member-replacing').textContent).toBe('being replaced');
    expect(within(b).queryByTestId('pool-member-replace')).toBeNull();
  });

  it('lists decisions newest first and follows them by polling after the newest id', async () => {
    net.add(poolDetailFixture('training'));
    for (let i = 1; i <= 3; i++) net.events.push(poolEventFixture(i, { kind: i === 2 ? 'scale-up' : 'provisioned', message: `step ${i}` }));
    net.events.push(poolEventFixture(99, { pool: 'other', message: 'not ours' }));
    renderSignedIn(<PoolDetailPage name="training" />, viewer);
    await waitFor(() => expect(screen.getAllByTestId('pool-event').length).toBe(3));
    const read = () => screen.getAllByTestId('pool-event').map((e) => `${e.dataset.kind}|${e.querySelector('.pool-event-message')!.textContent}`);
    expect(read()).toEqual(['provisioned|step 3', 'scale-up|step 2', 'provisioned|step 1']);
    const calls = () => net.api.callsTo('GET', '/api/v1/pools/training/events').map((c) => Object.fromEntries(c.query));
    expect(calls()[0]).toEqual({ limit: '50' });

    net.events.push(poolEventFixture(4, { kind: 'replace-failed', message: 'replacement of sim-host-1 failed: capacity' }));
    await waitFor(() => expect(screen.getAllByTestId('pool-event').length).toBe(4), { timeout: POOL_EVENTS_POLL_MS + 2000 });
    expect(read()[0]).toBe('replace-failed|replacement of sim-host-1 failed: capacity');
    expect(calls().slice(1)).toContainEqual({ after: '3', limit: '200' });
    expect(screen.getAllByTestId('pool-event')[0]!.querySelector('.badge')!.className).toContain('badge-error');
  }, 10_000);

  it('an unknown pool says so; a refused pool read shows the error', async () => {
    renderSignedIn(<PoolDetailPage name="nope" />, viewer);
    expect((await screen.findByText(/No pool named/)).textContent).toContain('nope');
    cleanup();
    net.refuse('GET /api/v1/pools/:name', fakeError(503, 'unavailable', 'the pool manager is not running'));
    renderSignedIn(<PoolDetailPage name="training" />, viewer);
    expect((await screen.findByRole('alert')).textContent).toContain('the pool manager is not running');
  });
});

describe('Scale to…', () => {
  async function openScale() {
    net.add(poolDetailFixture('training'));
    renderSignedIn(<PoolDetailPage name="training" />, admin);
    fireEvent.click(await screen.findByTestId('pool-scale'));
    return screen.getByTestId('scale-dialog');
  }
  const submit = () => fireEvent.click(screen.getByTestId('scale-ok'));
  const typeSize = (v: string) => fireEvent.change(screen.getByTestId('scale-to'), { target: { value: v } });

  it('refuses garbage and sizes outside min..max with the range named, sending nothing', async () => {
    const dialog = await openScale();
    expect((screen.getByTestId('scale-to') as HTMLInputElement).value).toBe('3');
    fireEvent.change(screen.getByTestId('scale-reason'), { target: { value: 'demo tomorrow' } });
    for (const [input, message] of [
      ['lots', 'Nodes: "lots" is not a whole number of nodes'],
      ['3.5', 'Nodes: "3.5" is not a whole number of nodes'],
      ['-1', 'Nodes: "-1" is not a whole number of nodes'],
      ['0x10', 'Nodes: "0x10" is not a whole number of nodes'],
      ['', 'Nodes: enter a number of nodes'],
      ['1', "Nodes: must be between 2 and 10 (the pool's min..max)"],
      ['11', "Nodes: must be between 2 and 10 (the pool's min..max)"],
      ['99999999999999999999', "Nodes: must be between 2 and 10 (the pool's min..max)"],
    ] as const) {
      typeSize(input);
      submit();
      expect(within(dialog).getByTestId('scale-to-error').textContent).toBe(message);
      expect(screen.getByTestId('scale-to').getAttribute('aria-invalid')).toBe('true');
    }
    expect(net.api.callsTo('POST', '/api/v1/pools/training/scale')).toEqual([]);
  });

  it('wants a reason; then sends {to, reason}, closes and shows the new desired size and why', async () => {
    await openScale();
    typeSize(' 5 ');
    submit();
    expect(screen.getByTestId('scale-reason-error').textContent).toContain('Reason');
    fireEvent.change(screen.getByTestId('scale-reason'), { target: { value: '  demo tomorrow ' } });
    submit();
    await waitFor(() => expect(screen.queryByTestId('scale-dialog')).toBeNull());
    expect(net.api.callsTo('POST', '/api/v1/pools/training/scale').map((c) => c.body)).toEqual([{ to: 5, reason: 'demo tomorrow' }]);
    await waitFor(() => expect(screen.getByTestId('pool-desired-why').textContent).toBe('5: set by an operator: demo tomorrow'));
  });

  it("shows the server's refusal in the dialog and keeps what was typed", async () => {
    await openScale();
    net.refuse('POST /api/v1/pools/:name/scale', fakeError(409, 'failed_precondition', 'pool training is being applied; try again'));
    typeSize('4');
    fireEvent.change(screen.getByTestId('scale-reason'), { target: { value: 'more room' } });
    submit();
    expect((await screen.findByTestId('scale-refused')).textContent).toBe('pool training is being applied; try again');
    expect((screen.getByTestId('scale-to') as HTMLInputElement).value).toBe('4');
    fireEvent.click(screen.getByTestId('scale-cancel'));
    expect(screen.queryByTestId('scale-dialog')).toBeNull();
  });

  it('is offered to operators as the server allows them (viewers only read)', async () => {
    net.add(poolDetailFixture('training'));
    renderSignedIn(<PoolDetailPage name="training" />, operator);
    await screen.findByTestId('pool-title');
    expect(screen.getByTestId('pool-scale')).toBeTruthy();
    expect(screen.getAllByTestId('pool-member-replace').length).toBe(2);
    cleanup();
    renderSignedIn(<PoolDetailPage name="training" />, viewer);
    await screen.findByTestId('pool-title');
    expect(screen.queryByTestId('pool-scale')).toBeNull();
    expect(screen.queryByTestId('pool-member-replace')).toBeNull();
  });
});

describe('Replace', () => {
  it('asks for a reason, sends {node, reason} and shows the replacement in flight', async () => {
    net.add(poolDetailFixture('training', { operations: [], inFlight: 0 }));
    renderSignedIn(<PoolDetailPage name="training" />, admin);
    const row = (await screen.findAllByTestId('pool-member')).find((m) => m.dataset.node === POOL_NODE_B)!;
    fireEvent.click(within(row).getByTestId('pool-member-replace'));
    const dialog = await screen.findByTestId('confirm-dialog');
    expect(dialog.textContent).toContain('Replace sim-host-1?');
    expect((screen.getByTestId('confirm-ok') as HTMLButtonElement).disabled).toBe(true);
    fireEvent.change(screen.getByTestId('confirm-reason'), { target: { value: 'fans failing' } });
    fireEvent.click(screen.getByTestId('confirm-ok'));
    await waitFor(() => expect(screen.getAllByTestId('pool-op').map((o) => o.dataset.kind)).toEqual(['replace']));
    expect(net.api.callsTo('POST', '/api/v1/pools/training/replace').map((c) => c.body)).toEqual([{ node: POOL_NODE_B, reason: 'fans failing' }]);
    expect(within(screen.getByTestId('pool-op')).getAllByTestId('op-step')[0]!.dataset.state).toBe('current');
  });

  it("shows the server's refusal; a member not joined yet has no Replace", async () => {
    net.add(
      poolDetailFixture('training', {
        operations: [],
        members: [poolMemberFixture(0), poolMemberFixture(2, { nodeId: null, hostname: null, state: 'joining', nodeStatus: null, health: null })],
      }),
    );
    net.refuse('POST /api/v1/pools/:name/replace', fakeError(409, 'failed_precondition', 'max_parallel_replacements (2) reached; wait for one to finish'));
    renderSignedIn(<PoolDetailPage name="training" />, admin);
    const rows = await screen.findAllByTestId('pool-member');
    expect(rows.map((r) => [r.dataset.instance, within(r).queryByTestId('pool-member-replace') !== null])).toEqual([
      ['sim-0', true],
      ['sim-2', false],
    ]);
    expect(rows[1]!.textContent).toContain('not joined');
    fireEvent.click(within(rows[0]!).getByTestId('pool-member-replace'));
    fireEvent.change(await screen.findByTestId('confirm-reason'), { target: { value: 'bad disk' } });
    fireEvent.click(screen.getByTestId('confirm-ok'));
    expect((await screen.findByTestId('pool-replace-error')).textContent).toBe('max_parallel_replacements (2) reached; wait for one to finish');
  });
});
