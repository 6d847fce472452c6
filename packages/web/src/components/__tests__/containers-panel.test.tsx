// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { act, cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { useEffect, type ReactNode } from 'react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { commandSigningInput, verifyEd25519, type NodeView } from '@gpufleet/protocol';
import { AuthProvider } from '../../lib/auth.js';
import { Router } from '../../lib/router.js';
import { LiveProvider } from '../../lib/live.js';
import { SignerProvider, useSignerControl } from '../../lib/signing/signer-context.js';
import type { RevocableSigner } from '../../lib/signing/browser-signer.js';
import { LOG_LINE_LIMIT } from '../../lib/containers.js';
import { ConfirmProvider } from '../dialog.js';
import { ContainersPanel } from '../containers-panel.js';
import { FakeRunNetwork, HOSTNAME, NODE_ID, testSigner } from '../../testing/fake-run-network.js';

const NODE = { id: NODE_ID, hostname: HOSTNAME, labels: { hostname: HOSTNAME } } as unknown as NodeView;
const NOW = Date.now();
const ls = (...names: Array<[string, string]>) =>
  `${names.map(([name, state]) => JSON.stringify({ id: `${name}0123456789abcdef`, name, image: `localhost/${name}:1`, state, status: state === 'running' ? 'Up 5 minutes' : 'Exited (0) 1 minute ago', created: NOW - 3_600_000 })).join('\n')}\n`;

let net: FakeRunNetwork;

function UnlockedKey({ signer }: { signer: RevocableSigner | null }) {
  const { setSigner } = useSignerControl();
  useEffect(() => setSigner(signer), [signer, setSigner]);
  return null;
}

function renderPanel(o: { signer?: RevocableSigner | null; role?: string } = {}) {
  sessionStorage.setItem('gpufleet.session', JSON.stringify({ token: 'gft_test', name: 'ops', role: o.role ?? 'operator' }));
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  const wrap = (children: ReactNode) => (
    <QueryClientProvider client={qc}>
      <AuthProvider>
        <Router>
          <LiveProvider>
            <SignerProvider>
              <UnlockedKey signer={o.signer ?? null} />
              <ConfirmProvider>{children}</ConfirmProvider>
            </SignerProvider>
          </LiveProvider>
        </Router>
      </AuthProvider>
    </QueryClientProvider>
  );
  return render(wrap(<ContainersPanel node={NODE} />));
}

/** Lists the containers and waits for the table. */
async function listContainers() {
  fireEvent.click(await screen.findByTestId('containers-list'));
  await waitFor(() => expect(screen.queryByText(/Asking gpu-node-07/)).toBeNull());
}

/** Opens the tail of `name` and returns its run id once its stream is open. */
async function openTail(name: string): Promise<string> {
  const row = (await screen.findAllByTestId('container-row')).find((r) => r.dataset.name === name)!;
  fireEvent.click(within(row).getByTestId('container-logs'));
  await screen.findByTestId('container-log');
  const runId = net
    .submitted()
    .filter((p) => p.command.kind === 'container' && p.command.op === 'logs')
    .pop()!.runId;
  await waitFor(() => expect(net.streamOf(runId)).toBeDefined());
  return runId;
}

beforeEach(() => {
  net = new FakeRunNetwork();
  vi.stubGlobal('fetch', net.fetch);
  vi.stubGlobal('EventSource', net.EventSource);
});

afterEach(async () => {
  cleanup();
  // An open tail cancels its run just after unmount: let that reach this test's network, not the next one's.
  await new Promise((r) => setTimeout(r, 10));
  vi.unstubAllGlobals();
  sessionStorage.clear();
});

describe('ContainersPanel without an unlocked key', () => {
  it('explains the signature, shows the CLI commands and links to /keys, and sends nothing', async () => {
    renderPanel();
    const hint = await screen.findByTestId('containers-need-key');
    expect(hint.textContent).toMatch(/signed with your operator key/);
    const cli = screen.getByTestId('containers-cli').textContent!;
    expect(cli).toContain('gpufleet containers ls -l hostname=gpu-node-07');
    expect(cli).toContain('gpufleet containers logs gpu-node-07/NAME -f');
    expect(screen.getByTestId('containers-keys-link').getAttribute('href')).toBe('/keys');
    expect(screen.queryByTestId('containers-list')).toBeNull();
    expect(net.submitted()).toEqual([]);
  });

  it('a viewer with a key is told that signed commands need an operator token', async () => {
    renderPanel({ signer: await testSigner(), role: 'viewer' });
    expect((await screen.findByTestId('containers-need-key')).textContent).toMatch(/viewer/);
    expect(screen.queryByTestId('containers-keys-link')).toBeNull();
    expect(screen.queryByTestId('containers-list')).toBeNull();
  });
});

describe('ContainersPanel listing', () => {
  it('signs an ls for this host, follows the run and shows one row per container', async () => {
    const signer = await testSigner();
    net.script = () => ({ targets: [{ state: 'succeeded', exitCode: 0 }], stdout: `${ls(['vllm', 'running'], ['exporter', 'exited'])}not a container\n` });
    renderPanel({ signer });
    await listContainers();
    const [signed] = net.signedCommands();
    expect(verifyEd25519(signer.signer.did, commandSigningInput(signed!.payload), signed!.sig)).toBe(true);
    expect(signed!.payload).toMatchObject({
      ability: 'container/logs',
      target: 'hostname=gpu-node-07',
      command: { kind: 'container', op: 'ls', container: '*' },
      timeoutMs: 60_000,
    });
    const rows = screen.getAllByTestId('container-row');
    expect(rows.map((r) => [r.dataset.name, r.dataset.state])).toEqual([
      ['exporter', 'exited'],
      ['vllm', 'running'],
    ]);
    expect(rows[1]!.textContent).toContain('localhost/vllm:1');
    expect(rows[1]!.textContent).toContain('Up 5 minutes');
    expect(rows[1]!.textContent).toContain('1 h ago');
    // A running container can be stopped, a stopped one started.
    expect(within(rows[1]!).queryByTestId('container-stop')).not.toBeNull();
    expect(within(rows[0]!).queryByTestId('container-start')).not.toBeNull();
    expect(screen.getByText(/1 line of the host's answer could not be read/)).toBeTruthy();
  });

  it("shows the host's refusal with its reason and what to do", async () => {
    net.script = () => ({ targets: [{ state: 'refused', reason: 'ability_not_granted: container/logs is not granted by the capability' }] });
    renderPanel({ signer: await testSigner() });
    await listContainers();
    const problem = await screen.findByTestId('containers-problem');
    expect(problem.dataset.state).toBe('refused');
    expect(problem.textContent).toContain('refused: ability_not_granted: container/logs is not granted by the capability');
    expect(problem.textContent).toMatch(/capability does not grant/);
    expect(screen.queryByTestId('container-row')).toBeNull();
    expect(screen.queryByTestId('containers-empty')).toBeNull();
  });

  it('shows a host without a container engine as a failure with its error line', async () => {
    net.script = () => ({
      targets: [{ state: 'failed', exitCode: 1 }],
      stderr: 'error: no container engine found on this host (looked for /run/docker.sock)\n',
    });
    renderPanel({ signer: await testSigner() });
    await listContainers();
    const problem = await screen.findByTestId('containers-problem');
    expect(problem.dataset.state).toBe('failed');
    expect(problem.textContent).toContain('failed (exit 1): no container engine found on this host');
  });

  it('shows why a command could not be submitted', async () => {
    renderPanel({ signer: await testSigner({ sign: () => Promise.reject(new Error('the key is locked')) }) });
    fireEvent.click(await screen.findByTestId('containers-list'));
    expect((await screen.findByTestId('containers-error')).textContent).toBe('the key is locked');
    expect(net.submitted()).toEqual([]);
  });
});

describe('ContainersPanel live log tail', () => {
  beforeEach(() => {
    net.script = (p) =>
      p.command.kind === 'container' && p.command.op === 'logs'
        ? { targets: [{ state: 'succeeded', exitCode: 0 }], manual: true }
        : { targets: [{ state: 'succeeded', exitCode: 0 }], stdout: ls(['ticker', 'running']) };
  });

  it('signs a followed logs run and appends what the stream brings, each chunk once', async () => {
    renderPanel({ signer: await testSigner() });
    await listContainers();
    const runId = await openTail('ticker');
    expect(net.submitted().pop()).toMatchObject({
      ability: 'container/logs',
      target: 'hostname=gpu-node-07',
      timeoutMs: 3_600_000,
      command: { op: 'logs', container: 'ticker', follow: true, tail: 200 },
    });
    const es = net.streamOf(runId)!;
    act(() => {
      es.emit('output', { nodeId: NODE_ID, stream: 'stdout', chunk: 0, data: 'tick 1\ntick 2\n' });
      es.emit('output', { nodeId: NODE_ID, stream: 'stderr', chunk: 0, data: 'tock 1\n' });
      // A reconnect replays stored chunks: not shown twice.
      es.emit('output', { nodeId: NODE_ID, stream: 'stdout', chunk: 0, data: 'tick 1\ntick 2\n' });
      es.emit('output', { nodeId: NODE_ID, stream: 'stdout', chunk: 1, data: 'tick 3\n' });
    });
    const pane = screen.getByTestId('container-log');
    expect(pane.textContent).toBe('tick 1\ntick 2\ntock 1\ntick 3\n');
    expect(pane.querySelector('.stderr')!.textContent).toBe('tock 1\n');
  });

  it(`keeps only the last ${LOG_LINE_LIMIT} lines`, async () => {
    renderPanel({ signer: await testSigner() });
    await listContainers();
    const es = net.streamOf(await openTail('ticker'))!;
    const total = LOG_LINE_LIMIT + 250;
    act(() => {
      for (let chunk = 0, n = 1; n <= total; chunk++) {
        const lines: string[] = [];
        for (let k = 0; k < 500 && n <= total; k++) lines.push(`tick ${n++}`);
        es.emit('output', { nodeId: NODE_ID, stream: 'stdout', chunk, data: `${lines.join('\n')}\n` });
      }
    });
    const pane = screen.getByTestId('container-log');
    expect(pane.dataset.lines).toBe(String(LOG_LINE_LIMIT));
    expect(pane.dataset.dropped).toBe('250');
    const shown = pane.textContent!.split('\n');
    expect(shown[0]).toBe('… 250 earlier lines not kept');
    expect(shown[1]).toBe('tick 251');
    expect(shown[LOG_LINE_LIMIT]).toBe(`tick ${total}`);
  });

  it('Stop cancels the run and the tail says it stopped once the run is over', async () => {
    renderPanel({ signer: await testSigner() });
    await listContainers();
    const runId = await openTail('ticker');
    fireEvent.click(screen.getByTestId('container-log-stop'));
    await waitFor(() => expect(net.cancels()).toEqual([runId]));
    act(() => net.finish(runId));
    expect((await screen.findByTestId('container-log-end')).textContent).toBe('Stopped.');
    expect(screen.getByTestId('container-log-status').textContent).toBe('ended');
    expect(screen.queryByTestId('container-log-stop')).toBeNull();
    expect(net.streamOf(runId)).toBeUndefined();
  });

  it('leaving the page cancels a tail that still runs, and not one that is over', async () => {
    const first = renderPanel({ signer: await testSigner() });
    await listContainers();
    const runId = await openTail('ticker');
    first.unmount();
    await waitFor(() => expect(net.cancels()).toEqual([runId]));

    net.clearCalls();
    const second = renderPanel({ signer: await testSigner() });
    await listContainers();
    const ended = await openTail('ticker');
    act(() => net.finish(ended));
    await screen.findByTestId('container-log-end');
    second.unmount();
    await new Promise((r) => setTimeout(r, 20));
    expect(net.cancels()).toEqual([]);
  });

  it('cancels a running tail with a keepalive request when the page goes away', async () => {
    renderPanel({ signer: await testSigner() });
    await listContainers();
    const runId = await openTail('ticker');
    net.clearCalls();
    act(() => {
      window.dispatchEvent(new Event('pagehide'));
    });
    await waitFor(() => expect(net.cancels()).toEqual([runId]));
    cleanup();
    await new Promise((r) => setTimeout(r, 20));
    // One cancel, sent so that it survives the closing page; the unmount that follows sends no second one.
    expect(net.api.callsTo('POST', '/api/v1/runs/').map((c) => c.keepalive)).toEqual([true]);
  });
});

describe('ContainersPanel actions', () => {
  it('restart asks first, then signs container/restart, shows the result and lists again', async () => {
    net.script = (p) =>
      p.command.kind === 'container' && p.command.op === 'restart'
        ? { targets: [{ state: 'succeeded', exitCode: 0 }], stdout: 'restarted vllm (vllm01234567)\n' }
        : { targets: [{ state: 'succeeded', exitCode: 0 }], stdout: ls(['vllm', 'running']) };
    renderPanel({ signer: await testSigner() });
    await listContainers();
    const row = screen.getByTestId('container-row');

    fireEvent.click(within(row).getByTestId('container-restart'));
    const dialog = await screen.findByTestId('confirm-dialog');
    expect(dialog.textContent).toContain('Restart vllm on gpu-node-07?');
    // The preview says what will be signed: command, hosts, ability and key.
    const preview = within(dialog).getByTestId('containers-preview').textContent!;
    for (const part of ['restart vllm', 'hostname=gpu-node-07', 'container/restart', 'ops-laptop', 'fleet root']) expect(preview).toContain(part);
    fireEvent.click(within(dialog).getByTestId('confirm-cancel'));
    await waitFor(() => expect(screen.queryByTestId('confirm-dialog')).toBeNull());
    expect(net.submitted().map((p) => p.command.kind === 'container' && p.command.op)).toEqual(['ls']);

    fireEvent.click(within(screen.getByTestId('container-row')).getByTestId('container-restart'));
    fireEvent.click(within(await screen.findByTestId('confirm-dialog')).getByTestId('confirm-ok'));
    expect((await screen.findByTestId('containers-notice')).textContent).toBe('restarted vllm (vllm01234567)');
    expect(net.submitted()[1]).toMatchObject({ ability: 'container/restart', target: 'hostname=gpu-node-07', command: { op: 'restart', container: 'vllm' } });
    // Nothing more is signed without a click: the list says it is stale until listed again.
    expect(screen.getByTestId('containers-stale')).toBeTruthy();
    expect(net.submitted()).toHaveLength(2);
    await listContainers();
    expect(net.submitted().map((p) => p.command.kind === 'container' && p.command.op)).toEqual(['ls', 'restart', 'ls']);
    expect(screen.queryByTestId('containers-stale')).toBeNull();
  });

  it('stop refused by the host shows the refusal and does not claim success', async () => {
    net.script = (p) =>
      p.command.kind === 'container' && p.command.op === 'stop'
        ? { targets: [{ state: 'refused', reason: 'ability_not_granted: container/stop is not granted' }] }
        : { targets: [{ state: 'succeeded', exitCode: 0 }], stdout: ls(['vllm', 'running']) };
    renderPanel({ signer: await testSigner() });
    await listContainers();
    fireEvent.click(within(screen.getByTestId('container-row')).getByTestId('container-stop'));
    fireEvent.click(within(await screen.findByTestId('confirm-dialog')).getByTestId('confirm-ok'));
    expect((await screen.findByTestId('containers-problem')).textContent).toContain('container/stop is not granted');
    expect(screen.queryByTestId('containers-notice')).toBeNull();
    expect(net.submitted()[1]).toMatchObject({ ability: 'container/stop', command: { op: 'stop', container: 'vllm' } });
  });
});
