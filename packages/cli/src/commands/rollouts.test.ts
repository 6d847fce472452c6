import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { generateEd25519, signCapability, verifySignedRollout, type RolloutDetail, type SignedRollout } from '@gpufleet/protocol';
import { runCli } from '../cli.js';
import { createOperatorKey } from '../keys/index.js';
import { captureIo } from '../testing/capture-io.js';
import { startFakeApi, type FakeApi, type FakeRoute } from '../testing/fake-api.js';

const NOW = Date.UTC(2026, 11, 6, 12, 0, 0);
const SHA = 'c'.repeat(64);
const ID = 'ro-0123456789abcdef0123';
let home: string;
let did: string;
let api: FakeApi;
let routes: Record<string, FakeRoute>;

const RELEASES = {
  repository: {},
  items: [
    {
      kind: 'agent',
      name: 'gpufleet-agent',
      version: '0.3.0',
      path: 'agent/gpufleet-agent-0.3.0.tgz',
      sha256: SHA,
      length: 10,
      publishedAt: new Date(NOW).toISOString(),
    },
    {
      kind: 'bundle',
      name: 'inference',
      version: '12',
      path: 'bundles/inference/inference-12.tar',
      sha256: 'd'.repeat(64),
      length: 10,
      publishedAt: new Date(NOW).toISOString(),
    },
  ],
};

function detail(over: Partial<RolloutDetail> = {}): RolloutDetail {
  const at = new Date(NOW - 120_000).toISOString();
  return {
    id: ID,
    release: { kind: 'agent', name: 'gpufleet-agent', version: '0.3.0' },
    target: { path: 'agent/gpufleet-agent-0.3.0.tgz', sha256: SHA },
    selector: 'pool=inference',
    plan: { canary: 2, waves: [10, 50, 100], healthyForMs: 600_000, maxFailures: 1 },
    state: 'running',
    step: 1,
    steps: [
      { index: 0, name: 'canary', hosts: 2, state: 'done', startedAt: at, doneAt: at },
      { index: 1, name: 'wave 1 (10%)', hosts: 1, state: 'running', startedAt: at, doneAt: null },
    ],
    counts: { pending: 0, updating: 1, healthy: 2, failed: 0, refused: 0, rolledBack: 0, skipped: 0 },
    message: null,
    createdBy: 'token:ops',
    createdAt: at,
    updatedAt: at,
    hosts: [
      {
        nodeId: 'n1',
        hostname: 'gpu-1',
        step: 0,
        state: 'healthy',
        fromVersion: '0.2.0',
        runningVersion: '0.3.0',
        healthySince: at,
        message: null,
        updatedAt: at,
      },
      {
        nodeId: 'n2',
        hostname: 'gpu-2',
        step: 1,
        state: 'installing',
        fromVersion: '0.2.0',
        runningVersion: '0.2.0',
        healthySince: null,
        message: null,
        updatedAt: at,
      },
    ],
    ...over,
  };
}

beforeAll(() => {
  home = mkdtempSync(join(tmpdir(), 'gpufleet-rollouts-'));
  did = createOperatorKey('default', { home, env: {} }).did;
});
afterAll(() => rmSync(home, { recursive: true, force: true }));
beforeEach(async () => {
  routes = {
    'GET /api/v1/releases': () => ({ body: RELEASES }),
    'POST /api/v1/rollouts': () => ({ status: 201, body: detail() }),
    'GET /api/v1/rollouts': () => ({ body: { items: [detail()] } }),
    [`GET /api/v1/rollouts/${ID}`]: () => ({ body: detail() }),
    [`GET /api/v1/rollouts/${ID}/events`]: () => ({
      body: {
        items: [
          { id: 1, at: new Date(NOW - 60_000).toISOString(), kind: 'host-failed', nodeId: 'n2', message: 'gpu-2 failed, rolled itself back: health check' },
        ],
      },
    }),
    [`POST /api/v1/rollouts/${ID}/pause`]: () => ({ body: detail({ state: 'paused', message: 'paused by token:ops: lunch' }) }),
    [`POST /api/v1/rollouts/${ID}/resume`]: () => ({ body: detail() }),
    [`POST /api/v1/rollouts/${ID}/abort`]: () => ({ body: detail({ state: 'aborted', message: 'aborted by token:ops' }) }),
  };
  // Looked up per request: a test may change a route.
  api = await startFakeApi(routes);
});
afterEach(() => api.close());

async function run(...argv: string[]) {
  const io = captureIo({ home, cwd: home, columns: 200 });
  const code = await runCli(['--server', api.url, '--token', 'gft_t_s', ...argv], io, { now: () => NOW });
  return { code, stdout: io.stdout, stderr: io.stderr };
}

const posted = () => api.requests.find((r) => r.method === 'POST' && r.path === '/api/v1/rollouts')?.body as { rollout: SignedRollout } | undefined;

describe('gpufleet rollouts', () => {
  it('start signs the plan with the operator key for the published sha256, and a host with that root accepts it', async () => {
    const r = await run(
      'rollouts',
      'start',
      'agent@0.3.0',
      '-l',
      'pool=inference',
      '--canary',
      '2',
      '--waves',
      '10%,50%,100%',
      '--healthy-for',
      '10m',
      '--max-failures',
      '1',
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${ID}\n`);
    expect(r.stderr).toBe(`rollout ${ID} started: agent@0.3.0 to 2 hosts in 2 steps\n`);
    const p = posted()!.rollout.payload;
    expect(p).toMatchObject({
      v: 1,
      release: { kind: 'agent', name: 'gpufleet-agent', version: '0.3.0' },
      target: { path: 'agent/gpufleet-agent-0.3.0.tgz', sha256: SHA },
      selector: 'pool=inference',
      plan: { canary: 2, waves: [10, 50, 100], healthyForMs: 600_000, maxFailures: 1 },
      issuedAt: NOW,
      invoker: did,
      capability: null,
    });
    const ctx = { roots: [did], now: NOW, isRevoked: () => false, hostLabels: { pool: 'inference' }, vouches: () => true };
    expect(verifySignedRollout(posted()!.rollout, ctx)).toEqual({ ok: true });
    expect(verifySignedRollout(posted()!.rollout, { ...ctx, hostLabels: { pool: 'training' } }).ok).toBe(false);
    // A bundle by its name; json output is the server's detail.
    const b = await run('rollouts', 'start', 'inference@12', '--waves', '100', '-o', 'json');
    expect(b.code, b.stderr).toBe(0);
    expect(JSON.parse(b.stdout).id).toBe(ID);
    const last = api.requests.filter((x) => x.path === '/api/v1/rollouts' && x.method === 'POST').at(-1)!.body as { rollout: SignedRollout };
    expect(last.rollout.payload).toMatchObject({
      release: { kind: 'bundle', name: 'inference', version: '12' },
      selector: '',
      plan: { canary: 1, waves: [100] },
    });
  });

  it('refuses garbage flags before any request, and an unpublished release before signing', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['nonsense'], /'nonsense' is not a release: write agent@VERSION/],
      [['agent@'], /is not a release/],
      [['agent@0.3.0', '--waves', '50,10'], /--waves: waves are ascending percentages ending at 100/],
      [['agent@0.3.0', '--waves', '10%,50%'], /ending at 100/],
      [['agent@0.3.0', '--waves', 'ten,100'], /'ten' is not a percentage/],
      [['agent@0.3.0', '--waves', '0,100'], /--waves/],
      [['agent@0.3.0', '--canary', '-1'], /--canary '-1' must be a whole number/],
      [['agent@0.3.0', '--canary', '5000'], /--canary/],
      [['agent@0.3.0', '--max-failures', 'lots'], /--max-failures 'lots' must be a whole number/],
      [['agent@0.3.0', '--healthy-for', 'forever'], /--healthy-for 'forever' is not a duration/],
      [['agent@0.3.0', '-l', 'pool in ('], /selector/i],
      [['agent@0.3.0', '--cap', 'missing.cap.json'], /cannot read --cap missing.cap.json/],
    ];
    for (const [args, message] of cases) {
      const r = await run('rollouts', 'start', ...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(message);
    }
    expect(api.requests).toEqual([]);
    const missing = await run('rollouts', 'start', 'agent@9.9.9');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/agent@9.9.9 is not published on this server \(gpufleet releases ls\)/);
    expect(posted()).toBeUndefined();
    const root = generateEd25519();
    const grant = (can: ['release/rollout'] | ['exec/run'], aud = did) =>
      signCapability(
        { v: 1, iss: root.did, aud, can, on: '*', nbf: NOW - 1000, exp: NOW + 86_400_000, nonce: `n-${can[0]}-${aud.slice(-6)}`, prf: [] },
        root.privateKeyPem,
      );
    writeFileSync(join(home, 'exec.cap.json'), JSON.stringify(grant(['exec/run'])));
    writeFileSync(join(home, 'other.cap.json'), JSON.stringify(grant(['release/rollout'], generateEd25519().did)));
    const notMine = await run('rollouts', 'start', 'agent@0.3.0', '--cap', 'other.cap.json');
    expect(notMine.stderr).toMatch(/was granted to did:key:.*, not to your key/);
    const notRollout = await run('rollouts', 'start', 'agent@0.3.0', '--cap', 'exec.cap.json');
    expect(notRollout.stderr).toMatch(/grants exec\/run, not release\/rollout: hosts would refuse the rollout/);
    expect(posted()).toBeUndefined();
    const good = grant(['release/rollout']);
    writeFileSync(join(home, 'good.cap.json'), JSON.stringify(good));
    expect((await run('rollouts', 'start', 'agent@0.3.0', '--cap', 'good.cap.json')).code).toBe(0);
    expect(posted()!.rollout.payload.capability).toEqual(good);
    expect(verifySignedRollout(posted()!.rollout, { roots: [root.did], now: NOW, isRevoked: () => false, hostLabels: {} })).toEqual({ ok: true });
    for (const verb of ['get', 'events', 'pause', 'resume', 'abort']) {
      const r = await run('rollouts', verb, '../etc');
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/'\.\.\/etc' is not a rollout id/);
    }
  });

  it('ls, get, events, pause, resume and abort show what the server says; abort sends rollback unless --no-rollback', async () => {
    const ls = await run('rollouts', 'ls');
    expect(ls.stdout).toMatch(/^ID\s+RELEASE\s+STATE\s+STEP\s+HEALTHY\s+FAILED\s+SKIPPED\s+AGE\n/);
    expect(ls.stdout).toMatch(new RegExp(`${ID}\\s+agent@0.3.0\\s+running\\s+wave 1 \\(10%\\) \\(2/2\\)\\s+2/3\\s+0\\s+0\\s+2m`));
    const get = await run('rollouts', 'get', ID);
    expect(get.stdout).toContain(`rollout ${ID}: agent@0.3.0 running`);
    expect(get.stdout).toContain('plan      canary 2, waves 10%,50%,100%, healthy for 600s, max failures 1');
    expect(get.stdout).toMatch(/gpu-2\s+wave 1 \(10%\)\s+installing\s+0\.2\.0\s+0\.2\.0/);
    const yaml = await run('rollouts', 'get', ID, '-o', 'yaml');
    expect(yaml.stdout).toContain(`id: ${ID}`);
    const events = await run('rollouts', 'events', ID);
    expect(events.stdout).toMatch(/^WHEN\s+KIND\s+MESSAGE\n1m ago\s+host-failed\s+gpu-2 failed, rolled itself back: health check\n$/);
    const pause = await run('rollouts', 'pause', ID, '--reason', 'lunch');
    expect(pause.stdout).toContain(`rollout ${ID} paused: paused by token:ops: lunch`);
    expect(api.requests.at(-1)!.body).toEqual({ reason: 'lunch' });
    expect((await run('rollouts', 'resume', ID)).code).toBe(0);
    expect(api.requests.at(-1)!.body).toEqual({});
    await run('rollouts', 'abort', ID);
    expect(api.requests.at(-1)!.body).toEqual({ rollback: true });
    await run('rollouts', 'abort', ID, '--no-rollback');
    expect(api.requests.at(-1)!.body).toEqual({ rollback: false });
    routes[`POST /api/v1/rollouts/${ID}/pause`] = () => ({
      status: 412,
      body: { error: { code: 'failed_precondition', message: `rollout ${ID} is paused: only a running rollout can pause` } },
    });
    const again = await run('rollouts', 'pause', ID);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/only a running rollout can pause/);
  });

  it('teaches with examples in --help', async () => {
    const io = captureIo({ home, cwd: home, columns: 200 });
    await runCli(['rollouts', 'start', '--help'], io);
    expect(io.stdout).toContain('gpufleet rollouts start agent@0.3.0 -l pool=inference --canary 2 --waves 10%,50%,100% --healthy-for 10m --max-failures 1');
    const top = captureIo({ home, cwd: home, columns: 200 });
    await runCli(['rollouts', '--help'], top);
    expect(top.stdout).toMatch(/Cordoned, draining and\s+offline hosts are skipped/);
  });
});
