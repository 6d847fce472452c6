import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cancelProblem, type SignedCancel } from '@gpufleet/protocol';
import { createOperatorKey } from '../keys/index.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../cli.js';
import { captureIo } from '../testing/capture-io.js';
import { FakeRunApi, runOf, targetOf } from '../testing/fake-run-api.js';

const NOW = Date.UTC(2025, 5, 1, 12, 5, 0);
let api: FakeRunApi;
beforeEach(async () => {
  api = await new FakeRunApi().start();
});
afterEach(() => api.close());

async function run(argv: string[]) {
  const io = captureIo({ columns: 200 });
  const code = await runCli(['--server', api.url, '--token', 'gft_t_s', ...argv], io, { now: () => NOW });
  return { code, stdout: io.stdout, stderr: io.stderr };
}

const done = [
  targetOf(1, { state: 'succeeded', exitCode: 0, durationMs: 850 }),
  targetOf(2, { state: 'timed_out', signal: 'SIGKILL', reason: 'killed after the 60 s timeout (SIGKILL)', durationMs: 60_000 }),
  targetOf(3, { state: 'unreachable', reason: 'the host was not connected before the deadline' }),
];
const finished = runOf('run_one', done, { state: 'partial', finishedAt: '2025-06-01T12:01:00.000Z' });

describe('gpufleet runs', () => {
  it('ls prints runs with host counts and passes the filters', async () => {
    api.json.set('GET /api/v1/runs', () => ({
      body: { items: [finished, runOf('run_two', [targetOf(1)], { command: { ...finished.command, summary: 'uptime' } })] },
    }));
    const r = await run(['runs', 'ls', '--active', '--limit', '5']);
    expect(r.code).toBe(0);
    const [head, one, two] = r.stdout.trimEnd().split('\n');
    expect(head).toMatch(/^ID\s+STATE\s+HOSTS\s+OK\s+NOT OK\s+COMMAND\s+INVOKER\s+CREATED$/);
    expect(one).toMatch(/^run_one\s+partial\s+3\s+1\s+2\s+nvidia-smi -L\s+did:key:z6MkOp…AAAAAA\s+5m ago$/);
    expect(two).toMatch(/^run_two\s+running\s+1\s+0\s+0\s+uptime/);
    expect(api.requests[0]!.query).toEqual({ limit: '5', active: 'true' });
    api.json.set('GET /api/v1/runs', () => ({ body: { items: [] } }));
    expect((await run(['runs', 'ls'])).stderr).toBe('no runs yet (start one with gpufleet exec)\n');
  });

  it('get shows who ran what and a row per host; -o json prints the run', async () => {
    api.json.set('GET /api/v1/runs/run_one', () => ({ body: finished }));
    const r = await run(['runs', 'get', 'run_one']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Run:         run_one\nState:       partial\nCommand:     nvidia-smi -L\n');
    expect(r.stdout).toContain('Capability:  none (the invoker is a fleet root)');
    expect(r.stdout).toContain('Hosts:       3: 1 succeeded, 1 timed_out, 1 unreachable');
    expect(r.stdout).toMatch(/gpu-node-01\s+succeeded\s+0\s+850ms/);
    expect(r.stdout).toMatch(/gpu-node-02\s+timed_out\s+SIGKILL\s+1m00s\s+killed after the 60 s timeout \(SIGKILL\)/);
    expect(r.stdout).toMatch(/gpu-node-03\s+unreachable\s+-\s+-\s+the host was not connected before the deadline/);
    expect(JSON.parse((await run(['runs', 'get', 'run_one', '-o', 'json'])).stdout).targets).toHaveLength(3);
    api.json.set('GET /api/v1/runs/run_nope', () => ({ status: 404, body: { error: { code: 'not_found', message: "no run 'run_nope'" } } }));
    const missing = await run(['runs', 'get', 'run_nope']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe("error: no run 'run_nope'\n");
  });

  it('logs prints every page of output with host prefixes, joining split lines; --node filters', async () => {
    api.json.set('GET /api/v1/runs/run_one', () => ({ body: finished }));
    api.json.set('GET /api/v1/runs/run_one/output', (req) => {
      const after = Number(req.query.after);
      if (after === 0) return { body: { items: [{ id: 1, nodeId: done[0]!.nodeId, stream: 'stdout', chunk: 0, data: 'line o' }], next: 1 } };
      return {
        body: {
          items: [
            { id: 2, nodeId: done[0]!.nodeId, stream: 'stdout', chunk: 1, data: 'ne\nlast without newline' },
            { id: 3, nodeId: done[1]!.nodeId, stream: 'truncated', chunk: 0, data: 'output truncated' },
          ],
          next: null,
        },
      };
    });
    const r = await run(['runs', 'logs', 'run_one']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('gpu-node-01 | line one\ngpu-node-01 | last without newline\n');
    expect(r.stderr).toBe('gpu-node-02 | [output truncated]\n');
    await run(['runs', 'logs', 'run_one', '--node', 'gpu-node-02']);
    expect(api.requests.filter((q) => q.path.endsWith('/output')).at(-1)!.query.node).toBe(done[1]!.nodeId);
    const bad = await run(['runs', 'logs', 'run_one', '--node', 'gpu-node-99']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe("error: host 'gpu-node-99' is not one of the 3 hosts of run run_one\n");
  });

  it('logs -f follows the live stream of one host', async () => {
    api.json.set('GET /api/v1/runs/run_one', () => ({ body: finished }));
    api.streams.set('GET /api/v1/runs/run_one/stream', [
      { event: 'run', data: finished },
      { event: 'output', data: { nodeId: done[0]!.nodeId, stream: 'stdout', chunk: 0, data: 'mine\n' } },
      { event: 'output', data: { nodeId: done[1]!.nodeId, stream: 'stdout', chunk: 0, data: 'not mine\n' } },
      { event: 'done', data: {} },
    ]);
    const r = await run(['runs', 'logs', 'run_one', '-f', '--node', 'gpu-node-01']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('gpu-node-01 | mine\n');
  });

  it('cancel says what happened; a finished run is a conflict', async () => {
    api.json.set('POST /api/v1/runs/run_two/cancel', () => ({
      body: runOf('run_two', [targetOf(1, { state: 'running' }), targetOf(2, { state: 'canceled' }), targetOf(3, { state: 'canceled' })]),
    }));
    const r = await run(['runs', 'cancel', 'run_two']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('canceled run run_two: 2 hosts not started, 1 still stopping\n');
    api.json.set('POST /api/v1/runs/run_one/cancel', () => ({
      status: 409,
      body: { error: { code: 'conflict', message: "run 'run_one' already finished (partial)" } },
    }));
    const again = await run(['runs', 'cancel', 'run_one']);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe("error: run 'run_one' already finished (partial)\n");
  });

  it("cancel --sign signs a cancel of exactly the run's command with the operator key and sends it along", async () => {
    const home = mkdtempSync(join(tmpdir(), 'gpufleet-runs-sign-'));
    try {
      const key = createOperatorKey('default', { home, env: {} });
      const nonce = 'n0nce-of-run-two-0123456789';
      api.json.set('GET /api/v1/runs/run_signed', () => ({
        body: runOf('run_signed', [targetOf(1, { state: 'queued' })], {
          command: { ...finished.command, nonce, issuedAt: '2025-06-01T12:04:00.000Z', timeoutMs: 60_000 },
        }),
      }));
      api.json.set('POST /api/v1/runs/run_signed/cancel', () => ({ body: runOf('run_signed', [targetOf(1, { state: 'canceled' })]) }));
      const io = captureIo({ home, columns: 200 });
      const code = await runCli(['--server', api.url, '--token', 'gft_t_s', 'runs', 'cancel', 'run_signed', '--sign'], io, { now: () => NOW });
      expect(code, io.stderr).toBe(0);
      const { signed } = api.requests.find((q) => q.method === 'POST' && q.path === '/api/v1/runs/run_signed/cancel')!.body as { signed: SignedCancel };
      expect(cancelProblem(signed)).toBeNull();
      expect(signed.payload).toEqual({
        v: 1,
        kind: 'cancel',
        runId: 'run_signed',
        nonce,
        iss: key.did,
        at: NOW,
        until: Date.parse('2025-06-01T12:04:00.000Z') + 60_000 + 60_000,
      });

      // Garbage: --key without --sign; a server view without the nonce.
      expect((await run(['runs', 'cancel', 'run_signed', '--key', 'alice'])).stderr).toBe('error: --key and --passphrase-env go with --sign\n');
      api.json.set('GET /api/v1/runs/run_signed', () => ({ body: runOf('run_signed', [targetOf(1)]) }));
      const io2 = captureIo({ home, columns: 200 });
      expect(await runCli(['--server', api.url, '--token', 'gft_t_s', 'runs', 'cancel', 'run_signed', '--sign'], io2, { now: () => NOW })).toBe(1);
      expect(io2.stderr).toMatch(/does not show run run_signed's nonce/);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
