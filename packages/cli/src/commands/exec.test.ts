import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  cancelProblem,
  commandDeadline,
  commandSigningInput,
  generateEd25519,
  signCapability,
  verifyEd25519,
  type SignedCancel,
  type SignedCommand,
} from '@gpufleet/protocol';
import { runCli } from '../cli.js';
import { captureIo, type CapturedIo } from '../testing/capture-io.js';
import { FakeRunApi, runOf, targetOf } from '../testing/fake-run-api.js';
import { createOperatorKey } from '../keys/index.js';

const NOW = Date.UTC(2025, 5, 1, 12, 0, 0);
let home: string;
let did: string;
let api: FakeRunApi;

beforeAll(() => {
  home = mkdtempSync(join(tmpdir(), 'gpufleet-exec-'));
  did = createOperatorKey('default', { home, env: {} }).did;
});
afterAll(() => rmSync(home, { recursive: true, force: true }));
beforeEach(async () => {
  api = await new FakeRunApi().start();
});
afterEach(() => api.close());

/** Wires a run whose stream plays `steps` and whose final view is `final`. */
function scriptedRun(final: ReturnType<typeof runOf>, steps: Parameters<FakeRunApi['streams']['set']>[1]) {
  api.json.set('POST /api/v1/runs', (req) => ({
    status: 201,
    body: {
      id: final.id,
      state: 'running',
      targets: final.targets!.map((t) => ({ nodeId: t.nodeId, hostname: t.hostname, batch: 0, state: 'sent' })),
      echo: req.body,
    },
  }));
  api.streams.set(`GET /api/v1/runs/${final.id}/stream`, steps);
  api.json.set(`GET /api/v1/runs/${final.id}`, () => ({ body: final }));
}

async function run(argv: string[], io: CapturedIo = captureIo({ home, columns: 200 })) {
  const code = await runCli(['--server', api.url, '--token', 'gft_t_s', ...argv], io, { now: () => NOW });
  return { code, stdout: io.stdout, stderr: io.stderr, io };
}

const submitted = () => api.requests.find((r) => r.method === 'POST' && r.path === '/api/v1/runs')?.body;

const h = [targetOf(1), targetOf(2), targetOf(3)];
const snapshot = runOf('run_abc', h);

describe('gpufleet exec', () => {
  it('signs the command locally, prints live output per host, a summary table, and exits 0 when all succeed', async () => {
    const done = h.map((t, i) => ({ ...t, state: 'succeeded' as const, exitCode: 0, durationMs: 1200 + i }));
    scriptedRun(runOf('run_abc', done, { state: 'succeeded' }), [
      { event: 'run', data: snapshot },
      { event: 'output', data: { nodeId: h[0]!.nodeId, stream: 'stdout', chunk: 0, data: 'GPU 0: H100 (UUID: GPU-1)\nGPU 1: H1' } },
      { event: 'output', data: { nodeId: h[1]!.nodeId, stream: 'stderr', chunk: 0, data: 'warning: slow\n' } },
      { event: 'output', data: { nodeId: h[0]!.nodeId, stream: 'stdout', chunk: 1, data: '00 (UUID: GPU-2)\n' } },
      ...done.map((t) => ({ event: 'target', data: t })),
      { event: 'done', data: { id: 'run_abc', state: 'succeeded' } },
    ]);
    const r = await run(['exec', '-l', 'gpu.model=H100', '--env', 'A=1', '--env', 'B=x=y', '--cwd', '/tmp', '--timeout', '90s', '--', 'nvidia-smi', '-L']);
    expect(r.code).toBe(0);
    const body = submitted();
    const p = body.command.payload;
    expect(p).toMatchObject({
      v: 1,
      target: 'gpu.model=H100',
      ability: 'exec/run',
      command: { kind: 'argv', argv: ['nvidia-smi', '-L'] },
      env: { A: '1', B: 'x=y' },
      cwd: '/tmp',
      runAs: null,
      timeoutMs: 90_000,
      invoker: did,
      capability: null,
      issuedAt: NOW,
    });
    expect(p.runId).toMatch(/^run_/);
    expect(p.nonce.length).toBeGreaterThanOrEqual(16);
    expect(verifyEd25519(did, commandSigningInput(p), body.command.sig)).toBe(true);
    expect(body.batch).toBeUndefined();
    expect(r.stdout).toContain('gpu-node-01 | GPU 0: H100 (UUID: GPU-1)\ngpu-node-01 | GPU 1: H100 (UUID: GPU-2)\n');
    expect(r.stderr).toContain('gpu-node-02 | warning: slow\n');
    expect(r.stdout).toMatch(/HOST\s+STATE\s+EXIT\s+DURATION\s+REASON\n/);
    expect(r.stdout).toMatch(/gpu-node-03\s+succeeded\s+0\s+1.2s/);
    expect(r.stderr).toContain('all 3 hosts succeeded');
    expect(r.stderr).not.toContain('[#');
  });

  it('exits 1 naming how many hosts did not succeed, with their states and reasons in the table', async () => {
    const final = [
      { ...h[0]!, state: 'succeeded' as const, exitCode: 0 },
      { ...h[1]!, state: 'failed' as const, exitCode: 3, reason: 'exit code 3' },
      { ...h[2]!, state: 'refused' as const, reason: 'expired: capability expired' },
    ];
    scriptedRun(runOf('run_abc', final, { state: 'partial' }), [
      { event: 'run', data: snapshot },
      { event: 'done', data: {} },
    ]);
    const r = await run(['exec', '-l', 'pool=a', '--', 'false']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/gpu-node-02\s+failed\s+3\s+-\s+exit code 3/);
    expect(r.stdout).toMatch(/gpu-node-03\s+refused\s+-\s+-\s+expired: capability expired/);
    expect(r.stderr).toContain('error: 2 of 3 hosts did not succeed (run run_abc)');
  });

  it('sends the batch policy, an inline shell script, the run-as user and a capability', async () => {
    const root = generateEd25519();
    const cap = signCapability(
      { v: 1, iss: root.did, aud: did, can: ['exec/run'], on: 'pool=a', nbf: NOW - 1000, exp: NOW + 86_400_000, nonce: 'capnonce1', prf: [] },
      root.privateKeyPem,
    );
    writeFileSync(join(home, 'my.cap.json'), JSON.stringify({ capability: cap }));
    scriptedRun(runOf('run_abc', [{ ...h[0]!, state: 'succeeded', exitCode: 0 }]), [{ event: 'done', data: {} }]);
    const io = captureIo({ home, columns: 200, cwd: home });
    const r = await run(
      [
        'exec',
        '-l',
        'pool=a',
        '--sh',
        'df -h | tail -1',
        '--run-as',
        'ops',
        '--max-parallel',
        '5',
        '--batch-size',
        '25%',
        '--failure-threshold',
        '2',
        '--cap',
        'my.cap.json',
      ],
      io,
    );
    expect(r.code).toBe(0);
    const body = submitted();
    expect(body.batch).toEqual({ maxParallel: 5, batchSize: '25%', failureThreshold: 2 });
    expect(body.command.payload).toMatchObject({ command: { kind: 'shell', script: 'df -h | tail -1' }, runAs: 'ops', capability: cap, ability: 'exec/run' });
  });

  it('runs a library script: resolves its version and hash, signs them', async () => {
    api.json.set('GET /api/v1/scripts/disk-check', (req) => ({
      body: { name: 'disk-check', version: Number(req.query.version ?? 4), sha256: 'c'.repeat(64) },
    }));
    scriptedRun(runOf('run_abc', [{ ...h[0]!, state: 'succeeded', exitCode: 0 }]), [{ event: 'done', data: {} }]);
    expect((await run(['exec', '-l', '*', '--script', 'disk-check@2', '--arg', '/data', '--arg', '-v'])).code).toBe(0);
    expect(api.requests.find((q) => q.path === '/api/v1/scripts/disk-check')!.query).toEqual({ version: '2' });
    expect(submitted().command.payload).toMatchObject({
      target: '*',
      ability: 'exec/script',
      command: { kind: 'script', name: 'disk-check', version: 2, sha256: 'c'.repeat(64), args: ['/data', '-v'] },
    });
  });

  it('refuses bad command lines before anything is sent (exit 2)', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['exec', '--', 'ls'], /required option '-l, --selector/],
      [['exec', '-l', 'pool=a'], /say what to run/],
      [['exec', '-l', 'pool=a', '--sh', 'ls', '--', 'ls'], /only one of/],
      [['exec', '-l', 'pool=a', '--script', 'x', '--', 'ls'], /only one of/],
      [['exec', '-l', 'pool=a', '--arg', 'x', '--', 'ls'], /--arg goes with --script/],
      [['exec', '-l', 'pool=a', '--env', 'NOEQUALS', '--', 'ls'], /--env 'NOEQUALS' must be NAME=value/],
      [['exec', '-l', 'pool=a', '--env', '1X=2', '--', 'ls'], /--env name '1X'/],
      [['exec', '-l', 'pool=a', '--timeout', 'soon', '--', 'ls'], /--timeout 'soon' is not a duration/],
      [['exec', '-l', 'pool=a', '--timeout', '30d', '--', 'ls'], /must be from 1s to 7d/],
      [['exec', '-l', 'pool=a', '--batch-size', 'half', '--', 'ls'], /--batch-size 'half' must be a whole number or a percentage/],
      [['exec', '-l', 'pool=a', '--batch-size', '0', '--', 'ls'], /at least 1 host/],
      [['exec', '-l', 'pool=a', '--failure-threshold', '120%', '--', 'ls'], /--failure-threshold '120%'/],
      [['exec', '-l', 'pool=a', '--max-parallel', '0', '--', 'ls'], /--max-parallel '0' must be a whole number/],
      [['exec', '-l', 'pool in (a', '--', 'ls'], /bad label selector/],
      [['exec', '-l', 'pool=a', '--script', 'bad name!'], /--script 'bad name!' must be NAME or NAME@VERSION/],
      [['exec', '-l', 'pool=a', '--cap', 'nope.json', '--', 'ls'], /cannot read --cap nope.json: ENOENT/],
    ];
    for (const [argv, message] of cases) {
      const r = await run(argv);
      expect({ argv, code: r.code }).toEqual({ argv, code: 2 });
      expect(r.stderr).toMatch(message);
    }
    writeFileSync(join(home, 'junk.cap'), '{"v": 2}');
    const root = generateEd25519();
    writeFileSync(
      join(home, 'other.cap'),
      JSON.stringify(
        signCapability(
          { v: 1, iss: root.did, aud: generateEd25519().did, can: ['exec/run'], on: '*', nbf: NOW, exp: NOW + 1000, nonce: 'capnonce2', prf: [] },
          root.privateKeyPem,
        ),
      ),
    );
    const junk = await run(['exec', '-l', 'pool=a', '--cap', join(home, 'junk.cap'), '--', 'ls']);
    expect(junk.stderr).toMatch(/is not a capability/);
    const other = await run(['exec', '-l', 'pool=a', '--cap', join(home, 'other.cap'), '--', 'ls']);
    expect(other.stderr).toMatch(/was granted to did:key:.*, not to your key/);
    expect(api.requests.filter((q) => q.method === 'POST')).toEqual([]);
  });

  it('says what the server refused', async () => {
    api.json.set('POST /api/v1/runs', () => ({
      status: 400,
      body: { error: { code: 'invalid_argument', message: "target 'pool=z' matches no node of the fleet" } },
    }));
    const r = await run(['exec', '-l', 'pool=z', '--', 'ls']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("error: target 'pool=z' matches no node of the fleet\n");
  });

  it('Ctrl-C cancels the run and keeps following it to the end', async () => {
    const final = h.map((t) => ({ ...t, state: 'canceled' as const, reason: 'canceled by token:ops(t1)' }));
    scriptedRun(runOf('run_abc', final, { state: 'canceled' }), [
      { event: 'run', data: snapshot },
      { waitFor: 'POST /api/v1/runs/run_abc/cancel' },
      ...final.map((t) => ({ event: 'target', data: t })),
      { event: 'done', data: {} },
    ]);
    api.json.set('POST /api/v1/runs/run_abc/cancel', () => ({ body: runOf('run_abc', final) }));
    const io = captureIo({ home, columns: 200 });
    const pending = run(['exec', '-l', 'pool=a', '--', 'sleep', '600'], io);
    await until(() => api.requests.some((q) => q.path === '/api/v1/runs/run_abc/stream'));
    io.interrupt('SIGINT');
    const r = await pending;
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('canceling run run_abc (Ctrl-C again to stop following it)');
    expect(r.stdout).toMatch(/gpu-node-01\s+canceled\s+-\s+-\s+canceled by token:ops\(t1\)/);
    // The cancel is signed with the same key, for exactly the command submitted: hosts that have not run it refuse it for good.
    const submitted = (api.requests.find((q) => q.method === 'POST' && q.path === '/api/v1/runs')!.body as { command: SignedCommand }).command;
    const { signed } = api.requests.find((q) => q.path === '/api/v1/runs/run_abc/cancel')!.body as { signed: SignedCancel };
    expect(cancelProblem(signed)).toBeNull();
    expect(signed.payload).toMatchObject({
      runId: submitted.payload.runId,
      nonce: submitted.payload.nonce,
      iss: did,
      until: commandDeadline(submitted.payload),
    });
  });

  it('a second Ctrl-C stops following (exit 130), the run goes on', async () => {
    scriptedRun(runOf('run_abc', h), [{ event: 'run', data: snapshot }, { waitFor: 'never' }]);
    api.json.set('POST /api/v1/runs/run_abc/cancel', () => ({ body: runOf('run_abc', h) }));
    const io = captureIo({ home, columns: 200 });
    const pending = run(['exec', '-l', 'pool=a', '--', 'sleep', '600'], io);
    await until(() => api.requests.some((q) => q.path === '/api/v1/runs/run_abc/stream'));
    io.interrupt('SIGINT');
    io.interrupt('SIGINT');
    const r = await pending;
    expect(r.code).toBe(130);
    expect(r.stderr).toContain('stopped following run run_abc; it goes on without you');
  });

  it('draws a progress bar on a terminal and polls when the live stream is lost', async () => {
    const done = h.map((t) => ({ ...t, state: 'succeeded' as const, exitCode: 0 }));
    scriptedRun(runOf('run_abc', done, { state: 'succeeded' }), [{ event: 'run', data: snapshot }, { event: 'target', data: done[0] }, { cut: true }]);
    const io = captureIo({ home, columns: 200, stdoutIsTty: true });
    const r = await run(['exec', '-l', 'pool=a', '--', 'true'], io);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('[..............................] 0/3 done, 0 ok, 0 not ok');
    expect(r.stderr).toContain('the live stream of run run_abc ended early; waiting for the run to finish');
    expect(api.requests.filter((q) => q.path === '/api/v1/runs/run_abc')).toHaveLength(1);
  });

  it('reconnects a stream that ended early: the replayed output is printed once, the new output too', async () => {
    const done = h.map((t) => ({ ...t, state: 'succeeded' as const, exitCode: 0 }));
    const first = { event: 'output', data: { nodeId: h[0]!.nodeId, stream: 'stdout', chunk: 0, data: 'first line\n' } };
    const second = { event: 'output', data: { nodeId: h[0]!.nodeId, stream: 'stdout', chunk: 1, data: 'second line\n' } };
    scriptedRun(runOf('run_abc', done, { state: 'succeeded' }), []);
    api.streamSequences.set('GET /api/v1/runs/run_abc/stream', [
      [{ event: 'run', data: snapshot }, first, { cut: true }],
      [{ event: 'run', data: snapshot }, first, second, ...done.map((t) => ({ event: 'target', data: t })), { event: 'done', data: {} }],
    ]);
    const r = await run(['exec', '-l', 'pool=a', '--', 'true']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('the live stream of run run_abc ended early; reconnecting');
    expect(r.stderr).not.toContain('waiting for the run to finish');
    expect(r.stdout.match(/first line/g)).toHaveLength(1);
    expect(r.stdout.match(/second line/g)).toHaveLength(1);
    expect(api.requests.filter((q) => q.path === '/api/v1/runs/run_abc/stream')).toHaveLength(2);
  });

  it('--detach prints the run id only; -o json prints the final run', async () => {
    scriptedRun(runOf('run_abc', [{ ...h[0]!, state: 'succeeded', exitCode: 0 }], { state: 'succeeded' }), [{ event: 'done', data: {} }]);
    const detached = await run(['exec', '-l', 'pool=a', '--detach', '--', 'true']);
    expect(detached.stdout).toBe('run_abc\n');
    expect(api.requests.some((q) => q.path.endsWith('/stream'))).toBe(false);
    const json = await run(['exec', '-l', 'pool=a', '-o', 'json', '--', 'true']);
    expect(JSON.parse(json.stdout)).toMatchObject({ id: 'run_abc', state: 'succeeded' });
  });
});

async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('gpufleet exec on many hosts', () => {
  it('lists only the hosts that did not succeed when there are more than 50', async () => {
    const many = Array.from({ length: 60 }, (_, i) =>
      targetOf(i + 1, { state: i === 41 ? 'failed' : 'succeeded', exitCode: i === 41 ? 7 : 0, reason: i === 41 ? 'exit code 7' : null }),
    );
    scriptedRun(runOf('run_many', many, { state: 'partial' }), [
      { event: 'run', data: runOf('run_many', many) },
      { event: 'done', data: {} },
    ]);
    const r = await run(['exec', '-l', 'pool=a', '--', 'true']);
    expect(r.code).toBe(1);
    const rows = r.stdout.trim().split('\n');
    expect(rows[0]).toMatch(/^HOST\s+STATE/);
    expect(rows[1]).toMatch(/^gpu-node-42\s+failed\s+7/);
    expect(rows[2]).toBe('(59 hosts succeeded and are not listed: gpufleet runs get run_many)');
    expect(r.stderr).toContain('error: 1 of 60 hosts did not succeed');
  });
});
