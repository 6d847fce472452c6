// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { fakeError } from '../../testing/fake-api.js';
import { FakeRolloutApi } from '../../testing/fake-rollout-api.js';
import { countsFixture, hostFixture, ROLLOUT_SHA, rolloutFixture } from '../../testing/rollout-fixture.js';
import { renderSignedIn } from '../../testing/render-page.js';
import { ROLLOUT_ACTIVE_MS } from '../../lib/rollouts.js';
import { RolloutsPage } from '../rollouts.js';
import { RolloutDetailPage } from '../rollout-detail.js';

/*
 * The rollouts list and a rollout's page against a fake of the REST routes (rollout-views.ts
 * shapes): what each shows, the host filter kept in ?state=, Pause / Resume / Abort for
 * operators only, and the server's refusals shown in its own words.
 */

const operator = { token: `gft_0123456789abcdef_${'o'.repeat(43)}`, name: 'ops', role: 'operator' as const };
const viewer = { token: `gft_0123456789abcdef_${'v'.repeat(43)}`, name: 'watcher', role: 'viewer' as const };

let net: FakeRolloutApi;
beforeEach(() => {
  window.history.replaceState(null, '', '/rollouts');
  net = new FakeRolloutApi();
  vi.stubGlobal('fetch', net.fetch);
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  sessionStorage.clear();
});

const hostnames = () => screen.getAllByTestId('rollout-host').map((r) => r.dataset.hostname);

describe('Rollouts list', () => {
  it('shows release, state, current step, the host bar and who started it; links to the rollout', async () => {
    net.rollouts.set('ro_1', rolloutFixture('ro_1', { state: 'succeeded', step: 2, counts: countsFixture({ healthy: 5 }) }));
    net.rollouts.set(
      'ro_2',
      rolloutFixture('ro_2', {
        release: { kind: 'bundle', name: 'inference', version: '12' },
        selector: '',
        target: { path: 'bundles/inference/inference-12.tar', sha256: ROLLOUT_SHA },
      }),
    );
    renderSignedIn(<RolloutsPage />, viewer);
    await waitFor(() => expect(screen.getAllByTestId('rollout-row').length).toBe(2));
    const [bundle, agent] = screen.getAllByTestId('rollout-row') as [HTMLElement, HTMLElement];
    expect(bundle.dataset).toMatchObject({ id: 'ro_2', state: 'running' });
    expect(within(bundle).getByTestId('rollout-row-release').textContent).toBe('inference@12');
    expect(within(bundle).getByTestId('rollout-row-release').getAttribute('href')).toBe('/rollouts/ro_2');
    expect(within(bundle).getByTestId('rollout-row-step').textContent).toBe('wave 1 (50%) · 2 of 3');
    expect(within(bundle).getByTestId('rollout-row-progress').dataset).toMatchObject({ total: '5', healthy: '1', updating: '1', failed: '1', skipped: '1' });
    expect(within(bundle).getByTestId('rollout-row-progress').textContent).toBe('1 healthy · 1 updating · 1 failed · 1 skipped of 5 hosts');
    expect(bundle.textContent).toContain('every host');
    expect(bundle.textContent).toContain('ops');
    expect(agent.dataset.state).toBe('succeeded');
    expect(within(agent).getByTestId('rollout-row-release').textContent).toBe('agent@0.3.0');
    expect(within(agent).getByTestId('rollout-row-step').textContent).toBe('done');
    expect(agent.textContent).toContain('pool=inference');
    // The bar's parts are as wide as their shares; pending is the empty rest.
    const parts = [...within(agent).getByTestId('rollout-row-progress').querySelectorAll<HTMLElement>('.ro-bar > span')];
    expect(parts.map((s) => [s.className, s.style.width])).toEqual([['ro-bar-healthy', '100%']]);
    expect(screen.getByTestId('cli-hint').textContent).toBe('gpufleet rollouts ls');
  });

  it('says how to start one when there is none, and shows a refused read', async () => {
    const view = renderSignedIn(<RolloutsPage />, viewer);
    expect((await screen.findByText(/No rollouts yet/)).textContent).toContain('gpufleet rollouts start');
    view.unmount();
    net.refuse('GET /api/v1/rollouts', fakeError(503, 'unavailable', 'the store is down'));
    renderSignedIn(<RolloutsPage />, viewer);
    expect((await screen.findByRole('alert')).textContent).toContain('the store is down');
  });

  it('reads the list again while a rollout runs', async () => {
    net.rollouts.set('ro_1', rolloutFixture('ro_1'));
    renderSignedIn(<RolloutsPage />, viewer);
    await screen.findByTestId('rollout-row');
    net.rollouts.set('ro_1', rolloutFixture('ro_1', { state: 'paused', message: 'paused: 2 hosts failed, more than max-failures 1' }));
    await waitFor(() => expect(screen.getByTestId('rollout-row').dataset.state).toBe('paused'), { timeout: ROLLOUT_ACTIVE_MS * 3 });
  }, 20_000);
});

describe('Rollout page', () => {
  it('shows the plan, the steps as cards with the one under way marked, and every host; a viewer has no buttons', async () => {
    net.rollouts.set('ro_1', rolloutFixture('ro_1'));
    renderSignedIn(<RolloutDetailPage rolloutId="ro_1" />, viewer);
    await screen.findByTestId('rollout-title');
    expect(screen.getByTestId('rollout-title').textContent).toContain('agent@0.3.0');
    expect(screen.getByTestId('rollout-state').textContent).toBe('running');
    expect(screen.getByTestId('rollout-target').textContent).toBe(`agent/gpufleet-agent-0.3.0.tgz sha256 ${ROLLOUT_SHA.slice(0, 12)}…`);
    expect(screen.getByTestId('rollout-plan-canary').textContent).toBe('1 host first');
    expect(screen.getByTestId('rollout-plan-waves').textContent).toBe('50%, 100%');
    expect(screen.getByTestId('rollout-plan-healthy-for').textContent).toBe('10 min');
    expect(screen.getByTestId('rollout-plan-max-failures').textContent).toBe('1');
    expect(screen.getByTestId('rollout-plan').textContent).toContain('pool=inference');
    const steps = screen.getAllByTestId('rollout-step');
    expect(steps.map((s) => [s.dataset.name, s.dataset.state, s.getAttribute('aria-current')])).toEqual([
      ['canary', 'done', null],
      ['wave 1 (50%)', 'running', 'step'],
      ['wave 2 (100%)', 'pending', null],
    ]);
    expect(steps.map((s) => within(s).getByTestId('rollout-step-hosts').textContent)).toEqual(['1 host', '3 hosts', '1 host']);
    expect(steps[2]!.textContent).toContain('started not yet');
    const rows = screen.getAllByTestId('rollout-host');
    expect(rows.map((r) => [r.dataset.hostname, r.dataset.state])).toEqual([
      ['gpu-01', 'healthy'],
      ['gpu-02', 'installing'],
      ['gpu-03', 'failed'],
      ['gpu-04', 'skipped'],
      ['gpu-05', 'pending'],
    ]);
    const cells = (r: HTMLElement) => [...r.querySelectorAll('td')].map((td) => td.textContent);
    expect(cells(rows[0]!).slice(0, 4)).toEqual(['gpu-01', 'canary', 'healthy', '0.2.1 → 0.3.0']);
    expect(cells(rows[2]!)).toEqual(['gpu-03', 'wave 1 (50%)', 'failed', '0.2.1 → 0.2.1', '—', 'self-check failed: exit 3']);
    expect(within(rows[0]!).getByText('gpu-01').getAttribute('href')).toMatch(/^\/nodes\/did%3Akey%3A/);
    expect(screen.getByTestId('rollout-progress').dataset).toMatchObject({ total: '5', healthy: '1', failed: '1' });
    for (const b of ['rollout-pause', 'rollout-resume', 'rollout-abort']) expect(screen.queryByTestId(b)).toBeNull();
    expect(screen.getByTestId('cli-hint').textContent).toBe('gpufleet rollouts get ro_1');
  });

  it('filters hosts by state and keeps the filter in ?state=; a filter that is not a state shows all', async () => {
    net.rollouts.set('ro_1', rolloutFixture('ro_1', { hosts: [...rolloutFixture('ro_1').hosts, hostFixture('gpu-06', { step: 1, state: 'verifying' })] }));
    window.history.replaceState(null, '', '/rollouts/ro_1?state=skipped');
    const view = renderSignedIn(<RolloutDetailPage rolloutId="ro_1" />, viewer);
    await screen.findByTestId('rollout-host');
    expect(hostnames()).toEqual(['gpu-04']);
    const select = screen.getByTestId('rollout-host-filter') as HTMLSelectElement;
    expect(select.value).toBe('skipped');
    expect([...select.options].map((o) => o.textContent)).toEqual([
      'all hosts (6)',
      'pending (1)',
      'updating (2)',
      'healthy (1)',
      'failed (1)',
      'refused (0)',
      'rolled back (0)',
      'skipped (1)',
    ]);
    fireEvent.change(select, { target: { value: 'updating' } });
    await waitFor(() => expect(hostnames()).toEqual(['gpu-02', 'gpu-06']));
    expect(window.location.search).toBe('?state=updating');
    fireEvent.change(select, { target: { value: 'refused' } });
    expect(await screen.findByText('No host is refused.')).toBeTruthy();
    fireEvent.change(select, { target: { value: 'all' } });
    await waitFor(() => expect(hostnames().length).toBe(6));
    expect(window.location.search).toBe('');
    view.unmount();
    window.history.replaceState(null, '', '/rollouts/ro_1?state=%3Cscript%3E');
    renderSignedIn(<RolloutDetailPage rolloutId="ro_1" />, viewer);
    expect((await screen.findAllByTestId('rollout-host')).length).toBe(6);
    expect((screen.getByTestId('rollout-host-filter') as HTMLSelectElement).value).toBe('all');
  });

  it('an operator pauses a running rollout and resumes it; each button only in its state', async () => {
    net.rollouts.set('ro_1', rolloutFixture('ro_1'));
    renderSignedIn(<RolloutDetailPage rolloutId="ro_1" />, operator);
    fireEvent.click(await screen.findByTestId('rollout-pause'));
    await waitFor(() => expect(screen.getByTestId('rollout-state').textContent).toBe('paused'));
    expect(screen.getByTestId('rollout-message').textContent).toBe('paused by ops');
    expect(net.api.callsTo('POST', '/api/v1/rollouts/ro_1/pause').map((c) => c.body)).toEqual([{}]);
    expect(screen.queryByTestId('rollout-pause')).toBeNull();
    fireEvent.click(screen.getByTestId('rollout-resume'));
    await waitFor(() => expect(screen.getByTestId('rollout-state').textContent).toBe('running'));
    expect(net.api.callsTo('POST', '/api/v1/rollouts/ro_1/resume').length).toBe(1);
    expect(screen.queryByTestId('rollout-message')).toBeNull();
    expect(screen.getByTestId('rollout-abort')).toBeTruthy();
  });

  it('abort asks first: cancelling sends nothing; confirming sends the reason and "roll back hosts", ticked unless unticked', async () => {
    net.rollouts.set('ro_1', rolloutFixture('ro_1'));
    net.rollouts.set('ro_2', rolloutFixture('ro_2', { state: 'paused', message: 'paused by ops' }));
    const view = renderSignedIn(<RolloutDetailPage rolloutId="ro_1" />, operator);
    fireEvent.click(await screen.findByTestId('rollout-abort'));
    const box = (await screen.findByTestId('rollout-abort-rollback')) as HTMLInputElement;
    expect(box.checked).toBe(true);
    expect(screen.getByTestId('confirm-dialog').textContent).toContain('Abort the rollout of agent@0.3.0?');
    fireEvent.click(screen.getByTestId('confirm-cancel'));
    await waitFor(() => expect(screen.queryByTestId('confirm-dialog')).toBeNull());
    expect(net.api.callsTo('POST', '/api/v1/rollouts').length).toBe(0);

    fireEvent.click(screen.getByTestId('rollout-abort'));
    fireEvent.click(await screen.findByTestId('rollout-abort-rollback'));
    fireEvent.change(screen.getByTestId('confirm-reason'), { target: { value: '  wrong build  ' } });
    fireEvent.click(screen.getByTestId('confirm-ok'));
    await waitFor(() => expect(screen.getByTestId('rollout-state').textContent).toBe('aborted'));
    expect(net.api.callsTo('POST', '/api/v1/rollouts/ro_1/abort').map((c) => c.body)).toEqual([{ reason: 'wrong build', rollback: false }]);
    expect(screen.getByTestId('rollout-message').textContent).toBe('aborted by ops: wrong build');
    for (const b of ['rollout-pause', 'rollout-resume', 'rollout-abort']) expect(screen.queryByTestId(b)).toBeNull();
    expect(screen.getAllByTestId('rollout-step').map((s) => s.getAttribute('aria-current'))).toEqual([null, null, null]);

    view.unmount();
    renderSignedIn(<RolloutDetailPage rolloutId="ro_2" />, operator);
    expect(screen.queryByTestId('rollout-pause')).toBeNull();
    fireEvent.click(await screen.findByTestId('rollout-abort'));
    fireEvent.click(await screen.findByTestId('confirm-ok'));
    await waitFor(() => expect(net.api.callsTo('POST', '/api/v1/rollouts/ro_2/abort').map((c) => c.body)).toEqual([{ rollback: true }]));
  });

  it("shows the server's refusal in its own words, and keeps it when the rollout has moved on", async () => {
    net.rollouts.set('ro_1', rolloutFixture('ro_1'));
    net.refuse('POST /api/v1/rollouts/:id/pause', fakeError(403, 'permission_denied', 'this token has the viewer role; pause needs operator'));
    const view = renderSignedIn(<RolloutDetailPage rolloutId="ro_1" />, operator);
    fireEvent.click(await screen.findByTestId('rollout-pause'));
    expect((await screen.findByTestId('rollout-action-error')).textContent).toBe(
      'Pause refused (permission_denied): this token has the viewer role; pause needs operator',
    );
    expect(screen.getByTestId('rollout-state').textContent).toBe('running');
    view.unmount();

    // The rollout succeeded while the page was open: abort is refused with 412 by the state machine.
    const fake = { ...rolloutFixture('ro_1'), state: 'succeeded' as const };
    net.rollouts.set('ro_1', rolloutFixture('ro_1'));
    renderSignedIn(<RolloutDetailPage rolloutId="ro_1" />, operator);
    fireEvent.click(await screen.findByTestId('rollout-abort'));
    net.rollouts.set('ro_1', fake);
    fireEvent.click(await screen.findByTestId('confirm-ok'));
    expect((await screen.findByTestId('rollout-action-error')).textContent).toBe('Abort refused (failed_precondition): rollout ro_1 is succeeded');
  });

  it('an operator gets no button on a rollout that is over', async () => {
    net.rollouts.set('ro_1', rolloutFixture('ro_1', { state: 'succeeded', step: 2 }));
    renderSignedIn(<RolloutDetailPage rolloutId="ro_1" />, operator);
    await screen.findByTestId('rollout-title');
    for (const b of ['rollout-pause', 'rollout-resume', 'rollout-abort']) expect(screen.queryByTestId(b)).toBeNull();
  });

  it('says when there is no such rollout, and shows other read errors', async () => {
    const view = renderSignedIn(<RolloutDetailPage rolloutId="nope" />, viewer);
    expect((await screen.findByText(/No rollout/)).textContent).toContain('nope');
    view.unmount();
    net.refuse('GET /api/v1/rollouts/:id', fakeError(400, 'invalid_argument', 'id: a rollout id such as ro-3f2a9c41d0e8b7a61c5d'));
    const bad = renderSignedIn(<RolloutDetailPage rolloutId="x" />, viewer);
    expect((await screen.findByText(/No rollout/)).textContent).toBe('No rollout x (id: a rollout id such as ro-3f2a9c41d0e8b7a61c5d). Rollouts');
    bad.unmount();
    net.refuse('GET /api/v1/rollouts/:id', fakeError(500, 'internal', 'database is locked'));
    renderSignedIn(<RolloutDetailPage rolloutId="ro_1" />, viewer);
    expect((await screen.findByRole('alert')).textContent).toContain('database is locked');
  });
});
