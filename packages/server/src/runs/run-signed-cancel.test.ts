import { afterEach, describe, expect, it } from 'vitest';
import { commandDeadline, generateEd25519, signCancel, type SignedCancel, type SignedCommand } from '@gpufleet/protocol';
import { nodeId, operator, runKit, type RunKit } from './__tests__/run-kit.js';

let kit: RunKit | undefined;
afterEach(async () => {
  await kit?.close();
  kit = undefined;
});

function cancelOf(k: RunKit, cmd: SignedCommand, key = operator): SignedCancel {
  return signCancel(
    { v: 1, kind: 'cancel', runId: cmd.payload.runId, nonce: cmd.payload.nonce, iss: key.did, at: k.clock.now(), until: commandDeadline(cmd.payload) },
    key.privateKeyPem,
  );
}

const cancelsTo = (k: RunKit) =>
  k.gateway.sent.filter((s) => s.frame.t === 'cancel' && (s.frame.body as { signed?: unknown }).signed !== undefined).map((s) => s.nodeId);

describe('signed cancels reach every target, also hosts that connect later', () => {
  it('sends the signed cancel to connected targets now and to an offline one when its session is ready, until the deadline', async () => {
    kit = await runKit(3, { connected: false });
    kit.gateway.connected.add(nodeId(0));
    const cmd = kit.command({ timeoutMs: 30_000 });
    const { id } = await kit.service.submit({ command: cmd }, 'a');
    const signed = cancelOf(kit, cmd);
    const view = await kit.service.cancel(id, 'a', signed);
    expect(view.canceledBy).toBe('a');
    expect(cancelsTo(kit)).toEqual([nodeId(0)]);
    expect(kit.service.signedCancelOf(id)).toEqual({ iss: operator.did, at: kit.clock.now() });

    // node 1 reconnects: it hears about the cancel and never gets the command.
    kit.gateway.connected.add(nodeId(1));
    kit.service.onSessionReady(nodeId(1));
    expect(cancelsTo(kit)).toEqual([nodeId(0), nodeId(1)]);
    expect(kit.gateway.to('command')).toEqual([nodeId(0)]);
    const frame = kit.gateway.sent.filter((s) => s.nodeId === nodeId(1))[0]!.frame;
    expect(frame).toEqual({ t: 'cancel', body: { runId: id, signed } });

    // Past the command's deadline (and skew) nothing is carried any more.
    kit.clock.advance(30_000 + 60_000 + 60_000 + 1);
    kit.service.tick();
    kit.gateway.connected.add(nodeId(2));
    kit.service.onSessionReady(nodeId(2));
    expect(cancelsTo(kit)).toEqual([nodeId(0), nodeId(1)]);
  });

  it('a server restart keeps carrying the signed cancel to a host still offline', async () => {
    kit = await runKit(2, { connected: false });
    kit.gateway.connected.add(nodeId(0));
    const cmd = kit.command({ timeoutMs: 30_000 });
    const { id } = await kit.service.submit({ command: cmd }, 'a');
    const signed = cancelOf(kit, cmd);
    await kit.service.cancel(id, 'a', signed);
    await kit.service.flush();
    const again = kit.restart();
    await again.load();
    expect(again.signedCancelOf(id)).toEqual({ iss: operator.did, at: kit.clock.now() });
    kit.gateway.connected.add(nodeId(1));
    again.onSessionReady(nodeId(1));
    expect(kit.gateway.sent.filter((s) => s.nodeId === nodeId(1)).map((s) => s.frame)).toContainEqual({ t: 'cancel', body: { runId: id, signed } });
    expect(kit.gateway.to('command')).toEqual([nodeId(0)]);
  });

  it('a damaged saved list of cancels is reported and skipped, not a failed start', async () => {
    kit = await runKit(1);
    await kit.store.setSetting('runs.signed-cancels', '{not json');
    await kit.restart().load();
    expect(kit.warnings).toContain('the saved signed cancels are not JSON; none restored');
    await kit.store.setSetting('runs.signed-cancels', JSON.stringify([{ junk: 1 }, 'x', null]));
    const again = kit.restart();
    await again.load();
    expect(again.signedCancelOf('anything')).toBeNull();
  });

  it('a host that refuses because of the cancel ends canceled, not refused', async () => {
    kit = await runKit(1);
    const cmd = kit.command();
    const { id } = await kit.service.submit({ command: cmd }, 'a');
    kit.report(nodeId(0), 'run-refused', { runId: id, reason: 'canceled', message: 'a signed cancel stops this command' });
    const view = await kit.service.get(id);
    expect(view.targets![0]).toMatchObject({ state: 'canceled', reason: 'canceled: a signed cancel stops this command' });
  });

  it('takes a signed cancel for a finished run it still follows', async () => {
    kit = await runKit(1);
    const cmd = kit.command();
    const { id } = await kit.service.submit({ command: cmd }, 'a');
    kit.result(nodeId(0), id);
    await kit.service.cancel(id, 'a', cancelOf(kit, cmd));
    expect(cancelsTo(kit)).toEqual([nodeId(0)]);
    await expect(kit.service.cancel(id, 'a')).rejects.toMatchObject({ code: 'conflict' });
  });

  it('refuses a cancel that does not verify or names another command, and sends nothing', async () => {
    kit = await runKit(1);
    const cmd = kit.command();
    const other = kit.command();
    const { id } = await kit.service.submit({ command: cmd }, 'a');
    const forged = { ...cancelOf(kit, cmd), sig: cancelOf(kit, cmd, generateEd25519()).sig };
    for (const bad of [forged, cancelOf(kit, other), { garbage: 1 }, 'cancel', null]) {
      await expect(kit.service.cancel(id, 'a', bad)).rejects.toMatchObject({ code: 'invalid_argument' });
    }
    expect(cancelsTo(kit)).toEqual([]);
    expect((await kit.service.get(id)).canceledBy).toBeNull();
  });
});

describe('targets are checked against the signed selector right before the send', () => {
  it('a host whose labels changed after the submit never gets the command (nor its env)', async () => {
    kit = await runKit(2, { connected: false });
    const cmd = kit.command({ target: 'pool in (a,b)', env: { HF_TOKEN: 'secret-value' } });
    const { id } = await kit.service.submit({ command: cmd }, 'a');
    // node 1 is relabelled while offline: it no longer matches the run's signed selector.
    kit.nodes[1]!.labels = { pool: 'c' };
    for (const n of [0, 1]) {
      kit.gateway.connected.add(nodeId(n));
      kit.service.onSessionReady(nodeId(n));
    }
    expect(kit.gateway.to('command')).toEqual([nodeId(0)]);
    expect(JSON.stringify(kit.gateway.sent.filter((s) => s.nodeId === nodeId(1)))).not.toContain('secret-value');
    const view = await kit.service.get(id);
    expect(view.targets![1]).toMatchObject({ state: 'canceled', reason: expect.stringContaining("no longer matches the signed target 'pool in (a,b)'") });
  });

  it('a removed node is skipped, and a run whose every target is skipped finishes', async () => {
    kit = await runKit(1, { connected: false });
    const { id } = await kit.service.submit({ command: kit.command() }, 'a');
    kit.nodes[0]!.status = 'DECOMMISSIONED';
    kit.gateway.connected.add(nodeId(0));
    kit.service.onSessionReady(nodeId(0));
    expect(kit.gateway.to('command')).toEqual([]);
    const view = await kit.service.get(id);
    expect(view.state).not.toBe('running');
    expect(view.targets![0]!.reason).toContain('DECOMMISSIONED');
  });

  it("a host's report on a run it is not a target of changes nothing", async () => {
    kit = await runKit(2);
    const { id } = await kit.service.submit({ command: kit.command({ target: 'pool=a' }) }, 'a');
    kit.result(nodeId(1), id, { exitCode: 3 });
    kit.report(nodeId(1), 'run-refused', { runId: id, reason: 'canceled', message: 'fake' });
    const view = await kit.service.get(id);
    expect(view.targets!.map((t) => [t.nodeId, t.state])).toEqual([[nodeId(0), 'sent']]);
    expect(kit.warnings).toContain('a host reported on a run it is not a target of; ignored');
  });
});
