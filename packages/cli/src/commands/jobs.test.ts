import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { generateEd25519, parseJobFile, signCapability, verifySignedJob, type AllocationView, type JobDetailView, type SignedJob } from '@gpufleet/protocol';
import { runCli } from '../cli.js';
import { createOperatorKey } from '../keys/index.js';
import { captureIo, type CaptureOptions, type CapturedIo } from '../testing/capture-io.js';
import { allocOf, FakeWorkloadApi, jobOf, planOf, specOf } from '../testing/fake-workload-api.js';

const NOW = Date.UTC(2025, 5, 1, 12, 5, 0);
let home: string;
let did: string;
let api: FakeWorkloadApi;

const JOB_FILE = `name: llama
allocations:
  web:
    count: 4
    image: ghcr.io/example/vllm:0.6
    resources: { gpus: 1, gpu_memory_min: 40GiB }
`;

beforeAll(() => {
  home = mkdtempSync(join(tmpdir(), 'gpufleet-jobs-'));
  did = createOperatorKey('default', { home, env: {} }).did;
  writeFileSync(join(home, 'llama.yaml'), JOB_FILE);
  writeFileSync(join(home, 'bad.yaml'), JOB_FILE.replace('40GiB', '40Gb'));
  writeFileSync(join(home, 'huge.yaml'), `${JOB_FILE}#${'x'.repeat(1_048_576 - JOB_FILE.length - 1)}\n`);
});
afterAll(() => rmSync(home, { recursive: true, force: true }));
beforeEach(async () => {
  api = await new FakeWorkloadApi().start();
});
afterEach(() => api.close());

async function run(argv: string[], opts: CaptureOptions = {}, io: CapturedIo = captureIo({ home, cwd: home, columns: 200, ...opts })) {
  const code = await runCli(['--server', api.url, '--token', 'gft_t_s', ...argv], io, { now: () => NOW });
  return { code, stdout: io.stdout, stderr: io.stderr, io };
}

const submitted = () => api.requests.find((r) => r.method === 'POST' && r.path === '/api/v1/jobs')?.body as { signed: SignedJob; source: string } | undefined;
const gets = () => api.requests.filter((r) => r.method === 'GET' && r.path === '/api/v1/jobs/llama').length;

/** The server accepts the job with `plan` and answers each GET of the job with the next view (the last repeats). */
function serveJob(views: JobDetailView[], plan = planOf(), created = true) {
  api.json.set('POST /api/v1/jobs', () => ({ status: created ? 201 : 200, body: { job: views[0], created, plan } }));
  let n = 0;
  api.json.set('GET /api/v1/jobs/llama', () => ({ body: views[Math.min(++n, views.length - 1)] }));
}

const up = (i: number, over: Partial<AllocationView> = {}) => allocOf(i, { status: 'running', ...over });
const pending = (i: number) => allocOf(i, { status: 'pending' });

describe('gpufleet jobs run', () => {
  it('signs the parsed file with the operator key, submits it with its source, follows it to running and exits 0', async () => {
    serveJob([
      jobOf([]),
      jobOf([pending(0), pending(1), pending(2), pending(3)]),
      jobOf([up(0), up(1), pending(2), pending(3)]),
      jobOf([up(0), up(1), up(2), up(3)]),
    ]);
    const r = await run(['jobs', 'run', 'llama.yaml', '--interval', '100ms']);
    expect(r.code).toBe(0);
    const body = submitted()!;
    expect(body.source).toBe(JOB_FILE);
    const p = body.signed.payload;
    expect(p).toMatchObject({ v: 1, issuedAt: NOW, invoker: did, capability: null });
    expect(p.job).toEqual(parseJobFile(JOB_FILE));
    expect(p.nonce).toMatch(/^[0-9a-f]{32}$/);
    // A host with this key as its root accepts it: the signature covers exactly this payload.
    expect(verifySignedJob(body.signed, { roots: [did], now: NOW, isRevoked: () => false, hostLabels: {} })).toEqual({ ok: true });
    expect(r.stderr).toContain('job llama version 1 submitted\n');
    // Not a terminal: one line per change of the progress.
    expect(r.stderr).toContain(
      'placed 0/4 · running 0/4 · failed 0\nplaced 4/4 · running 0/4 · failed 0\nplaced 4/4 · running 2/4 · failed 0\nplaced 4/4 · running 4/4 · failed 0\n',
    );
    expect(r.stderr).toContain('job llama version 1: all 4 allocations running');
    expect(r.stdout).toMatch(/^NAME\s+NODE\s+GPUS\s+STATUS\s+HEALTH\s+RESTARTS\s+AGE\n/);
    expect(r.stdout).toMatch(/web-3\s+gpu-node-04\s+0:3f2a1c3e\s+running\s+-\s+0\s+5m/);
    expect(gets()).toBe(3);
  });

  it('waits for health where the group has a check, and redraws one line on a terminal', async () => {
    const spec = specOf(2, true);
    serveJob([
      jobOf([up(0), up(1)], { desired: 2, spec }),
      jobOf([up(0, { healthy: true }), up(1, { healthy: false })], { desired: 2, spec }),
      jobOf([up(0, { healthy: true }), up(1, { healthy: true })], { desired: 2, spec }),
    ]);
    const r = await run(['jobs', 'run', 'llama.yaml', '--interval', '100ms'], { stdoutIsTty: true });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(
      '\r\u001b[Kplaced 2/2 · running 0/2 · failed 0\r\u001b[Kplaced 2/2 · running 1/2 · failed 0\r\u001b[Kplaced 2/2 · running 2/2 · failed 0\n',
    );
    expect(r.stdout).toMatch(/web-1\s+gpu-node-02\s+0:1f2a1c3e\s+running\s+healthy/);
  });

  it('exits 1 when an allocation fails, with the host reason', async () => {
    serveJob([jobOf([]), jobOf([up(0), up(1), up(2), allocOf(3, { status: 'failed', exitCode: 1, restarts: 3, message: 'exit code 1 after 3 restarts' })])]);
    const r = await run(['jobs', 'run', 'llama.yaml', '--interval', '100ms']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('placed 4/4 · running 3/4 · failed 1\n');
    expect(r.stderr).toContain('web-3 on gpu-node-04: failed: exit code 1 after 3 restarts\n');
    expect(r.stderr).toContain('error: job llama version 1: 1 of 4 allocations not running (placed 4/4 · running 3/4 · failed 1)');
  });

  it('says why allocations cannot be placed, stops once the placed ones run, and exits 1', async () => {
    const plan = planOf({
      failures: [
        {
          group: 'web',
          unplaced: 1,
          rejections: [{ reason: 'gpu_model', nodes: 3, message: '3 nodes lack free H100s' }],
          message: '3 nodes lack free H100s, 2 are cordoned',
        },
      ],
    });
    serveJob([jobOf([]), jobOf([up(0), up(1), up(2)])], plan);
    const r = await run(['jobs', 'run', 'llama.yaml', '--interval', '100ms']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('web: 1 cannot be placed: 3 nodes lack free H100s, 2 are cordoned\n');
    expect(r.stderr).toContain('placed 3/4 · running 3/4 · failed 0 · unplaced 1\n');
    expect(r.stderr).toContain('error: job llama version 1: 1 of 4 allocations not running');
  });

  it('stops following on Ctrl-C, says the job keeps going, and exits 130', async () => {
    let io: CapturedIo | null = null;
    api.json.set('POST /api/v1/jobs', () => ({ status: 201, body: { job: jobOf([pending(0)]), created: true, plan: planOf() } }));
    api.json.set('GET /api/v1/jobs/llama', () => {
      io!.interrupt();
      return { body: jobOf([pending(0)]) };
    });
    io = captureIo({ home, cwd: home, columns: 200 });
    const r = await run(['jobs', 'run', 'llama.yaml', '--interval', '100ms'], {}, io);
    expect(r.code).toBe(130);
    expect(r.stderr).toContain('error: stopped following job llama version 1; it keeps going without you: gpufleet jobs status llama');
    expect(api.requests.some((q) => q.path.endsWith('/stop'))).toBe(false);
  });

  it.each([
    ['the job was stopped', { status: 'stopped' as const }, 'error: job llama version 1 was stopped'],
    ['a newer version came', { version: 2 }, 'error: job llama version 1 was replaced by version 2'],
    [
      'the update was reverted',
      {
        deployment: {
          fromVersion: 1,
          toVersion: 1,
          state: 'reverted' as const,
          canaries: 1,
          placed: 1,
          healthy: 0,
          message: 'canary not healthy',
          startedAt: '',
          finishedAt: null,
        },
      },
      'error: job llama version 1 was reverted to version 1: canary not healthy',
    ],
  ])('ends with exit 1 when %s', async (_what, over, message) => {
    serveJob([jobOf([pending(0)]), jobOf([pending(0)], over)]);
    const r = await run(['jobs', 'run', 'llama.yaml', '--interval', '100ms']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(message);
  });

  it('follows the replacement of an allocation that failed, not the failed one', async () => {
    const failed = allocOf(1, {
      id: 'alloc_web1_first00',
      status: 'failed',
      desired: 'stop',
      replacedBy: 'alloc_web1_second0',
      createdAt: '2025-06-01T12:00:00.000Z',
    });
    const again = (status: AllocationView['status']) =>
      allocOf(1, { id: 'alloc_web1_second0', status, replaces: failed.id, createdAt: '2025-06-01T12:01:00.000Z' });
    serveJob([jobOf([up(0), failed, again('pending')], { desired: 2 }), jobOf([up(0), failed, again('running')], { desired: 2 })]);
    const r = await run(['jobs', 'run', 'llama.yaml', '--interval', '100ms']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('placed 2/2 · running 1/2 · failed 0\nplaced 2/2 · running 2/2 · failed 0\n');
  });

  it('counts a batch allocation that completed as done, and one that exited otherwise as failed', async () => {
    const done = (i: number) => allocOf(i, { status: 'complete', exitCode: 0 });
    serveJob([jobOf([pending(0), pending(1)], { kind: 'batch', desired: 2 }), jobOf([done(0), done(1)], { kind: 'batch', desired: 2 })]);
    const ok = await run(['jobs', 'run', 'llama.yaml', '--interval', '100ms']);
    expect(ok.code).toBe(0);
    expect(ok.stderr).toContain('job llama version 1: all 2 allocations running or complete');
    // A service is restarted on any exit: one that reads complete is not running.
    serveJob([jobOf([pending(0), pending(1)], { desired: 2 }), jobOf([done(0), up(1)], { desired: 2 })]);
    const service = await run(['jobs', 'run', 'llama.yaml', '--interval', '100ms']);
    expect(service.code).toBe(1);
    expect(service.stderr).toContain('placed 2/2 · running 1/2 · failed 1');
  });

  it('says so when the file is already the current version, and returns at once when it runs', async () => {
    serveJob([jobOf([up(0), up(1), up(2), up(3)])], planOf({ unchanged: 4 }), false);
    const r = await run(['jobs', 'run', 'llama.yaml']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('job llama version 1 unchanged (this spec is already the current version)');
    expect(gets()).toBe(0);
  });

  it('--detach prints the name and version (or the reply as JSON) without following', async () => {
    serveJob([jobOf([])]);
    const r = await run(['jobs', 'run', 'llama.yaml', '--detach']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('llama 1\n');
    expect(gets()).toBe(0);
    const j = await run(['jobs', 'run', 'llama.yaml', '--detach', '-o', 'json']);
    expect(JSON.parse(j.stdout)).toMatchObject({ created: true, job: { name: 'llama', version: 1 }, plan: { job: 'llama' } });
  });

  it('-o json prints the final job with how following ended', async () => {
    serveJob([jobOf([]), jobOf([up(0), up(1), up(2), up(3)])]);
    const r = await run(['jobs', 'run', 'llama.yaml', '-o', 'json', '--interval', '100ms']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.outcome).toBe('running');
    expect(out.job.allocations).toHaveLength(4);
    expect(r.stderr).toBe('');
  });

  it('signs with a capability granting workload/run, and refuses one that does not or is not yours (exit 2, nothing sent)', async () => {
    const root = generateEd25519();
    const grant = (can: ['workload/run'] | ['exec/run'], aud = did) =>
      signCapability(
        { v: 1, iss: root.did, aud, can, on: '*', nbf: NOW - 1000, exp: NOW + 86_400_000, nonce: `n-${can[0]}-${aud.slice(-6)}`, prf: [] },
        root.privateKeyPem,
      );
    const good = grant(['workload/run']);
    writeFileSync(join(home, 'good.cap.json'), JSON.stringify({ capability: good }));
    writeFileSync(join(home, 'exec.cap.json'), JSON.stringify(grant(['exec/run'])));
    writeFileSync(join(home, 'other.cap.json'), JSON.stringify(grant(['workload/run'], generateEd25519().did)));
    serveJob([jobOf([up(0), up(1), up(2), up(3)])]);
    const r = await run(['jobs', 'run', 'llama.yaml', '--cap', 'good.cap.json', '--detach']);
    expect(r.code).toBe(0);
    expect(submitted()!.signed.payload.capability).toEqual(good);
    expect(verifySignedJob(submitted()!.signed, { roots: [root.did], now: NOW, isRevoked: () => false, hostLabels: {} })).toEqual({ ok: true });

    api.requests.length = 0;
    const exec = await run(['jobs', 'run', 'llama.yaml', '--cap', 'exec.cap.json']);
    expect(exec.code).toBe(2);
    expect(exec.stderr).toContain('error: --cap exec.cap.json grants exec/run, not workload/run: hosts would refuse the job');
    const other = await run(['jobs', 'run', 'llama.yaml', '--cap', 'other.cap.json']);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/error: --cap other.cap.json was granted to did:key:\S+, not to your key/);
    expect(submitted()).toBeUndefined();
  });

  it.each([
    [['jobs', 'run', 'bad.yaml'], "error: bad.yaml:6:43: allocations.web.resources.gpu_memory_min: '40Gb' is not a size such as 40GiB or 512MiB"],
    [['jobs', 'run', 'missing.yaml'], 'error: cannot read job file missing.yaml: no such file'],
    [['jobs', 'run', '.'], 'error: . is a folder, not a job file'],
    [['jobs', 'run', 'huge.yaml'], 'error: huge.yaml is 1048577 bytes; a job file is at most 1 MiB'],
    [['jobs', 'run', 'llama.yaml', '--interval', '5ms'], "error: --interval '5ms' must be from 100ms to 1m"],
    [['jobs', 'run', 'llama.yaml', '--interval', 'soon'], "error: --interval 'soon' is not a duration"],
    [['jobs', 'run', 'llama.yaml', '--cap', 'nope.json'], 'error: cannot read --cap nope.json: ENOENT'],
    [['jobs', 'run', 'llama.yaml', '--replicas', '3'], "error: unknown option '--replicas'"],
    [['jobs', 'run'], "error: missing required argument 'file'"],
  ])('refuses %j before sending anything (exit 2)', async (argv, message) => {
    const r = await run(argv);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    expect(api.requests).toHaveLength(0);
  });

  it('reads the file from stdin with -', async () => {
    serveJob([jobOf([])]);
    const r = await run(['jobs', 'run', '-', '--detach'], { stdin: JOB_FILE });
    expect(r.code).toBe(0);
    expect(submitted()!.source).toBe(JOB_FILE);
    const bad = await run(['jobs', 'run', '-'], { stdin: 'name: [' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/error: stdin:\d+:\d+: not valid YAML/);
  });

  it('says which key is missing, without sending anything', async () => {
    const r = await run(['jobs', 'run', 'llama.yaml', '--key', 'nobody']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/error: .*nobody/);
    expect(api.requests).toHaveLength(0);
  });

  it.each([
    [400, 'invalid_argument', 'job llama: the signature does not verify'],
    [403, 'permission_denied', 'the API token may not submit jobs'],
    [409, 'conflict', 'job llama is being purged'],
  ])('shows the server refusal %i clearly (exit 1)', async (status, code, message) => {
    api.json.set('POST /api/v1/jobs', () => ({ status, body: { error: { code, message } } }));
    const r = await run(['jobs', 'run', 'llama.yaml']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`error: ${message}\n`);
  });
});

describe('gpufleet jobs ls, status', () => {
  it('ls lists each job: name, status, allocations running/wanted, GPUs, version and age', async () => {
    const { allocations: _a, spec: _s, source: _src, versions: _v, deployment: _d, ...summary } = jobOf([], { version: 3, running: 3, gpus: 3 });
    api.json.set('GET /api/v1/jobs', () => ({
      body: { items: [summary, { ...summary, name: 'train', status: 'degraded', running: 1, desired: 2, gpus: 8 }] },
    }));
    const r = await run(['jobs', 'ls']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+STATUS\s+ALLOCS\s+GPUS\s+VERSION\s+AGE$/);
    expect(lines[1]).toMatch(/^llama\s+pending\s+3\/4\s+3\s+3\s+5m$/);
    expect(lines[2]).toMatch(/^train\s+degraded\s+1\/2\s+8\s+3\s+5m$/);
    const json = await run(['jobs', 'ls', '-o', 'json']);
    expect(JSON.parse(json.stdout).items).toHaveLength(2);
  });

  it('ls says when there are no jobs', async () => {
    api.json.set('GET /api/v1/jobs', () => ({ body: { items: [] } }));
    const r = await run(['jobs', 'ls']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('no jobs yet');
  });

  it('status shows the job, deployment, active allocations with GPUs and health, and versions; --all the rest', async () => {
    const old = allocOf(2, { id: 'alloc_old_00000000', status: 'lost', desired: 'stop', replacedBy: 'alloc_web2_new_0000', stopCause: 'node_lost' });
    const job = jobOf(
      [
        up(0, {
          healthy: true,
          gpus: [
            { index: 3, uuid: 'GPU-8f2a1c3e-0000', name: 'H100' },
            { index: 4, uuid: 'GPU-51d0e9aa-0000', name: 'H100' },
          ],
        }),
        up(1, { healthy: false, restarts: 2, message: 'health check failed: HTTP 503' }),
        old,
        allocOf(2, { id: 'alloc_web2_new_0000', status: 'starting', replaces: old.id }),
      ],
      {
        status: 'degraded',
        running: 2,
        gpus: 4,
        deployment: { fromVersion: null, toVersion: 1, state: 'running', canaries: 0, placed: 3, healthy: 1, message: '', startedAt: '', finishedAt: null },
      },
    );
    api.json.set('GET /api/v1/jobs/llama', () => ({ body: job }));
    const r = await run(['jobs', 'status', 'llama']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Job:         llama (service)\n');
    expect(r.stdout).toContain('Status:      degraded: 2/4 allocations running, 4 GPUs\n');
    expect(r.stdout).toMatch(/Version:\s+1 \(spec abababababab, signed by did:key:z6MkOp…AAAAAA, submitted 5m ago by token:ops\(t1\)\)/);
    expect(r.stdout).toContain('Deployment:  version 1 running: 3 placed, 1 healthy\n');
    expect(r.stdout).toContain('Allocations (1 stopped or replaced not shown: --all):\n');
    expect(r.stdout).toMatch(/ {2}NAME\s+NODE\s+GPUS\s+STATUS\s+HEALTH\s+RESTARTS\s+AGE\n/);
    expect(r.stdout).toMatch(/web-0\s+gpu-node-01\s+3:8f2a1c3e,4:51d0e9aa\s+running\s+healthy\s+0/);
    expect(r.stdout).toMatch(/web-1\s+gpu-node-02\s+0:1f2a1c3e\s+running\s+unhealthy\s+2/);
    expect(r.stdout).toMatch(/web-2\s+gpu-node-03\s+0:2f2a1c3e\s+starting/);
    expect(r.stdout).not.toContain('lost');
    expect(r.stdout).toContain('  web-1 on gpu-node-02: running: health check failed: HTTP 503\n');
    expect(r.stdout).toMatch(/Versions:\n {2}VERSION\s+STATUS\s+SPEC\s+SIGNED BY\s+SUBMITTED\n {2}\s*1\s+current\s+abababababab/);
    const all = await run(['jobs', 'status', 'llama', '--all']);
    expect(all.stdout).toMatch(/web-2\s+gpu-node-03\s+0:2f2a1c3e\s+lost/);
    const yaml = await run(['jobs', 'status', 'llama', '-o', 'yaml']);
    expect(yaml.stdout).toContain('name: llama\n');
  });

  it('status of an unknown job says so (404), and a bad name is refused before asking (exit 2)', async () => {
    api.json.set('GET /api/v1/jobs/nope', () => ({ status: 404, body: { error: { code: 'not_found', message: "no job named 'nope'" } } }));
    const r = await run(['jobs', 'status', 'nope']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("error: no job named 'nope'\n");
    const bad = await run(['jobs', 'status', 'Bad/Name']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("error: 'Bad/Name' is not a job name");
    expect(api.requests).toHaveLength(1);
  });

  it('escapes control characters a host put in a message', async () => {
    api.json.set('GET /api/v1/jobs/llama', () => ({ body: jobOf([allocOf(0, { status: 'failed', message: 'boom\u001b]52;c;ZXZpbA==\u0007\nFAKE ROW' })]) }));
    const r = await run(['jobs', 'status', 'llama']);
    expect(r.stdout).toContain('boom\\x1b]52;c;ZXZpbA==\\x07\\nFAKE ROW');
    expect(r.stdout).not.toContain('\u001b');
  });
});

describe('gpufleet jobs plan', () => {
  it('sends the file, prints where each allocation would go and exits 0 when all can be placed', async () => {
    api.json.set('POST /api/v1/jobs/plan', () => ({
      body: planOf({
        version: null,
        placements: [0, 1].map((i) => ({
          name: `web-${i}`,
          group: 'web',
          index: i,
          nodeId: `did:key:z6MkHost${i}`,
          hostname: `gpu-node-0${i + 1}`,
          gpus: [{ index: i, uuid: `GPU-${i}aaaaaaa-1111`, name: 'H100' }],
          score: 0.875 - i / 10,
        })),
      }),
    }));
    const r = await run(['jobs', 'plan', 'llama.yaml']);
    expect(r.code).toBe(0);
    expect(api.requests[0]!.body).toEqual({ source: JOB_FILE });
    expect(r.stdout).toContain('Plan for llama (a new job), 12 nodes evaluated:\n');
    expect(r.stdout).toMatch(/NAME\s+NODE\s+GPUS\s+SCORE\nweb-0\s+gpu-node-01\s+0:0aaaaaaa\s+0.88\nweb-1\s+gpu-node-02\s+1:1aaaaaaa\s+0.78\n/);
  });

  it('explains every rejection and exits 1 when something cannot be placed', async () => {
    api.json.set('POST /api/v1/jobs/plan', () => ({
      body: planOf({
        unchanged: 2,
        stops: ['web-3'],
        failures: [{ group: 'web', unplaced: 2, rejections: [], message: '3 nodes lack free H100s, 2 are cordoned, 1 fails `!spot`' }],
      }),
    }));
    const r = await run(['jobs', 'plan', 'llama.yaml']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      'nothing to place\n2 allocations unchanged\nwould stop: web-3\nweb: 2 cannot be placed: 3 nodes lack free H100s, 2 are cordoned, 1 fails `!spot`\n',
    );
    expect(r.stderr).toBe('error: 2 allocations of job llama cannot be placed\n');
  });

  it('checks the file locally first (exit 2, nothing sent), and shows a server 400', async () => {
    const bad = await run(['jobs', 'plan', 'bad.yaml']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('error: bad.yaml:6:43: allocations.web.resources.gpu_memory_min');
    expect(api.requests).toHaveLength(0);
    api.json.set('POST /api/v1/jobs/plan', () => ({
      status: 400,
      body: { error: { code: 'invalid_argument', message: 'line 3:5: allocations.web.count: must be at least 1' } },
    }));
    const r = await run(['jobs', 'plan', 'llama.yaml']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('error: line 3:5: allocations.web.count: must be at least 1\n');
  });
});

describe('gpufleet jobs stop', () => {
  const stopped = () => api.requests.filter((r) => r.method === 'POST' && r.path === '/api/v1/jobs/llama/stop');

  it('stops with --yes, sending the reason, and says how many allocations were told to stop', async () => {
    api.json.set('POST /api/v1/jobs/llama/stop', () => ({ body: jobOf([up(0, { desired: 'stop' }), up(1, { desired: 'stop' })], { status: 'stopped' }) }));
    const r = await run(['jobs', 'stop', 'llama', '--reason', 'moving', '--yes']);
    expect(r.code).toBe(0);
    expect(stopped()[0]!.body).toEqual({ reason: 'moving' });
    expect(r.stdout).toBe('job llama stopping: 2 allocations told to stop\n');
  });

  it('--purge forgets the job (204)', async () => {
    api.json.set('POST /api/v1/jobs/llama/stop', () => ({ status: 204 }));
    const r = await run(['jobs', 'stop', 'llama', '--purge', '-y']);
    expect(r.code).toBe(0);
    expect(stopped()[0]!.body).toEqual({ purge: true });
    expect(r.stdout).toBe('job llama stopped and purged\n');
  });

  it('asks on a terminal and does nothing on no; needs --yes elsewhere', async () => {
    api.json.set('GET /api/v1/jobs/llama', () => ({ body: jobOf([up(0), up(1)]) }));
    api.json.set('POST /api/v1/jobs/llama/stop', () => ({ body: jobOf([], { status: 'stopped' }) }));
    const no = await run(['jobs', 'stop', 'llama'], { stdinIsTty: true, answers: [false] });
    expect(no.code).toBe(0);
    expect(no.stderr).toContain('nothing stopped');
    expect(stopped()).toHaveLength(0);
    const yes = await run(['jobs', 'stop', 'llama'], { stdinIsTty: true, answers: [true] });
    expect(yes.code).toBe(0);
    expect(stopped()).toHaveLength(1);
    const script = await run(['jobs', 'stop', 'llama']);
    expect(script.code).toBe(2);
    expect(script.stderr).toContain('error: stopping job llama needs --yes when not run from a terminal');
    expect(stopped()).toHaveLength(1);
  });

  it('refuses a bad name or reason (exit 2) and shows a 404', async () => {
    expect((await run(['jobs', 'stop', 'LLAMA', '--yes'])).code).toBe(2);
    expect((await run(['jobs', 'stop', 'llama', '--yes', '--reason', 'x'.repeat(501)])).stderr).toContain('--reason is at most 500 characters');
    expect(api.requests).toHaveLength(0);
    api.json.set('POST /api/v1/jobs/gone/stop', () => ({ status: 404, body: { error: { code: 'not_found', message: "no job named 'gone'" } } }));
    const r = await run(['jobs', 'stop', 'gone', '--yes']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("error: no job named 'gone'\n");
  });
});
