// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { act, cleanup, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { FakeWorkloadApi } from '../../testing/fake-workload-api.js';
import { allocationFixture, NODE_A, NODE_B } from '../../testing/job-fixture.js';
import { renderWithSigner } from '../../testing/render-with-signer.js';
import { NodeAllocations } from '../../components/node-allocations.js';
import { JobsPage } from '../jobs.js';
import { JobDetailPage } from '../job-detail.js';

/*
 * The Jobs list, a job's page (allocations, versions, spec, an allocation's live log, stop and
 * purge) and a node's allocations, against a fake workloads API with the server's view shapes.
 */

const operator = { token: `gft_0123456789abcdef_${'o'.repeat(43)}`, name: 'ops', role: 'operator' as const };
const viewer = { token: `gft_0123456789abcdef_${'v'.repeat(43)}`, name: 'watcher', role: 'viewer' as const };

let net: FakeWorkloadApi;
beforeEach(() => {
  window.history.replaceState(null, '', '/jobs');
  net = new FakeWorkloadApi();
  vi.stubGlobal('fetch', net.fetch);
  vi.stubGlobal('EventSource', net.EventSource);
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  sessionStorage.clear();
});

describe('Jobs list', () => {
  it('lists each job with its status, running of wanted, GPUs and version, by name', async () => {
    net.addJob('zeta', 1);
    net.addJob('llama', 4, { status: 'degraded', running: 3, gpus: 3, version: 2 });
    renderWithSigner(<JobsPage />, { session: operator });
    await waitFor(() => expect(screen.getAllByTestId('jobs-row').length).toBe(2));
    const rows = screen.getAllByTestId('jobs-row');
    expect(rows.map((r) => r.dataset.name)).toEqual(['llama', 'zeta']);
    expect(rows[0]!.dataset).toMatchObject({ status: 'degraded', running: '3', desired: '4' });
    expect(rows[0]!.textContent).toContain('3/4');
    expect(rows[0]!.textContent).toContain('v2');
    expect(within(rows[0]!).getByText('llama').getAttribute('href')).toBe('/jobs/llama');
    expect(screen.getByTestId('jobs-new').getAttribute('href')).toBe('/jobs/new');
  });

  it('a viewer sees the jobs but no way to run one; an empty fleet says so', async () => {
    renderWithSigner(<JobsPage />, { session: viewer });
    expect((await screen.findByText(/No jobs yet/)).textContent).not.toContain('Run a job');
    expect(screen.queryByTestId('jobs-new')).toBeNull();
  });
});

describe('Job page', () => {
  it('shows the job, each allocation with its node, GPU index and UUID, status and health, its versions and spec', async () => {
    net.addJob('llama', 2);
    net.addAllocation(
      'llama',
      allocationFixture('llama', 2, { nodeId: NODE_B, hostname: 'gpu-b', status: 'restarting', healthy: false, restarts: 2, message: 'exited 1' }),
    );
    renderWithSigner(<JobDetailPage name="llama" />, { session: operator });
    await waitFor(() => expect(screen.getAllByTestId('alloc-row').length).toBe(3));
    expect(screen.getByTestId('job-status').dataset.status).toBe('running');
    expect(screen.getByTestId('job-running').textContent).toBe('2/2 allocations');
    const rows = screen.getAllByTestId('alloc-row');
    expect(rows.map((r) => [r.dataset.name, r.dataset.node, r.dataset.status])).toEqual([
      ['web-0', 'gpu-a', 'running'],
      ['web-1', 'gpu-a', 'running'],
      ['web-2', 'gpu-b', 'restarting'],
    ]);
    const gpu = rows[1]!.querySelector('[data-gpu]') as HTMLElement;
    expect(gpu.dataset).toMatchObject({ gpu: '1', uuid: 'GPU-11111111-1111-2222-3333-444455556666' });
    expect(gpu.textContent).toBe('1 GPU-11111111…');
    expect(within(rows[2]!).getByTestId('alloc-node').getAttribute('href')).toBe(`/nodes/${encodeURIComponent(NODE_B)}`);
    expect(rows[2]!.querySelector('[data-health]')!.getAttribute('data-health')).toBe('unhealthy');
    expect(rows[2]!.textContent).toContain('exited 1');
    expect(screen.getAllByTestId('job-version-row').map((r) => [r.dataset.version, r.dataset.status])).toEqual([['1', 'current']]);
    expect(screen.getByTestId('job-spec-summary').dataset.name).toBe('llama');
    expect(JSON.parse(screen.getByTestId('job-spec-json').textContent!)).toMatchObject({ name: 'llama', kind: 'service' });
  });

  it("opens an allocation's live log: stored output first, each piece once, and closes the stream at its end", async () => {
    const job = net.addJob('llama', 2);
    const alloc = job.allocations[1]!;
    renderWithSigner(<JobDetailPage name="llama" />, { session: operator });
    const row = (await screen.findAllByTestId('alloc-row')).find((r) => r.dataset.name === 'web-1')!;
    fireEvent.click(within(row).getByTestId('alloc-logs'));
    await waitFor(() => expect(net.logStreamOf(alloc.id)).toBeDefined());
    expect(window.location.search).toBe(`?alloc=${alloc.id}`);
    const stream = net.logStreamOf(alloc.id)!;
    expect(stream.url).toContain('?after=0&access_token=');
    act(() => {
      stream.emit('output', { id: 1, stream: 'stdout', chunk: 0, data: 'serving on :8000\nloading weights', at: '2025-05-01T12:00:01Z' });
      stream.emit('output', { id: 2, stream: 'stdout', chunk: 1, data: ' done\n', at: '2025-05-01T12:00:02Z' });
      stream.emit('output', { id: 1, stream: 'stdout', chunk: 0, data: 'serving on :8000\nloading weights', at: '2025-05-01T12:00:01Z' });
      stream.emit('output', { id: 3, stream: 'stderr', chunk: 0, data: 'warning: slow disk\n', at: '2025-05-01T12:00:03Z' });
      stream.emit('output', { garbage: true });
    });
    const log = screen.getByTestId('alloc-log');
    await waitFor(() => expect(log.dataset.lines).toBe('3'));
    expect(log.textContent).toBe('serving on :8000\nloading weights done\nwarning: slow disk\n');
    expect(log.querySelector('.stderr')!.textContent).toBe('warning: slow disk\n');
    act(() => stream.emit('end', {}));
    await waitFor(() => expect(screen.getByTestId('alloc-log-tail').dataset.ended).toBe('true'));
    expect(stream.closed).toBe(true);
    fireEvent.click(screen.getByTestId('alloc-log-close'));
    expect(screen.queryByTestId('alloc-log-tail')).toBeNull();
    expect(window.location.search).toBe('');
  });

  it('a link to job/name opens the log of the allocation of that name that runs now', async () => {
    net.addJob('llama', 2);
    const replaced = allocationFixture('llama', 1, { id: 'alloc_old_web1_aaaa', status: 'lost', desired: 'stop', createdAt: '2025-05-01T11:00:00.000Z' });
    net.addAllocation('llama', replaced);
    window.history.replaceState(null, '', '/jobs/llama?alloc=web-1');
    renderWithSigner(<JobDetailPage name="llama" />, { session: operator });
    expect((await screen.findByTestId('alloc-log-tail')).dataset.alloc).toBe('alloc_llama_1_aaaaaaaa');
    window.history.replaceState(null, '', '/jobs/llama?alloc=web-9');
    cleanup();
    renderWithSigner(<JobDetailPage name="llama" />, { session: operator });
    expect((await screen.findByTestId('alloc-missing')).textContent).toBe('This job has no allocation web-9.');
  });

  it('Stop asks first, sends the reason, and shows the job stopping', async () => {
    net.addJob('llama', 2);
    renderWithSigner(<JobDetailPage name="llama" />, { session: operator });
    fireEvent.click(await screen.findByTestId('job-stop'));
    const dialog = await screen.findByTestId('confirm-dialog');
    expect(dialog.textContent).toContain('Stop job llama?');
    fireEvent.click(within(dialog).getByTestId('confirm-cancel'));
    expect(net.api.callsTo('POST', '/api/v1/jobs/llama/stop')).toEqual([]);

    fireEvent.click(screen.getByTestId('job-stop'));
    fireEvent.change(await screen.findByTestId('confirm-reason'), { target: { value: 'moving to the new cluster' } });
    fireEvent.click(screen.getByTestId('confirm-ok'));
    await waitFor(() => expect(screen.getByTestId('job-status').dataset.status).toBe('stopped'));
    expect(net.api.callsTo('POST', '/api/v1/jobs/llama/stop').map((c) => c.body)).toEqual([{ reason: 'moving to the new cluster' }]);
    expect(screen.getAllByTestId('alloc-row').every((r) => r.dataset.desired === 'stop' && r.textContent!.includes('(stopping: job stopped)'))).toBe(true);
    expect(screen.queryByTestId('job-stop')).toBeNull();
  });

  it('Stop and purge wants the job name typed, then forgets the job and goes back to the list', async () => {
    net.addJob('llama', 1);
    renderWithSigner(<JobDetailPage name="llama" />, { session: operator });
    fireEvent.click(await screen.findByTestId('job-purge'));
    await screen.findByTestId('confirm-dialog');
    expect((screen.getByTestId('confirm-ok') as HTMLButtonElement).disabled).toBe(true);
    fireEvent.change(screen.getByTestId('confirm-type'), { target: { value: 'llama' } });
    fireEvent.click(screen.getByTestId('confirm-ok'));
    await waitFor(() => expect(window.location.pathname).toBe('/jobs'));
    expect(net.api.callsTo('POST', '/api/v1/jobs/llama/stop').map((c) => c.body)).toEqual([{ purge: true }]);
    expect(net.jobs.has('llama')).toBe(false);
  });

  it('a viewer gets no stop buttons; an unknown job says so', async () => {
    net.addJob('llama', 1);
    renderWithSigner(<JobDetailPage name="llama" />, { session: viewer });
    await screen.findAllByTestId('alloc-row');
    expect(screen.queryByTestId('job-stop')).toBeNull();
    expect(screen.queryByTestId('job-purge')).toBeNull();
    cleanup();
    renderWithSigner(<JobDetailPage name="nope" />, { session: viewer });
    expect((await screen.findByText(/No job named/)).textContent).toContain('nope');
  });

  it('a spec of the wrong shape is shown as JSON only, not summed up', async () => {
    net.addJob('llama', 1, { spec: { name: 'llama', allocations: 'garbage' } });
    renderWithSigner(<JobDetailPage name="llama" />, { session: viewer });
    expect(JSON.parse((await screen.findByTestId('job-spec-json')).textContent!)).toEqual({ name: 'llama', allocations: 'garbage' });
    expect(screen.queryByTestId('job-spec-summary')).toBeNull();
  });
});

describe("A node's allocations", () => {
  it("lists the active allocations on the node with their job's link", async () => {
    net.addJob('llama', 2);
    net.addJob('whisper', 1, { allocations: [allocationFixture('whisper', 0, { nodeId: NODE_B, hostname: 'gpu-b' })] });
    renderWithSigner(<NodeAllocations nodeId={NODE_A} />, { session: viewer });
    await waitFor(() => expect(screen.getAllByTestId('alloc-row').length).toBe(2));
    expect(net.api.callsTo('GET', '/api/v1/allocations').map((c) => Object.fromEntries(c.query))).toEqual([{ node: NODE_A, active: 'true' }]);
    const links = screen.getAllByTestId('alloc-row').map((r) => r.querySelector('a')!);
    expect(links.map((a) => [a.textContent, a.getAttribute('href')])).toEqual([
      ['llama/web-0', '/jobs/llama?alloc=web-0'],
      ['llama/web-1', '/jobs/llama?alloc=web-1'],
    ]);
    cleanup();
    renderWithSigner(<NodeAllocations nodeId="did:key:z6MkEmpty" />, { session: viewer });
    expect((await screen.findByText('No workload allocations on this node.')).textContent).toBeTruthy();
  });
});
