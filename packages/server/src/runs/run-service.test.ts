import { afterEach, describe, expect, it } from 'vitest';
import { FleetError, capabilityId, scriptSha256, signCapability } from '@gpufleet/protocol';
import { nodeId, operator, runKit, storedStates, T0, type RunKit } from './__tests__/run-kit.js';

let kit: RunKit | undefined;
afterEach(async () => {
  await kit?.close();
  kit = undefined;
});

async function expectError(work: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  const err = await work.then(
    () => new Error('expected a rejection'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FleetError);
  expect((err as FleetError).code).toBe(code);
  expect((err as FleetError).message).toMatch(message);
}

const started = (k: RunKit, n: number, runId: string) => k.report(nodeId(n), 'run-started', { runId, pid: 100 + n });

describe('submit', () => {
  it('resolves the selector to READY hosts (not pending, not removed), stores the run and sends the command', async () => {
    kit = await runKit(6, {
      extra: [
        { id: 'did:key:z6MkPending', hostname: 'pending-1', labels: { pool: 'a' }, status: 'PENDING' },
        { id: 'did:key:z6MkGone', hostname: 'gone-1', labels: { pool: 'a' }, status: 'DECOMMISSIONED' },
        { id: 'did:key:z6MkOffline', hostname: 'offline-1', labels: { pool: 'a' }, status: 'OFFLINE' },
      ],
    });
    const cmd = kit.command({ target: 'pool=a' });
    const res = await kit.service.submit({ command: cmd }, 'token:ops(t1)');
    expect(res.id).toBe(cmd.payload.runId);
    expect(res.state).toBe('running');
    expect(res.targets.map((t) => t.hostname)).toEqual(['node-000', 'node-002', 'node-004', 'offline-1']);
    // Offline hosts are targets too (they get it when they come back); the others are sent now.
    expect(kit.gateway.to('command')).toEqual([nodeId(0), nodeId(2), nodeId(4), 'did:key:z6MkOffline']);
    const frame = kit.gateway.sent[0]!.frame;
    expect(frame).toEqual({ t: 'command', body: { command: cmd, scriptContent: null, scriptSignature: null } });
    expect((await kit.service.get(res.id)).targets!.map((t) => t.state)).toEqual(['sent', 'sent', 'sent', 'sent']);
    // Only final states are written: sent and running live in memory.
    expect(await storedStates(kit, res.id)).toEqual({ 'node-000': 'queued', 'node-002': 'queued', 'node-004': 'queued', 'offline-1': 'queued' });
    kit.result(nodeId(2), res.id, { exitCode: 1 });
    expect((await storedStates(kit, res.id))['node-002']).toBe('failed');
    const stored = await kit.store.getRun(res.id);
    expect(stored).toMatchObject({
      createdBy: 'token:ops(t1)',
      invoker: operator.did,
      capabilityId: null,
      ability: 'exec/run',
      selector: 'pool=a',
      summary: 'echo ok',
      state: 'running',
      deadline: T0 + 60_000 + 60_000,
    });
    expect(stored!.command).toEqual(cmd);
    expect(kit.events).toContainEqual({ type: 'run', runId: res.id, change: 'created', state: 'running' });
  });

  it('records the capability id of a delegated invoker', async () => {
    kit = await runKit(1);
    const cap = signCapability(
      { v: 1, iss: operator.did, aud: operator.did, can: ['exec/run'], on: '*', nbf: T0 - 1000, exp: T0 + 86_400_000, nonce: 'capnonce1', prf: [] },
      operator.privateKeyPem,
    );
    const res = await kit.service.submit({ command: kit.command({ capability: cap }) }, 'a');
    expect((await kit.store.getRun(res.id))!.capabilityId).toBe(capabilityId(cap));
  });

  it('refuses garbage, naming the problem, and stores nothing', async () => {
    kit = await runKit(2);
    const good = kit.command();
    const bad: Array<[unknown, string, RegExp]> = [
      [null, 'invalid_argument', /invalid run request body/],
      ['run it', 'invalid_argument', /invalid run request body/],
      [{}, 'invalid_argument', /field 'command'/],
      [{ command: { payload: good.payload } }, 'invalid_argument', /field 'command.sig'/],
      [{ command: { ...good, payload: { ...good.payload, timeoutMs: -1 } } }, 'invalid_argument', /command.payload.timeoutMs/],
      [{ command: { ...good, payload: { ...good.payload, command: { kind: 'rm -rf' } } } }, 'invalid_argument', /command.payload.command/],
      [{ command: good, batch: { batchSize: 'half' } }, 'invalid_argument', /batch.batchSize/],
      [{ command: good, batch: { maxParallel: 0 } }, 'invalid_argument', /batch.maxParallel/],
      [{ command: good, extra: 1 }, 'invalid_argument', /extra|unrecognized/i],
    ];
    for (const [input, code, message] of bad) await expectError(kit.service.submit(input, 'a'), code, message);
    await expectError(
      kit.service.submit({ command: good, batch: { batchSize: '0%' } }, 'a'),
      'invalid_argument',
      /batchSize '0%' must be a percentage above 0/,
    );
    await expectError(kit.service.submit({ command: good, batch: { batchSize: 0 } }, 'a'), 'invalid_argument', /batchSize must be at least 1/);
    await expectError(
      kit.service.submit({ command: kit.command({ ability: 'exec/script' }) }, 'a'),
      'invalid_argument',
      /'exec\/script' does not cover a 'argv' command/,
    );
    await expectError(kit.service.submit({ command: kit.command({ issuedAt: T0 + 3_600_000 }) }, 'a'), 'invalid_argument', /in the future/);
    await expectError(kit.service.submit({ command: kit.command({ issuedAt: T0 - 3_600_000 }) }, 'a'), 'invalid_argument', /timeout has passed: sign it again/);
    await expectError(kit.service.submit({ command: kit.command({ target: 'pool in (a' }) }, 'a'), 'invalid_argument', /bad label selector/);
    await expectError(kit.service.submit({ command: kit.command({ target: 'pool=z' }) }, 'a'), 'invalid_argument', /matches no node/);
    const script = kit.command({ ability: 'exec/script', command: { kind: 'script', name: 'disk-check', version: 2, sha256: 'a'.repeat(64), args: [] } });
    await expectError(kit.service.submit({ command: script }, 'a'), 'not_found', /script 'disk-check' version 2 is not in the library/);
    expect(await kit.store.listRuns({})).toEqual([]);
    expect(kit.gateway.sent).toEqual([]);
  });

  it('refuses a runId used before', async () => {
    kit = await runKit(1);
    const cmd = kit.command();
    await kit.service.submit({ command: cmd }, 'a');
    await expectError(kit.service.submit({ command: cmd }, 'a'), 'already_exists', /was used before/);
    // Also after a restart, when only the store remembers it.
    await kit.service.flush();
    kit.restart();
    await expectError(kit.service.submit({ command: cmd }, 'a'), 'already_exists', /was used before/);
  });

  it('refuses a command whose frame would be over the limit an agent accepts, naming the size', async () => {
    kit = await runKit(1);
    const env = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`BIG_${i}`, 'x'.repeat(60_000)]));
    await expectError(
      kit.service.submit({ command: kit.command({ env }) }, 'a'),
      'invalid_argument',
      /command frame would be 1,2\d\d,\d{3} bytes, over the 1,048,576 an agent accepts/,
    );
    expect(kit.gateway.sent).toEqual([]);
  });

  it('attaches the library script to the command frame', async () => {
    const content = '#!/bin/sh\ndf -h\n';
    const signature = { name: 'disk-check', version: 2, sha256: scriptSha256(content), signer: operator.did, sig: 'c2ln' };
    const asked: string[] = [];
    kit = await runKit(1, { service: { scriptLookup: async (name, version) => (asked.push(`${name}@${version}`), { content, signature }) } });
    const cmd = kit.command({
      ability: 'exec/script',
      command: { kind: 'script', name: 'disk-check', version: 2, sha256: scriptSha256(content), args: ['-h'] },
    });
    await kit.service.submit({ command: cmd }, 'a');
    expect(asked).toEqual(['disk-check@2']);
    expect(kit.gateway.sent[0]!.frame).toEqual({ t: 'command', body: { command: cmd, scriptContent: content, scriptSignature: signature } });
    expect((await kit.store.listRuns({}))[0]!.summary).toBe('script disk-check v2 -h');
  });
});

describe('host reports', () => {
  it('follows a host from sent to running to succeeded and finishes the run', async () => {
    kit = await runKit(2);
    const { id } = await kit.service.submit({ command: kit.command() }, 'a');
    kit.clock.advance(10);
    started(kit, 0, id);
    kit.report(nodeId(0), 'run-output', { runId: id, stream: 'stdout', chunk: 0, data: 'ok\n' });
    expect((await kit.service.get(id)).targets!.map((t) => t.state)).toEqual(['running', 'sent']);
    kit.clock.advance(10);
    kit.result(nodeId(0), id, { durationMs: 12, outputBytes: 3 });
    kit.result(nodeId(1), id);
    const view = await kit.service.get(id);
    expect(view.state).toBe('succeeded');
    expect(view.finishedAt).toBe(new Date(T0 + 20).toISOString());
    expect(view.counts).toEqual({ succeeded: 2 });
    expect(view.targets![0]).toMatchObject({
      state: 'succeeded',
      exitCode: 0,
      durationMs: 12,
      outputBytes: 3,
      startedAt: new Date(T0 + 10).toISOString(),
      truncated: false,
    });
    expect(kit.events.filter((e) => e.type === 'run' && e.change === 'finished')).toEqual([{ type: 'run', runId: id, change: 'finished', state: 'succeeded' }]);
    await kit.service.flush();
    expect((await kit.store.getRun(id))!.state).toBe('succeeded');
    expect((await kit.service.output({ runId: id })).items.map((o) => [o.nodeId, o.stream, o.data])).toEqual([[nodeId(0), 'stdout', 'ok\n']]);
  });

  it('records failures, timeouts, host cancels and refusals with their reasons; the run is partial', async () => {
    kit = await runKit(5);
    const { id } = await kit.service.submit({ command: kit.command() }, 'a');
    kit.result(nodeId(0), id);
    kit.result(nodeId(1), id, { exitCode: 3 });
    kit.result(nodeId(2), id, { exitCode: null, signal: 'SIGKILL', timedOut: true, durationMs: 60_000 });
    kit.result(nodeId(3), id, { exitCode: null, signal: 'SIGTERM', canceled: true });
    kit.report(nodeId(4), 'run-refused', { runId: id, reason: 'selector_mismatch', message: 'this host is not pool=a' });
    const view = await kit.service.get(id);
    expect(view.state).toBe('partial');
    expect(view.counts).toEqual({ succeeded: 1, failed: 1, timed_out: 1, canceled: 1, refused: 1 });
    expect(view.targets!.map((t) => [t.state, t.exitCode, t.signal, t.reason])).toEqual([
      ['succeeded', 0, null, null],
      ['failed', 3, null, 'exit code 3'],
      ['timed_out', null, 'SIGKILL', 'killed after the 60 s timeout (SIGKILL)'],
      ['canceled', null, 'SIGTERM', 'canceled on the host'],
      ['refused', null, null, 'selector_mismatch: this host is not pool=a'],
    ]);
  });

  it('a run where no host succeeded is failed', async () => {
    kit = await runKit(2);
    const { id } = await kit.service.submit({ command: kit.command() }, 'a');
    kit.result(nodeId(0), id, { exitCode: 1 });
    kit.result(nodeId(1), id, { exitCode: 2 });
    expect((await kit.service.get(id)).state).toBe('failed');
  });

  it('ignores repeats, reports from hosts that are not targets, unknown runs and malformed data', async () => {
    kit = await runKit(3);
    const { id } = await kit.service.submit({ command: kit.command({ target: 'pool=a' }) }, 'a');
    kit.result(nodeId(0), id, { exitCode: 0 });
    kit.result(nodeId(0), id, { exitCode: 9 }); // replayed from the outbox: the first result stands
    kit.result(nodeId(1), id, { exitCode: 0 }); // node 1 is pool=b: not a target
    kit.result(nodeId(2), 'run-unknown', { exitCode: 0 });
    kit.report(nodeId(2), 'run-result', { runId: id, exitCode: 'zero' });
    kit.report(nodeId(2), 'run-output', { runId: id, stream: 'stdin', chunk: 0, data: 'x' });
    const view = await kit.service.get(id);
    expect(view.targets!.map((t) => [t.hostname, t.state, t.exitCode])).toEqual([
      ['node-000', 'succeeded', 0],
      ['node-002', 'sent', null],
    ]);
    expect(kit.warnings).toEqual([
      'a host reported on a run it is not a target of; ignored',
      'ignored a malformed run report from a host',
      'ignored a malformed run report from a host',
    ]);
  });

  it('keeps 1 MiB (here 10 bytes) of output per host, then one truncation marker; re-sent chunks are dropped', async () => {
    kit = await runKit(1, { service: { outputLimitBytes: 10 } });
    const { id } = await kit.service.submit({ command: kit.command() }, 'a');
    const out = (chunk: number, data: string, stream = 'stdout') => kit!.report(nodeId(0), 'run-output', { runId: id, stream, chunk, data });
    out(0, 'abcdef');
    out(0, 'abcdef'); // again after a reconnect
    out(0, 'e1', 'stderr');
    out(1, 'ghijkl');
    out(2, 'mnop');
    kit.result(nodeId(0), id, { outputBytes: 18 });
    const items = (await kit.service.output({ runId: id })).items;
    expect(items.map((o) => [o.stream, o.chunk, o.data])).toEqual([
      ['stdout', 0, 'abcdef'],
      ['stderr', 0, 'e1'],
      ['stdout', 1, 'gh'],
      ['truncated', 0, 'output truncated: this host sent more than 10 bytes; the rest is counted, not kept'],
    ]);
    const t = (await kit.service.get(id)).targets![0]!;
    expect(t.truncated).toBe(true);
    expect(t.outputBytes).toBe(18);
    expect(kit.events.filter((e) => e.type === 'run' && e.change === 'output')).toHaveLength(4);
  });
});

describe('batches, parallelism and the failure threshold', () => {
  it('rolls out batch by batch: the next batch starts when the current one is over', async () => {
    kit = await runKit(5);
    const { id } = await kit.service.submit({ command: kit.command(), batch: { batchSize: 2 } }, 'a');
    expect(kit.gateway.to('command')).toEqual([nodeId(0), nodeId(1)]);
    kit.result(nodeId(0), id);
    expect(kit.gateway.to('command')).toHaveLength(2);
    kit.result(nodeId(1), id, { exitCode: 1 });
    expect(kit.gateway.to('command')).toEqual([nodeId(0), nodeId(1), nodeId(2), nodeId(3)]);
    kit.result(nodeId(2), id);
    kit.result(nodeId(3), id);
    expect(kit.gateway.to('command')).toHaveLength(5);
    kit.result(nodeId(4), id);
    const view = await kit.service.get(id);
    expect(view.targets!.map((t) => t.batch)).toEqual([0, 0, 1, 1, 2]);
    expect(view.state).toBe('partial');
  });

  it('takes a batch size in percent (rounded up)', async () => {
    kit = await runKit(5);
    await kit.service.submit({ command: kit.command(), batch: { batchSize: '25%' } }, 'a');
    expect(kit.gateway.to('command')).toEqual([nodeId(0), nodeId(1)]);
  });

  it('keeps at most maxParallel hosts working, starting the next as one finishes', async () => {
    kit = await runKit(5);
    const { id } = await kit.service.submit({ command: kit.command(), batch: { maxParallel: 2 } }, 'a');
    expect(kit.gateway.to('command')).toEqual([nodeId(0), nodeId(1)]);
    started(kit, 0, id);
    expect(kit.gateway.to('command')).toHaveLength(2);
    kit.result(nodeId(0), id);
    expect(kit.gateway.to('command')).toEqual([nodeId(0), nodeId(1), nodeId(2)]);
  });

  it('stops starting hosts once failures pass the threshold: the rest are canceled, running ones finish', async () => {
    kit = await runKit(6);
    const { id } = await kit.service.submit({ command: kit.command(), batch: { batchSize: 2, failureThreshold: 1 } }, 'a');
    kit.result(nodeId(0), id, { exitCode: 1 }); // 1 failure: allowed
    kit.result(nodeId(1), id);
    expect(kit.gateway.to('command')).toEqual([nodeId(0), nodeId(1), nodeId(2), nodeId(3)]);
    kit.result(nodeId(2), id, { exitCode: 1 }); // 2 failures: over the threshold
    expect(kit.gateway.to('command')).toHaveLength(4);
    let view = await kit.service.get(id);
    expect(view.targets!.map((t) => t.state)).toEqual(['failed', 'succeeded', 'failed', 'sent', 'canceled', 'canceled']);
    expect(view.targets![4]!.reason).toBe('failure threshold reached');
    expect(view.state).toBe('running'); // node 3 still works
    kit.result(nodeId(3), id);
    view = await kit.service.get(id);
    expect(view.state).toBe('partial');
    expect(view.reason).toBe('failure threshold reached: 2 hosts did not succeed (allowed 1)');
  });

  it('takes the threshold in percent (rounded down): 20% of 6 allows 1 failure', async () => {
    kit = await runKit(6);
    const { id } = await kit.service.submit({ command: kit.command(), batch: { maxParallel: 1, failureThreshold: '20%' } }, 'a');
    kit.result(nodeId(0), id, { exitCode: 1 });
    expect(kit.gateway.to('command')).toHaveLength(2);
    kit.result(nodeId(1), id, { exitCode: 1 });
    expect(kit.gateway.to('command')).toHaveLength(2);
    expect((await kit.service.get(id)).counts).toEqual({ failed: 2, canceled: 4 });
  });
});

describe('cancel', () => {
  it('cancels queued hosts, sends cancel to working ones, and ends canceled once they report', async () => {
    kit = await runKit(4);
    const { id } = await kit.service.submit({ command: kit.command(), batch: { batchSize: 2 } }, 'a');
    started(kit, 0, id);
    const view = await kit.service.cancel(id, 'token:ops(t1)');
    expect(view.canceledBy).toBe('token:ops(t1)');
    expect(kit.gateway.to('cancel')).toEqual([nodeId(0), nodeId(1)]);
    expect(kit.gateway.sent.at(-1)!.frame).toEqual({ t: 'cancel', body: { runId: id } });
    let got = await kit.service.get(id);
    expect(got.targets!.map((t) => [t.state, t.reason])).toEqual([
      ['running', null],
      ['sent', null],
      ['canceled', 'canceled by token:ops(t1)'],
      ['canceled', 'canceled by token:ops(t1)'],
    ]);
    expect(got.state).toBe('running');
    kit.result(nodeId(0), id, { exitCode: null, signal: 'SIGTERM', canceled: true });
    kit.result(nodeId(1), id, { exitCode: null, signal: 'SIGTERM', canceled: true });
    got = await kit.service.get(id);
    expect(got.state).toBe('canceled');
    expect(kit.gateway.to('command')).toHaveLength(2);
    await expectError(kit.service.cancel(id, 'x'), 'conflict', /already finished \(canceled\)/);
    await expectError(kit.service.cancel('run-nothing', 'x'), 'not_found', /no run 'run-nothing'/);
  });

  it('a canceled run tells a host that reconnects to cancel again', async () => {
    kit = await runKit(1);
    const { id } = await kit.service.submit({ command: kit.command() }, 'a');
    started(kit, 0, id);
    kit.gateway.connected.delete(nodeId(0));
    await kit.service.cancel(id, 'a');
    expect(kit.gateway.to('cancel')).toEqual([]);
    kit.gateway.connected.add(nodeId(0));
    kit.service.onSessionReady(nodeId(0));
    expect(kit.gateway.to('cancel')).toEqual([nodeId(0)]);
  });
});
