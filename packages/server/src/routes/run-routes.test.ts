import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { capabilityId, signCapability } from '@gpufleet/protocol';
import type { App } from '../http/app.js';
import { nodeId, operator, runKit, T0, type RunKit } from '../runs/__tests__/run-kit.js';
import { serveRunRoutes } from '../runs/__tests__/run-routes-app.js';

let kit: RunKit;
let app: App;
let url: string;
const tokens: Record<'admin' | 'operator' | 'viewer', string> = { admin: '', operator: '', viewer: '' };

beforeAll(async () => {
  kit = await runKit(3);
  const served = await serveRunRoutes(kit);
  ({ app, url } = served);
  Object.assign(tokens, served.tokens);
});
afterAll(async () => {
  await app?.close();
  await kit?.close();
});
beforeEach(() => {
  kit.gateway.sent.length = 0;
});

async function call(method: string, path: string, body?: unknown, role: keyof typeof tokens | null = 'operator') {
  const res = await app.inject({
    method: method as 'GET',
    url: path,
    headers: { ...(role ? { authorization: `Bearer ${tokens[role]}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { payload: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : null };
}

function expectError(res: { status: number; body: any }, status: number, code: string, message: RegExp) {
  expect(res.status).toBe(status);
  expect(res.body.error.code).toBe(code);
  expect(res.body.error.message).toMatch(message);
}

/** Reads an SSE response until it ends; returns its events in order. */
async function readSse(path: string, onEvent?: (name: string, data: any) => void): Promise<Array<{ event: string; data: any }>> {
  const res = await fetch(url + path, { headers: { authorization: `Bearer ${tokens.viewer}` } });
  expect(res.headers.get('content-type')).toBe('text/event-stream');
  const events: Array<{ event: string; data: any }> = [];
  const decoder = new TextDecoder();
  let text = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    text += decoder.decode(chunk, { stream: true });
    let cut: number;
    while ((cut = text.indexOf('\n\n')) >= 0) {
      const block = text.slice(0, cut);
      text = text.slice(cut + 2);
      const name = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (name && data !== undefined) {
        events.push({ event: name, data: JSON.parse(data) });
        onEvent?.(name, JSON.parse(data));
      }
    }
  }
  return events;
}

describe('POST /api/v1/runs', () => {
  it('submits a signed command: 201 with the targets, audited with the invoker and capability id', async () => {
    const cap = signCapability(
      { v: 1, iss: operator.did, aud: operator.did, can: ['exec/run'], on: 'pool=a', nbf: T0 - 1000, exp: T0 + 86_400_000, nonce: 'routecap1', prf: [] },
      operator.privateKeyPem,
    );
    const cmd = kit.command({ target: 'pool=a', capability: cap });
    const res = await call('POST', '/api/v1/runs', { command: cmd, batch: { maxParallel: 5 } });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      id: cmd.payload.runId,
      state: 'running',
      targets: [
        { nodeId: nodeId(0), hostname: 'node-000', batch: 0, state: 'sent' },
        { nodeId: nodeId(2), hostname: 'node-002', batch: 0, state: 'sent' },
      ],
    });
    expect(kit.gateway.to('command')).toEqual([nodeId(0), nodeId(2)]);
    const audit = await kit.store.listAudit({ action: 'run.submit' });
    expect(audit[0]).toMatchObject({
      actor: expect.stringMatching(/^token:operator\(/),
      target: cmd.payload.runId,
      result: 'ok',
      details: { invoker: operator.did, capabilityId: capabilityId(cap), ability: 'exec/run', target: 'pool=a', summary: 'echo ok', targets: 2 },
    });
    // One record per request: the app's hook writes it with what the route said (no second, generic one).
    expect(audit.filter((r) => r.target === cmd.payload.runId)).toHaveLength(1);
    expect(audit[0]).toMatchObject({ details: { status: 201 } });
    expect(await kit.store.listAudit({ action: 'POST /api/v1/runs' })).toEqual([]);
  });

  it('refuses a viewer (403) and a missing token (401)', async () => {
    expectError(await call('POST', '/api/v1/runs', { command: kit.command() }, 'viewer'), 403, 'permission_denied', /needs the operator role/);
    expectError(await call('POST', '/api/v1/runs', { command: kit.command() }, null), 401, 'unauthenticated', /API token is required/);
    expect(kit.gateway.sent).toEqual([]);
  });

  it('refuses garbage bodies, naming the problem', async () => {
    const good = kit.command();
    expectError(await call('POST', '/api/v1/runs', '{"command":'), 400, 'invalid_argument', /not valid JSON/);
    expectError(await call('POST', '/api/v1/runs', {}), 400, 'invalid_argument', /body field 'command'|invalid body/);
    expectError(await call('POST', '/api/v1/runs', { command: { payload: good.payload } }), 400, 'invalid_argument', /command\.sig/);
    expectError(
      await call('POST', '/api/v1/runs', { command: { ...good, payload: { ...good.payload, invoker: 'mallory' } } }),
      400,
      'invalid_argument',
      /command\.payload\.invoker/,
    );
    expectError(
      await call('POST', '/api/v1/runs', { command: { ...good, payload: { ...good.payload, env: { 'BAD-NAME': 'x' } } } }),
      400,
      'invalid_argument',
      /command\.payload\.env/,
    );
    expectError(await call('POST', '/api/v1/runs', { command: good, batch: { failureThreshold: 'many' } }), 400, 'invalid_argument', /batch\.failureThreshold/);
    expectError(
      await call('POST', '/api/v1/runs', { command: good, batch: { batchSize: '150%' } }),
      400,
      'invalid_argument',
      /batchSize '150%' must be a percentage/,
    );
    expectError(await call('POST', '/api/v1/runs', { command: kit.command({ target: 'pool=nowhere' }) }), 400, 'invalid_argument', /matches no node/);
    expect(kit.gateway.sent).toEqual([]);
  });

  it('refuses a reused runId with 409 and audits the attempt with its invoker', async () => {
    const cmd = kit.command();
    expect((await call('POST', '/api/v1/runs', { command: cmd })).status).toBe(201);
    expectError(await call('POST', '/api/v1/runs', { command: cmd }), 409, 'already_exists', /was used before/);
    const audit = await kit.store.listAudit({ action: 'run.submit' });
    expect(audit[0]).toMatchObject({
      target: cmd.payload.runId,
      result: 'error',
      details: { invoker: operator.did, capabilityId: null, error: expect.stringMatching(/was used before/) },
    });
  });
});

describe('reading runs', () => {
  it('lists runs newest first with counts, and refuses bad queries', async () => {
    kit.clock.advance(1000); // newer than the runs of the tests before
    const first = kit.command();
    await call('POST', '/api/v1/runs', { command: first });
    kit.clock.advance(1000);
    const second = kit.command({ target: 'pool=b' });
    await call('POST', '/api/v1/runs', { command: second });
    const res = await call('GET', '/api/v1/runs?limit=2', undefined, 'viewer');
    expect(res.status).toBe(200);
    expect(res.body.items.map((r: any) => [r.id, r.state, r.total, r.counts])).toEqual([
      [second.payload.runId, 'running', 1, { sent: 1 }],
      [first.payload.runId, 'running', 3, { sent: 3 }],
    ]);
    expect(res.body.items[0].targets).toBeUndefined();
    expect(res.body.items[0].command).toEqual({
      kind: 'argv',
      summary: 'echo ok',
      timeoutMs: 60_000,
      cwd: null,
      runAs: null,
      env: [],
      issuedAt: new Date(kit.clock.now()).toISOString(),
      nonce: second.payload.nonce,
    });
    const older = await call('GET', `/api/v1/runs?before=${encodeURIComponent(new Date(kit.clock.now()).toISOString())}&limit=1`, undefined, 'viewer');
    expect(older.body.items.map((r: any) => r.id)).toEqual([first.payload.runId]);
    expectError(await call('GET', '/api/v1/runs?limit=zero', undefined, 'viewer'), 400, 'invalid_argument', /querystring field 'limit'/);
    expectError(await call('GET', '/api/v1/runs?before=yesterday', undefined, 'viewer'), 400, 'invalid_argument', /'before': 'yesterday'/);
    expectError(await call('GET', '/api/v1/runs?active=maybe', undefined, 'viewer'), 400, 'invalid_argument', /querystring field 'active'/);
    expectError(await call('GET', '/api/v1/runs?colour=red', undefined, 'viewer'), 400, 'invalid_argument', /querystring/);
  });

  it('shows one run with every target, and its output; unknown runs and hosts are 404', async () => {
    const cmd = kit.command({ target: 'pool=b' });
    const { id } = (await call('POST', '/api/v1/runs', { command: cmd })).body;
    kit.report(nodeId(1), 'run-output', { runId: id, stream: 'stdout', chunk: 0, data: 'hello\n' });
    kit.report(nodeId(1), 'run-output', { runId: id, stream: 'stderr', chunk: 0, data: 'warn\n' });
    kit.result(nodeId(1), id, { exitCode: 2 });
    const run = await call('GET', `/api/v1/runs/${id}`, undefined, 'viewer');
    expect(run.status).toBe(200);
    expect(run.body).toMatchObject({
      id,
      state: 'failed',
      createdBy: expect.stringMatching(/^token:operator/),
      invoker: operator.did,
      ability: 'exec/run',
      selector: 'pool=b',
      counts: { failed: 1 },
    });
    expect(run.body.targets).toEqual([
      expect.objectContaining({
        nodeId: nodeId(1),
        hostname: 'node-001',
        state: 'failed',
        exitCode: 2,
        reason: 'exit code 2',
        outputBytes: 11,
        truncated: false,
      }),
    ]);
    const out = await call('GET', `/api/v1/runs/${id}/output?node=node-001`, undefined, 'viewer');
    expect(out.body.items.map((o: any) => [o.stream, o.chunk, o.data])).toEqual([
      ['stdout', 0, 'hello\n'],
      ['stderr', 0, 'warn\n'],
    ]);
    expect(out.body.next).toBeNull();
    const page = await call('GET', `/api/v1/runs/${id}/output?limit=1`, undefined, 'viewer');
    expect(page.body.items).toHaveLength(1);
    const rest = await call('GET', `/api/v1/runs/${id}/output?after=${page.body.next}`, undefined, 'viewer');
    expect(rest.body.items.map((o: any) => o.data)).toEqual(['warn\n']);
    expectError(await call('GET', '/api/v1/runs/run-nope', undefined, 'viewer'), 404, 'not_found', /no run 'run-nope'/);
    expectError(await call('GET', '/api/v1/runs/run-nope/output', undefined, 'viewer'), 404, 'not_found', /no run 'run-nope'/);
    expectError(await call('GET', `/api/v1/runs/${id}/output?node=ghost`, undefined, 'viewer'), 404, 'not_found', /no node 'ghost'/);
    expectError(await call('GET', `/api/v1/runs/${id}/output?after=-1`, undefined, 'viewer'), 400, 'invalid_argument', /querystring field 'after'/);
    expectError(await call('GET', `/api/v1/runs/${'x'.repeat(65)}`, undefined, 'viewer'), 400, 'invalid_argument', /params field 'id'/);
  });
});

describe('GET /api/v1/runs/{id}/stream', () => {
  it('sends the snapshot, the output so far, live changes and output, then done, and ends', async () => {
    const { id } = (await call('POST', '/api/v1/runs', { command: kit.command() })).body;
    kit.report(nodeId(0), 'run-output', { runId: id, stream: 'stdout', chunk: 0, data: 'early\n' });
    const listeners = kit.hub.size;
    let fired = false;
    const events = await readSse(`/api/v1/runs/${id}/stream`, (name) => {
      // Once the history is out, the hosts answer: live events follow on the same stream.
      if (name === 'output' && !fired) {
        fired = true;
        setTimeout(() => {
          kit.report(nodeId(0), 'run-output', { runId: id, stream: 'stdout', chunk: 0, data: 'early\n' }); // a re-sent chunk: not shown twice
          kit.report(nodeId(0), 'run-output', { runId: id, stream: 'stdout', chunk: 1, data: 'late\n' });
          for (const n of [0, 1, 2]) kit.result(nodeId(n), id);
        }, 20);
      }
    });
    expect(events[0]!.event).toBe('run');
    expect(events[0]!.data.targets.map((t: any) => t.state)).toEqual(['running', 'sent', 'sent']);
    expect(events.filter((e) => e.event === 'output').map((e) => e.data)).toEqual([
      { nodeId: nodeId(0), stream: 'stdout', chunk: 0, data: 'early\n' },
      { nodeId: nodeId(0), stream: 'stdout', chunk: 1, data: 'late\n' },
    ]);
    expect(events.filter((e) => e.event === 'target').map((e) => [e.data.hostname, e.data.state])).toEqual([
      ['node-000', 'succeeded'],
      ['node-001', 'succeeded'],
      ['node-002', 'succeeded'],
    ]);
    expect(events.at(-1)).toEqual({ event: 'done', data: expect.objectContaining({ id, state: 'succeeded', counts: { succeeded: 3 } }) });
    // The stream ended and let go of the hub.
    await new Promise((r) => setTimeout(r, 50));
    expect(kit.hub.size).toBe(listeners);
  });

  it('of a finished run: snapshot, history and done at once; unknown runs are 404', async () => {
    const { id } = (await call('POST', '/api/v1/runs', { command: kit.command({ target: 'pool=b' }) })).body;
    kit.report(nodeId(1), 'run-output', { runId: id, stream: 'stderr', chunk: 0, data: 'boom\n' });
    kit.result(nodeId(1), id, { exitCode: 1 });
    const events = await readSse(`/api/v1/runs/${id}/stream`);
    expect(events.map((e) => e.event)).toEqual(['run', 'output', 'done']);
    expect(events[2]!.data).toMatchObject({ state: 'failed' });
    const res = await fetch(`${url}/api/v1/runs/run-nope/stream`, { headers: { authorization: `Bearer ${tokens.viewer}` } });
    expect(res.status).toBe(404);
  });
});

describe('POST /api/v1/runs/{id}/cancel', () => {
  it('cancels (operator only), audits it, and says 409 the second time and 404 for unknown runs', async () => {
    const { id } = (await call('POST', '/api/v1/runs', { command: kit.command(), batch: { batchSize: 1 } })).body;
    expectError(await call('POST', `/api/v1/runs/${id}/cancel`, undefined, 'viewer'), 403, 'permission_denied', /operator role/);
    const res = await call('POST', `/api/v1/runs/${id}/cancel`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      id,
      canceledBy: expect.stringMatching(/^token:operator/),
      reason: expect.stringMatching(/^canceled by token:operator/),
      counts: { sent: 1, canceled: 2 },
    });
    expect(kit.gateway.to('cancel')).toEqual([nodeId(0)]);
    expect((await kit.store.listAudit({ action: 'run.cancel' }))[0]).toMatchObject({
      target: id,
      result: 'ok',
      details: { invoker: operator.did, capabilityId: null },
    });
    kit.result(nodeId(0), id, { exitCode: null, signal: 'SIGTERM', canceled: true });
    expectError(await call('POST', `/api/v1/runs/${id}/cancel`), 409, 'conflict', /already finished \(canceled\)/);
    expectError(await call('POST', '/api/v1/runs/run-nope/cancel'), 404, 'not_found', /no run 'run-nope'/);
    expect((await kit.store.listAudit({ action: 'run.cancel' }))[0]).toMatchObject({ target: 'run-nope', result: 'error' });
  });
});
