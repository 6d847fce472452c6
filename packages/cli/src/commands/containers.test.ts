import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { commandSigningInput, parseListOutput, verifyEd25519 } from '@gpufleet/protocol';
import { runCli } from '../cli.js';
import { captureIo, type CapturedIo } from '../testing/capture-io.js';
import { FakeRunApi, runOf, targetOf, type StreamStep } from '../testing/fake-run-api.js';
import { createOperatorKey } from '../keys/index.js';
import { parseContainerTarget, parseSince, parseTail } from './containers.js';

const NOW = Date.UTC(2025, 5, 1, 12, 0, 0);
let home: string;
let did: string;
let api: FakeRunApi;

beforeAll(() => {
  home = mkdtempSync(join(tmpdir(), 'gpufleet-containers-'));
  did = createOperatorKey('default', { home, env: {} }).did;
});
afterAll(() => rmSync(home, { recursive: true, force: true }));
beforeEach(async () => {
  api = await new FakeRunApi().start();
});
afterEach(() => api.close());

type Final = ReturnType<typeof runOf>;

function scriptedRun(final: Final, steps: StreamStep[]) {
  api.json.set('POST /api/v1/runs', () => ({
    status: 201,
    body: { id: final.id, state: 'running', targets: final.targets!.map((t) => ({ nodeId: t.nodeId, hostname: t.hostname, batch: 0, state: 'sent' })) },
  }));
  api.streams.set(`GET /api/v1/runs/${final.id}/stream`, steps);
  api.json.set(`GET /api/v1/runs/${final.id}`, () => ({ body: final }));
}

async function run(argv: string[], io: CapturedIo = captureIo({ home, columns: 200 })) {
  const code = await runCli(['--server', api.url, '--token', 'gft_t_s', ...argv], io, { now: () => NOW });
  return { code, stdout: io.stdout, stderr: io.stderr };
}

async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The signed command the CLI submitted, after checking its signature. */
function submittedPayload() {
  const body = api.requests.find((r) => r.method === 'POST' && r.path === '/api/v1/runs')?.body;
  expect(body, 'no run was submitted').toBeDefined();
  expect(verifyEd25519(did, commandSigningInput(body.command.payload), body.command.sig)).toBe(true);
  return body.command.payload;
}

const out = (nodeId: string, chunk: number, data: string, stream = 'stdout'): StreamStep => ({ event: 'output', data: { nodeId, stream, chunk, data } });
const line = (name: string, state = 'running') =>
  JSON.stringify({
    id: `${name}0123456789abcdef`,
    name,
    image: `${name}:1`,
    state,
    status: state === 'running' ? 'Up 2 hours' : 'Exited (0) 1 hour ago',
    created: NOW - 7_200_000,
  });

describe('gpufleet containers ls', () => {
  it('signs an ls on the selected hosts and prints one table of every host’s containers', async () => {
    const [a, b] = [targetOf(1), targetOf(2)];
    const final = runOf(
      'run_ls',
      [a, b].map((t) => ({ ...t, state: 'succeeded' as const, exitCode: 0 })),
      { state: 'succeeded' },
    );
    const vllm = `${line('vllm')}\n`;
    scriptedRun(final, [
      { event: 'run', data: runOf('run_ls', [a, b]) },
      // A JSON line split across two chunks, and chunk 0 replayed (history and live overlap).
      out(a.nodeId, 0, vllm.slice(0, 20)),
      out(b.nodeId, 0, `${line('exporter', 'exited')}\n`),
      out(a.nodeId, 0, vllm.slice(0, 20)),
      out(a.nodeId, 1, `${vllm.slice(20)}${line('caddy')}\n`),
      { event: 'done', data: {} },
    ]);
    const r = await run(['containers', 'ls', '-l', 'pool=inference', '-o', 'wide']);
    expect(r.code, r.stderr).toBe(0);
    const p = submittedPayload();
    expect(p).toMatchObject({
      ability: 'container/logs',
      target: 'pool=inference',
      command: { kind: 'container', op: 'ls', container: '*' },
      invoker: did,
      timeoutMs: 60_000,
    });
    const rows = r.stdout.trim().split('\n');
    expect(rows[0]).toMatch(/^NODE\s+NAME\s+IMAGE\s+STATE\s+STATUS\s+CREATED\s+ID$/);
    expect(rows.slice(1).map((l) => l.split(/\s{2,}/).slice(0, 4))).toEqual([
      ['gpu-node-01', 'caddy', 'caddy:1', 'running'],
      ['gpu-node-01', 'vllm', 'vllm:1', 'running'],
      ['gpu-node-02', 'exporter', 'exporter:1', 'exited'],
    ]);
    expect(rows[2]).toMatch(/Up 2 hours\s+2h ago\s+vllm01234567$/);
  });

  it('-o json gives the rows; a host that failed is named and the exit code is 1', async () => {
    const [a, b] = [targetOf(1), targetOf(2)];
    const final = runOf(
      'run_ls',
      [
        { ...a, state: 'succeeded' as const, exitCode: 0 },
        { ...b, state: 'failed' as const, exitCode: 1 },
      ],
      { state: 'partial' },
    );
    scriptedRun(final, [
      out(a.nodeId, 0, `${line('vllm')}\nnot json at all\n`),
      out(b.nodeId, 0, 'error: no container engine found on this host\n', 'stderr'),
      { event: 'done', data: {} },
    ]);
    const r = await run(['containers', 'ls', '-o', 'json']);
    expect(r.code).toBe(1);
    expect(submittedPayload().target).toBe('*');
    expect(JSON.parse(r.stdout).items.map((x: { node: string; name: string }) => `${x.node}/${x.name}`)).toEqual(['gpu-node-01/vllm']);
    expect(r.stderr).toContain('gpu-node-01: 1 line of its answer could not be read');
    expect(r.stderr).toContain('gpu-node-02: error: no container engine found on this host');
    expect(r.stderr).toContain('gpu-node-02: failed (exit 1)');
    expect(r.stderr).toContain('error: 1 of 2 hosts did not succeed (run run_ls)');
  });
});

describe('gpufleet containers logs', () => {
  const node = targetOf(7);

  it('asks the one host by hostname, with tail and since, and prints its lines as they are', async () => {
    scriptedRun(runOf('run_logs', [{ ...node, state: 'succeeded', exitCode: 0 }], { state: 'succeeded' }), [
      out(node.nodeId, 0, 'loading model\nready on :8000\n'),
      out(node.nodeId, 1, 'CUDA warning\n', 'stderr'),
      { event: 'done', data: {} },
    ]);
    const r = await run(['containers', 'logs', 'gpu-node-07/vllm', '--tail', '20', '--since', '10m']);
    expect(r.code, r.stderr).toBe(0);
    expect(submittedPayload()).toMatchObject({
      ability: 'container/logs',
      target: 'hostname=gpu-node-07',
      command: { kind: 'container', op: 'logs', container: 'vllm', tail: 20, sinceMs: NOW - 600_000 },
    });
    expect(submittedPayload().command.follow).toBeUndefined();
    expect(r.stdout).toBe('loading model\nready on :8000\n');
    expect(r.stderr).toBe('CUDA warning\n');
  });

  it('-f follows until Ctrl-C, which cancels the run and exits 0', async () => {
    const canceled = { ...node, state: 'canceled' as const, reason: 'canceled by token:ops(t1)' };
    scriptedRun(runOf('run_logs', [canceled], { state: 'canceled' }), [
      out(node.nodeId, 0, 'tick 1\n'),
      { waitFor: 'POST /api/v1/runs/run_logs/cancel' },
      { event: 'target', data: canceled },
      { event: 'done', data: {} },
    ]);
    api.json.set('POST /api/v1/runs/run_logs/cancel', () => ({ body: runOf('run_logs', [canceled]) }));
    const io = captureIo({ home, columns: 200 });
    const pending = run(['containers', 'logs', '-f', 'gpu-node-07/3f2a1b'], io);
    await until(() => io.stdout.includes('tick 1'));
    io.interrupt('SIGINT');
    const r = await pending;
    expect(r.code, r.stderr).toBe(0);
    expect(submittedPayload()).toMatchObject({ timeoutMs: 3_600_000, command: { op: 'logs', container: '3f2a1b', follow: true, tail: 100 } });
    expect(api.requests.some((q) => q.method === 'POST' && q.path === '/api/v1/runs/run_logs/cancel')).toBe(true);
  });

  it('--tail all asks for every line', async () => {
    scriptedRun(runOf('run_logs', [{ ...node, state: 'succeeded', exitCode: 0 }], { state: 'succeeded' }), [{ event: 'done', data: {} }]);
    expect((await run(['containers', 'logs', 'gpu-node-07/vllm', '--tail', 'all'])).code).toBe(0);
    expect('tail' in submittedPayload().command).toBe(false);
  });

  it('a host that refuses is named with its reason and the exit code is 1', async () => {
    const refused = { ...node, state: 'refused' as const, reason: 'ability_not_granted: container/logs is not granted' };
    scriptedRun(runOf('run_logs', [refused], { state: 'failed' }), [
      { event: 'target', data: refused },
      { event: 'done', data: {} },
    ]);
    const r = await run(['containers', 'logs', 'gpu-node-07/vllm']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('gpu-node-07: refused: ability_not_granted: container/logs is not granted\n');
  });
});

describe('gpufleet containers restart|stop|start', () => {
  const node = targetOf(3);
  it.each([
    ['restart', 'container/restart', 'restarted vllm (3f2a1b2c4d5e)'],
    ['stop', 'container/stop', 'stopped vllm (3f2a1b2c4d5e)'],
    ['start', 'container/start', 'vllm (3f2a1b2c4d5e) was already running'],
  ])('%s signs its own ability and prints the host’s result line', async (op, ability, result) => {
    scriptedRun(runOf('run_act', [{ ...node, state: 'succeeded', exitCode: 0 }], { state: 'succeeded' }), [
      out(node.nodeId, 0, `${result}\n`),
      { event: 'done', data: {} },
    ]);
    const r = await run(['containers', op, 'gpu-node-03/vllm']);
    expect(r.code, r.stderr).toBe(0);
    expect(submittedPayload()).toMatchObject({ ability, target: 'hostname=gpu-node-03', command: { kind: 'container', op, container: 'vllm' } });
    expect(r.stdout).toBe(`gpu-node-03 | ${result}\n`);
  });

  it('an unknown container fails with the host’s error line', async () => {
    scriptedRun(runOf('run_act', [{ ...node, state: 'failed', exitCode: 1 }], { state: 'failed' }), [
      out(node.nodeId, 0, 'error: no container with name or ID "nope" found: no such container\n', 'stderr'),
      { event: 'done', data: {} },
    ]);
    const r = await run(['containers', 'restart', 'gpu-node-03/nope']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('gpu-node-03 | error: no container with name or ID "nope" found: no such container\n');
    expect(r.stderr).toContain('gpu-node-03: failed (exit 1)');
  });

  it.each([
    [['containers', 'restart', 'vllm'], /must be NODE\/CONTAINER/],
    [['containers', 'restart', 'a/b/c'], /must be NODE\/CONTAINER/],
    [['containers', 'stop', 'node 1/vllm'], /must be a hostname/],
    [['containers', 'start', 'gpu-node-03/..'], /must be a container id/],
    [['containers', 'logs', 'gpu-node-03/vllm', '--tail', '-1'], /--tail '-1'/],
    [['containers', 'logs', 'gpu-node-03/vllm', '--since', 'yesterday'], /--since 'yesterday'/],
    [['containers', 'ls', '-l', 'pool in ('], /selector|expected/i],
    [['containers', 'restart', 'gpu-node-03/vllm', '--timeout', 'soon'], /--timeout 'soon'/],
  ])('refuses bad input %j before anything is sent', async (argv, message) => {
    const r = await run(argv);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(api.requests).toEqual([]);
  });
});

describe('container argument parsing', () => {
  it('parseContainerTarget gives the hostname selector', () => {
    expect(parseContainerTarget('gpu-node-07/vllm')).toEqual({ node: 'gpu-node-07', container: 'vllm', selector: 'hostname=gpu-node-07' });
    expect(parseContainerTarget('h1.example/3f2a')).toMatchObject({ selector: 'hostname=h1.example', container: '3f2a' });
    for (const bad of ['', '/', 'node/', '/vllm', 'a//b', 'node/-x']) expect(() => parseContainerTarget(bad), bad).toThrow();
  });

  it('parseSince takes a duration back from now or an ISO time', () => {
    expect(parseSince('10m', NOW)).toBe(NOW - 600_000);
    expect(parseSince('2025-06-01T11:00:00Z', NOW)).toBe(NOW - 3_600_000);
    for (const bad of ['', '10', 'soon', '-5m', '2025-13-45']) expect(() => parseSince(bad, NOW), bad).toThrow(/--since/);
  });

  it('parseTail takes a count or all', () => {
    expect(parseTail('0')).toBe(0);
    expect(parseTail('100')).toBe(100);
    expect(parseTail('all')).toBeUndefined();
    for (const bad of ['', '-1', '1.5', '100001', 'many']) expect(() => parseTail(bad), bad).toThrow(/--tail/);
  });

  it('parseListOutput keeps good lines and counts garbage', () => {
    const r = parseListOutput('n1', 'did:key:z1', `${line('a')}\n{"id":1}\n[]\n\n${line('b')}`);
    expect(r.rows.map((x) => x.name)).toEqual(['a', 'b']);
    expect(r.bad).toBe(2);
  });
});
