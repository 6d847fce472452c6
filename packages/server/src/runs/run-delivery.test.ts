import { afterEach, describe, expect, it } from 'vitest';
import type { SignedCommand } from '@gpufleet/protocol';
import { nodeId, runKit, type RunKit } from './__tests__/run-kit.js';

let kit: RunKit | undefined;
afterEach(async () => {
  await kit?.close();
  kit = undefined;
});

const started = (k: RunKit, n: number, runId: string) => k.report(nodeId(n), 'run-started', { runId, pid: 100 + n });

describe('delivery across reconnects and the deadline', () => {
  it('keeps a disconnected host queued and delivers when it reconnects', async () => {
    kit = await runKit(2, { connected: false });
    kit.gateway.connected.add(nodeId(0));
    const { id } = await kit.service.submit({ command: kit.command() }, 'a');
    expect(kit.gateway.to('command')).toEqual([nodeId(0)]);
    expect((await kit.service.get(id)).targets!.map((t) => t.state)).toEqual(['sent', 'queued']);
    kit.service.onSessionReady(nodeId(1)); // still no session: nothing happens
    kit.gateway.connected.add(nodeId(1));
    kit.service.onSessionReady(nodeId(1));
    expect(kit.gateway.to('command')).toEqual([nodeId(0), nodeId(1)]);
    expect((await kit.service.get(id)).targets!.map((t) => t.state)).toEqual(['sent', 'sent']);
  });

  it('with maxParallel, a reconnecting host waits for a free slot', async () => {
    kit = await runKit(3, { connected: false });
    kit.gateway.connected.add(nodeId(1));
    kit.gateway.connected.add(nodeId(2));
    const { id } = await kit.service.submit({ command: kit.command(), batch: { maxParallel: 1 } }, 'a');
    expect(kit.gateway.to('command')).toEqual([nodeId(1)]);
    kit.gateway.connected.add(nodeId(0));
    kit.service.onSessionReady(nodeId(0));
    expect(kit.gateway.to('command')).toEqual([nodeId(1)]);
    kit.result(nodeId(1), id);
    expect(kit.gateway.to('command')).toEqual([nodeId(1), nodeId(0)]);
    kit.result(nodeId(0), id);
    expect(kit.gateway.to('command')).toEqual([nodeId(1), nodeId(0), nodeId(2)]);
  });

  it('sends an unconfirmed command again after a reconnect; the replayed-nonce refusal of that copy is ignored', async () => {
    kit = await runKit(1);
    const { id } = await kit.service.submit({ command: kit.command() }, 'a');
    kit.service.onSessionReady(nodeId(0));
    expect(kit.gateway.to('command')).toEqual([nodeId(0), nodeId(0)]);
    kit.report(nodeId(0), 'run-refused', { runId: id, reason: 'replayed_nonce', message: 'nonce seen' });
    expect((await kit.service.get(id)).targets![0]!.state).toBe('sent');
    started(kit, 0, id);
    kit.service.onSessionReady(nodeId(0)); // running: the host has it, nothing is sent
    expect(kit.gateway.to('command')).toHaveLength(2);
    kit.result(nodeId(0), id);
    expect((await kit.service.get(id)).state).toBe('succeeded');
  });

  it('a first-delivery replayed-nonce refusal is a real refusal', async () => {
    kit = await runKit(1);
    const { id } = await kit.service.submit({ command: kit.command() }, 'a');
    kit.report(nodeId(0), 'run-refused', { runId: id, reason: 'replayed_nonce', message: 'nonce seen' });
    expect((await kit.service.get(id)).targets![0]!.state).toBe('refused');
  });

  it('past the deadline, silent hosts are unreachable, hosts never started are canceled; a late result still counts', async () => {
    kit = await runKit(5, { connected: false });
    for (const n of [1, 2, 3]) kit.gateway.connected.add(nodeId(n));
    const { id } = await kit.service.submit({ command: kit.command({ timeoutMs: 1000 }), batch: { batchSize: 4 } }, 'a');
    started(kit, 2, id);
    kit.result(nodeId(3), id);
    kit.clock.advance(1000 + 60_000 - 1);
    kit.service.tick();
    expect((await kit.service.get(id)).state).toBe('running');
    kit.clock.advance(1);
    kit.service.tick();
    let view = await kit.service.get(id);
    expect(view.targets!.map((t) => [t.hostname, t.state, t.reason])).toEqual([
      ['node-000', 'unreachable', 'the host was not connected before the deadline'],
      ['node-001', 'unreachable', 'the host did not confirm the command before the deadline'],
      ['node-002', 'unreachable', 'no result from the host before the deadline'],
      ['node-003', 'succeeded', null],
      ['node-004', 'canceled', 'the deadline passed before this host was started'],
    ]);
    expect(view.state).toBe('partial');
    // The host was only slow: its real result replaces "unreachable".
    kit.result(nodeId(2), id, { exitCode: 4 });
    view = await kit.service.get(id);
    expect(view.targets![2]).toMatchObject({ state: 'failed', exitCode: 4 });
    expect(view.counts).toEqual({ unreachable: 2, succeeded: 1, failed: 1, canceled: 1 });
    kit.service.onSessionReady(nodeId(0)); // too late: nothing is sent
    expect(kit.gateway.to('command')).toEqual([nodeId(1), nodeId(2), nodeId(3)]);
  });

  it('after a restart, a host that was offline gets its command when it connects', async () => {
    kit = await runKit(2, { connected: false });
    kit.gateway.connected.add(nodeId(0));
    const { id } = await kit.service.submit({ command: kit.command() }, 'a');
    await kit.service.flush();
    const again = kit.restart();
    kit.gateway.connected.clear();
    await again.load();
    kit.gateway.connected.add(nodeId(1));
    again.onSessionReady(nodeId(1));
    kit.gateway.connected.add(nodeId(0));
    again.onSessionReady(nodeId(0)); // sent before the restart: sent again, the host runs it once
    expect(kit.gateway.to('command')).toEqual([nodeId(0), nodeId(1), nodeId(0)]);
    kit.result(nodeId(0), id);
    kit.result(nodeId(1), id);
    expect((await again.get(id)).state).toBe('succeeded');
  });

  it('picks up running runs after a restart', async () => {
    kit = await runKit(3);
    const { id } = await kit.service.submit({ command: kit.command(), batch: { batchSize: 2 } }, 'a');
    kit.result(nodeId(0), id);
    await kit.service.flush();
    const again = kit.restart();
    await again.load();
    // node-001 had it before the restart, unconfirmed: it gets it again; its "seen that nonce" is no refusal.
    expect(kit.gateway.to('command')).toEqual([nodeId(0), nodeId(1), nodeId(1)]);
    kit.report(nodeId(1), 'run-refused', { runId: id, reason: 'replayed_nonce', message: 'nonce seen' });
    kit.result(nodeId(1), id);
    expect(kit.gateway.to('command')).toEqual([nodeId(0), nodeId(1), nodeId(1), nodeId(2)]);
    kit.result(nodeId(2), id);
    expect((await again.get(id)).state).toBe('succeeded');
  });
});

describe('scale', () => {
  it('fans out to 10,000 hosts with batched store writes', async () => {
    kit = await runKit(10_000);
    let writes = 0;
    const save = kit.store.saveRunProgress.bind(kit.store);
    kit.store.saveRunProgress = (p) => (writes++, save(p));
    const cmd: SignedCommand = kit.command();
    const { id, targets } = await kit.service.submit({ command: cmd }, 'a');
    expect(targets).toHaveLength(10_000);
    expect(kit.gateway.to('command')).toHaveLength(10_000);
    for (let n = 0; n < 10_000; n++) {
      started(kit, n, id);
      kit.report(nodeId(n), 'run-output', { runId: id, stream: 'stdout', chunk: 0, data: 'ok\n' });
      kit.result(nodeId(n), id, { exitCode: n % 100 === 0 ? 1 : 0 });
    }
    const view = await kit.service.get(id);
    expect(view.counts).toEqual({ succeeded: 9_900, failed: 100 });
    expect(view.state).toBe('partial');
    await kit.service.flush();
    expect(writes).toBeLessThan(5);
    expect((await kit.store.listRunOutput({ runId: id, limit: 10_000 })).length).toBe(10_000);
  }, 60_000);
});
