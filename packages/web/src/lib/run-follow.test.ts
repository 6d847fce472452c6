// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiClient } from './api.js';
import { cancelRun, readRunOutput, waitForRun } from './run-follow.js';
import { FakeRunNetwork, testSigner } from '../testing/fake-run-network.js';

let net: FakeRunNetwork;
const api = () => new ApiClient('gft_test');

/** Submits a signed `logs` command to the fake runs API; returns its run id. */
async function submit(): Promise<string> {
  const { signer } = await testSigner();
  const command = await signer.sign({ command: { kind: 'container', op: 'logs', container: 'vllm' }, target: 'hostname=gpu-node-07', timeoutMs: 60_000 });
  return (await api().post<{ id: string }>('/api/v1/runs', { command })).id;
}

beforeEach(() => {
  net = new FakeRunNetwork();
  vi.stubGlobal('fetch', net.fetch);
  vi.stubGlobal('EventSource', net.EventSource);
});
afterEach(() => vi.unstubAllGlobals());

describe('waitForRun', () => {
  it('resolves with the whole run, targets included, when the stream says done', async () => {
    net.script = () => ({ targets: [{ state: 'failed', exitCode: 1 }], stderr: 'error: no such container\n' });
    const id = await submit();
    const view = await waitForRun(api(), id);
    expect(view).toMatchObject({ id, state: 'failed', targets: [{ hostname: 'gpu-node-07', state: 'failed', exitCode: 1 }] });
    expect(net.streams.every((s) => s.closed)).toBe(true);
    expect(await readRunOutput(api(), id)).toMatchObject([{ stream: 'stderr', data: 'error: no such container\n' }]);
  });

  it('polls the run when its stream is lost, until the run is over', async () => {
    net.script = () => ({ targets: [{ state: 'succeeded', exitCode: 0 }], manual: true });
    const id = await submit();
    const waiting = waitForRun(api(), id);
    await vi.waitFor(() => expect(net.streamOf(id)).toBeDefined());
    net.streamOf(id)!.fail();
    // Still running at the first poll; over at a later one.
    await vi.waitFor(() => expect(net.api.callsTo('GET', `/api/v1/runs/${id}`).length).toBeGreaterThan(0));
    net.finish(id);
    expect((await waiting).state).toBe('succeeded');
  });

  it("fails with the server's message when the server cannot follow the run", async () => {
    net.script = () => ({ targets: [{ state: 'succeeded' }], manual: true });
    const id = await submit();
    const waiting = waitForRun(api(), id);
    await vi.waitFor(() => expect(net.streamOf(id)).toBeDefined());
    net.streamOf(id)!.emit('error', { message: 'the store is unavailable' });
    await expect(waiting).rejects.toThrow('the store is unavailable');
  });

  it('stops waiting when its signal aborts, closing the stream', async () => {
    net.script = () => ({ targets: [{ state: 'succeeded' }], manual: true });
    const id = await submit();
    const ac = new AbortController();
    const waiting = waitForRun(api(), id, ac.signal);
    await vi.waitFor(() => expect(net.streamOf(id)).toBeDefined());
    ac.abort(new Error('the panel closed'));
    await expect(waiting).rejects.toThrow('the panel closed');
    expect(net.streamOf(id)).toBeUndefined();
  });
});

describe('cancelRun', () => {
  it('asks the server to cancel, and takes a run already over as nothing to do', async () => {
    net.script = () => ({ targets: [{ state: 'succeeded' }], manual: true });
    const id = await submit();
    await cancelRun(api(), id);
    net.finish(id);
    await expect(cancelRun(api(), id)).resolves.toBeUndefined();
    expect(net.cancels()).toEqual([id, id]);
    await expect(cancelRun(api(), 'run_unknown')).rejects.toThrow(/no run 'run_unknown'/);
  });
});
