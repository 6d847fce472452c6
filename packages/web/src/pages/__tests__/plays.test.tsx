// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { act, cleanup, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { fakeError } from '../../testing/fake-api.js';
import { FakeJobCenterApi } from '../../testing/fake-job-center-api.js';
import { playEventFixture, playFixture, playHostFixture, SSH_NODE_A, SSH_NODE_B, templateFixture } from '../../testing/job-center-fixture.js';
import { renderSignedIn } from '../../testing/render-page.js';
import { PLAY_POLL_MS } from '../../lib/play-follow.js';
import { PlaysPage } from '../plays.js';
import { TemplateDetailPage } from '../template-detail.js';
import { PlayDetailPage } from '../play-detail.js';

/*
 * The job center: templates and plays, a template's playbook, and a play's page following its
 * log live over SSE or, without it, by polling /events?after=, with per-host stats and Cancel.
 * The run form has its own file (play-new.test.tsx).
 */

const operator = { token: `gft_0123456789abcdef_${'o'.repeat(43)}`, name: 'ops', role: 'operator' as const };
const viewer = { token: `gft_0123456789abcdef_${'v'.repeat(43)}`, name: 'watcher', role: 'viewer' as const };

let net: FakeJobCenterApi;
beforeEach(() => {
  window.history.replaceState(null, '', '/plays');
  net = new FakeJobCenterApi();
  vi.stubGlobal('fetch', net.fetch);
  net.templates.set('connectivity_check', templateFixture('connectivity_check'));
  net.templates.set(
    'install_nvidia_driver',
    templateFixture('install_nvidia_driver', {
      category: 'driver',
      become: true,
      builtin: true,
      vars: { nvidia_driver_version: 550 },
      version: 2,
      versions: [1, 2],
    }),
  );
});
afterEach(() => {
  cleanup();
  vi.useRealTimers();
  vi.unstubAllGlobals();
  sessionStorage.clear();
});

describe('Job center', () => {
  it('lists plays (state, template, hosts ok/failed, who) and templates; a viewer gets no run button', async () => {
    net.plays.set(
      'play_1',
      playFixture('play_1', {
        state: 'FAILED',
        endedAt: '2026-12-05T10:12:00.000Z',
        hosts: [playHostFixture('gpu-07', SSH_NODE_A, { state: 'ok', ok: 3 }), playHostFixture('gpu-08', SSH_NODE_B, { state: 'unreachable', unreachable: 1 })],
      }),
    );
    renderSignedIn(<PlaysPage />, viewer);
    const row = await screen.findByTestId('play-row');
    expect(row.dataset.state).toBe('FAILED');
    expect(within(row).getByTestId('play-row-hosts').textContent).toBe('1/1/2');
    expect(row.textContent).toContain('connectivity_check v1');
    expect(row.textContent).toContain('ops');
    expect(within(row).getByText('play_1').getAttribute('href')).toBe('/plays/play_1');
    await waitFor(() => expect(screen.getAllByTestId('template-row').length).toBe(2));
    const cells = (r: HTMLElement) => [...r.querySelectorAll('td')].map((td) => td.textContent);
    expect(screen.getAllByTestId('template-row').map(cells)).toEqual([
      ['connectivity_check (built-in)', 'check', '1', 'no', 'the connectivity_check playbook'],
      ['install_nvidia_driver (built-in)', 'driver', '2', 'root', 'the install_nvidia_driver playbook'],
    ]);
    expect(screen.queryByTestId('play-new')).toBeNull();
    expect(screen.queryByTestId('template-run')).toBeNull();
  });

  it('an operator gets Run buttons', async () => {
    renderSignedIn(<PlaysPage />, operator);
    await waitFor(() => expect(screen.getAllByTestId('template-run').length).toBe(2));
    expect(screen.getByTestId('play-new').getAttribute('href')).toBe('/plays/new');
  });

  it("a template's page shows its playbook read only, its defaults and versions", async () => {
    renderSignedIn(<TemplateDetailPage name="install_nvidia_driver" />, viewer);
    const playbook = await screen.findByTestId('template-playbook');
    expect(playbook.tagName).toBe('PRE');
    expect(playbook.textContent).toContain('ansible.builtin.ping');
    expect(screen.getByTestId('template-vars').textContent).toBe('nvidia_driver_version=550');
    expect((screen.getByTestId('template-version') as HTMLSelectElement).value).toBe('2');
    expect(screen.queryByTestId('template-run')).toBeNull();
    expect(screen.getByTestId('cli-hint').textContent).toBe('gpufleet templates show install_nvidia_driver');
  });
});

describe('Play page', () => {
  it('follows the log over SSE, reads the per-host stats again as lines come, and ends with the final play', async () => {
    vi.stubGlobal('EventSource', net.EventSource);
    net.plays.set('play_1', playFixture('play_1'));
    renderSignedIn(<PlayDetailPage playId="play_1" />, operator);
    await screen.findByTestId('play-title');
    expect(screen.getByTestId('play-state').textContent).toBe('RUNNING');
    await waitFor(() => expect(net.streams.length).toBe(1));
    const stream = net.streams[0]!;
    expect(stream.url).toBe(`/api/v1/plays/play_1/stream?access_token=${encodeURIComponent(operator.token)}`);
    // A host result arrives; the play is read again and the host's stats show.
    net.plays.set(
      'play_1',
      playFixture('play_1', {
        hosts: [playHostFixture('gpu-07', SSH_NODE_A, { state: 'ok', ok: 1 }), playHostFixture('gpu-08', SSH_NODE_B, { state: 'running' })],
      }),
    );
    act(() => {
      stream.emit('event', playEventFixture(1, { kind: 'task', host: null, status: null, task: 'ping', message: '' }));
      stream.emit('event', playEventFixture(2, { host: 'gpu-07', status: 'ok', task: 'ping', message: 'pong' }));
      stream.emit('event', playEventFixture(2, { host: 'gpu-07', status: 'ok', task: 'ping', message: 'pong' }));
    });
    await waitFor(() => expect(screen.getAllByTestId('play-log-line').map((l) => l.textContent)).toEqual(['TASK [ping]', 'gpu-07: ok [ping] pong']));
    await waitFor(() => expect(screen.getAllByTestId('play-host')[0]!.dataset).toMatchObject({ hostname: 'gpu-07', state: 'ok', ok: '1' }));
    expect(screen.getByTestId('play-log-mode').dataset.mode).toBe('stream');
    act(() => {
      stream.emit(
        'end',
        playFixture('play_1', {
          state: 'FAILED',
          exitCode: 2,
          error: 'gpu-08: unreachable',
          hosts: [
            playHostFixture('gpu-07', SSH_NODE_A, { state: 'ok', ok: 1 }),
            playHostFixture('gpu-08', SSH_NODE_B, { state: 'unreachable', unreachable: 1 }),
          ],
        }),
      );
    });
    await waitFor(() => expect(screen.getByTestId('play-state').textContent).toBe('FAILED'));
    expect(screen.getByTestId('play-error').textContent).toBe('gpu-08: unreachable');
    expect(screen.getByTestId('play-log-mode').dataset.mode).toBe('ended');
    expect(stream.closed).toBe(true);
    expect(screen.queryByTestId('play-cancel')).toBeNull();
    expect(screen.getByTestId('cli-hint').textContent).toBe('gpufleet plays logs play_1 -f');
  });

  it('without a stream, polls /events?after= from the last line until the play is over', async () => {
    vi.stubGlobal('EventSource', net.EventSource);
    net.plays.set('play_1', playFixture('play_1'));
    net.addEvents('play_1', playEventFixture(1), playEventFixture(2, { host: 'gpu-08', status: 'failed', message: 'no route to host' }));
    renderSignedIn(<PlayDetailPage playId="play_1" />, viewer);
    await waitFor(() => expect(net.streams.length).toBe(1));
    act(() => net.streams[0]!.fail());
    await waitFor(() => expect(screen.getAllByTestId('play-log-line').length).toBe(2));
    expect(screen.getByTestId('play-log-mode').dataset.mode).toBe('poll');
    expect(screen.getAllByTestId('play-log-line')[1]!.dataset.status).toBe('failed');
    expect(net.api.callsTo('GET', '/api/v1/plays/play_1/events')[0]!.query.get('after')).toBe('0');
    net.addEvents('play_1', playEventFixture(3, { kind: 'recap', host: 'gpu-07', status: null, message: 'ok=1 changed=0 failed=0' }));
    net.plays.set('play_1', playFixture('play_1', { state: 'SUCCEEDED', endedAt: '2026-12-05T10:11:00.000Z' }));
    await waitFor(() => expect(screen.getByTestId('play-log-mode').dataset.mode).toBe('ended'), { timeout: PLAY_POLL_MS * 4 });
    expect(screen.getAllByTestId('play-log-line').map((l) => l.textContent)).toEqual([
      'gpu-07: ok [ping] pong',
      'gpu-08: failed [ping] no route to host',
      'RECAP gpu-07: ok=1 changed=0 failed=0',
    ]);
    expect(net.api.callsTo('GET', '/api/v1/plays/play_1/events').map((c) => c.query.get('after'))).toContain('2');
    await waitFor(() => expect(screen.getByTestId('play-state').textContent).toBe('SUCCEEDED'));
    expect(screen.queryByTestId('play-cancel')).toBeNull();
  });

  it("the server's own error event on the stream turns to reading the log", async () => {
    vi.stubGlobal('EventSource', net.EventSource);
    net.plays.set('play_1', playFixture('play_1'));
    net.addEvents('play_1', playEventFixture(1));
    renderSignedIn(<PlayDetailPage playId="play_1" />, viewer);
    await waitFor(() => expect(net.streams.length).toBe(1));
    act(() => net.streams[0]!.emit('error', { message: 'the play log is gone' }));
    await waitFor(() => expect(screen.getAllByTestId('play-log-line').length).toBe(1));
    expect(screen.getByTestId('play-log-mode').dataset.mode).toBe('poll');
    expect(net.streams[0]!.closed).toBe(true);
  });

  it('an operator cancels a running play after confirming; a viewer has no Cancel', async () => {
    net.plays.set('play_1', playFixture('play_1'));
    const view = renderSignedIn(<PlayDetailPage playId="play_1" />, viewer);
    await screen.findByTestId('play-title');
    expect(screen.queryByTestId('play-cancel')).toBeNull();
    view.unmount();
    sessionStorage.clear();
    renderSignedIn(<PlayDetailPage playId="play_1" />, operator);
    fireEvent.click(await screen.findByTestId('play-cancel'));
    fireEvent.click(await screen.findByTestId('confirm-ok'));
    await waitFor(() => expect(screen.getByTestId('play-state').textContent).toBe('CANCELED'));
    expect(net.api.callsTo('POST', '/api/v1/plays/play_1/cancel').length).toBe(1);
  });

  it("shows the server's refusal to cancel", async () => {
    net.plays.set('play_1', playFixture('play_1'));
    net.refuse('POST /api/v1/plays/:id/cancel', fakeError(412, 'failed_precondition', 'play play_1 is SUCCEEDED'));
    renderSignedIn(<PlayDetailPage playId="play_1" />, operator);
    fireEvent.click(await screen.findByTestId('play-cancel'));
    fireEvent.click(await screen.findByTestId('confirm-ok'));
    expect((await screen.findByTestId('play-cancel-error')).textContent).toBe('play play_1 is SUCCEEDED');
  });

  it('says when there is no such play', async () => {
    renderSignedIn(<PlayDetailPage playId="nope" />, viewer);
    expect((await screen.findByText(/No play/)).textContent).toContain('nope');
  });
});
