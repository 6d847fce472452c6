import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateEd25519, signCommand, type CommandPayload, type Ed25519KeyPair } from '@gpufleet/protocol';
import { startTestServer, type TestServer } from '../testing/test-server.js';
import { enrollTestNode, ProtocolClient } from '../testing/protocol-client.js';

/**
 * The runs service wired into the real control plane: REST submit, command frames over the agent
 * gateway, host reports through the outbox, re-delivery to a host that connects late, and cancel.
 */
let t: TestServer;
let keyA: Ed25519KeyPair;
let keyB: Ed25519KeyPair;
const operator = generateEd25519();
const clients: ProtocolClient[] = [];

beforeAll(async () => {
  t = await startTestServer();
  keyA = await enrollTestNode(t, 'wire-a');
  keyB = await enrollTestNode(t, 'wire-b');
});
afterAll(async () => {
  for (const c of clients) c.close();
  await t?.close();
});

function command(over: Partial<CommandPayload> = {}) {
  return signCommand(
    {
      v: 1,
      runId: `run-${randomBytes(6).toString('hex')}`,
      nonce: randomBytes(16).toString('hex'),
      issuedAt: Date.now(),
      ability: 'exec/run',
      target: '',
      command: { kind: 'argv', argv: ['echo', 'ok'] },
      env: {},
      cwd: null,
      timeoutMs: 30_000,
      runAs: null,
      invoker: operator.did,
      capability: null,
      ...over,
    },
    operator.privateKeyPem,
  );
}

async function connect(key: Ed25519KeyPair): Promise<ProtocolClient> {
  const c = await ProtocolClient.connect(t.url);
  clients.push(c);
  const welcome = await c.hello(key);
  expect(welcome.t).toBe('welcome');
  return c;
}

/** Sends run events through the outbox as an agent would and waits for the last ack. */
async function report(c: ProtocolClient, firstSeq: number, runId: string, items: Array<[string, Record<string, unknown>]>): Promise<number> {
  let seq = firstSeq;
  for (const [kind, data] of items) {
    c.send({
      t: 'event',
      seq,
      body: { id: `ev-${runId}-${seq}`, ts: Date.now(), kind, gpuUuid: null, pciBusId: null, message: kind, data: { runId, ...data } },
    });
    seq++;
  }
  await c.next((f) => f.t === 'ack' && f.body.seq === seq - 1);
  return seq;
}

async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 5000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
}

const result = (exitCode: number | null, extra: Record<string, unknown> = {}) => ({
  exitCode,
  signal: null,
  timedOut: false,
  canceled: false,
  durationMs: 7,
  outputBytes: 3,
  truncated: false,
  ...extra,
});

describe('runs wired into the control plane', () => {
  it('submits over REST, delivers over the gateway (late hosts when they connect) and follows the reports', async () => {
    const a = await connect(keyA);
    const cmd = command();
    const res = await t.api('POST', '/api/v1/runs', { command: cmd });
    expect(res.status).toBe(201);
    expect(res.body.targets.map((x: { hostname: string; state: string }) => [x.hostname, x.state])).toEqual([
      ['wire-a', 'sent'],
      ['wire-b', 'queued'],
    ]);
    const frame = await a.next((f) => f.t === 'command');
    expect(frame.body).toEqual({ command: cmd, scriptContent: null, scriptSignature: null });
    let seqA = await report(a, 1, cmd.payload.runId, [
      ['run-started', { pid: 42 }],
      ['run-output', { stream: 'stdout', chunk: 0, data: 'ok\n' }],
      ['run-result', result(0)],
    ]);

    // wire-b was offline at submit time: it gets the command when its session is ready.
    const b = await connect(keyB);
    expect((await b.next((f) => f.t === 'command')).body.command).toEqual(cmd);
    await report(b, 1, cmd.payload.runId, [['run-result', result(2)]]);

    const run = await until(
      () => t.api('GET', `/api/v1/runs/${cmd.payload.runId}`),
      (r) => r.body?.state !== 'running',
    );
    expect(run.body.state).toBe('partial');
    expect(run.body.targets.map((x: { hostname: string; state: string; exitCode: number | null }) => [x.hostname, x.state, x.exitCode])).toEqual([
      ['wire-a', 'succeeded', 0],
      ['wire-b', 'failed', 2],
    ]);
    const output = await t.api('GET', `/api/v1/runs/${cmd.payload.runId}/output?node=wire-a`);
    expect(output.body.items.map((o: { data: string }) => o.data)).toEqual(['ok\n']);
    expect((await t.api('GET', '/api/v1/runs')).body.items[0]).toMatchObject({ id: cmd.payload.runId, counts: { succeeded: 1, failed: 1 } });
    const audit = await t.api('GET', '/api/v1/audit?action=run.submit');
    expect(audit.body.items[0]).toMatchObject({ target: cmd.payload.runId, details: { invoker: operator.did, capabilityId: null } });

    // Cancel reaches a working host as a cancel frame; its report ends the run canceled.
    const second = command({ target: 'hostname=wire-a' });
    expect((await t.api('POST', '/api/v1/runs', { command: second })).status).toBe(201);
    await a.next((f) => f.t === 'command' && f.body.command.payload.runId === second.payload.runId);
    seqA = await report(a, seqA, second.payload.runId, [['run-started', { pid: 43 }]]);
    expect((await t.api('POST', `/api/v1/runs/${second.payload.runId}/cancel`)).status).toBe(200);
    expect((await a.next((f) => f.t === 'cancel')).body).toEqual({ runId: second.payload.runId });
    await report(a, seqA, second.payload.runId, [['run-result', result(null, { signal: 'SIGTERM', canceled: true })]]);
    const canceled = await until(
      () => t.api('GET', `/api/v1/runs/${second.payload.runId}`),
      (r) => r.body?.state !== 'running',
    );
    expect(canceled.body.state).toBe('canceled');
  });
});
