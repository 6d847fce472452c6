import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { generateEd25519, signCapability, signCommand, verifySignedCommand, type Capability, type CommandPayload } from '@gpufleet/protocol';
import { runCli } from '../cli.js';
import { createOperatorKey, type OperatorKey } from '../keys/index.js';
import { captureIo } from '../testing/capture-io.js';
import { startFakeApi, type FakeApi } from '../testing/fake-api.js';

/** `caps grant` limits: --run-as, --env-allow, --env-none, --cwd-allow, --scripts (issue 9, item 8). */
const NOW = Date.UTC(2026, 2, 1, 12, 0, 0);
const DAY = 86_400_000;
const bob = generateEd25519();

let home: string;
let env: NodeJS.ProcessEnv;
let root: OperatorKey;
let alice: OperatorKey;
let api: FakeApi;

beforeAll(async () => {
  api = await startFakeApi({});
});
afterAll(() => api.close());
beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'gpufleet-caps-limits-'));
  env = { XDG_CONFIG_HOME: join(home, 'xdg'), GPUFLEET_KEY_PASSPHRASE: 'alice-pw' };
  root = createOperatorKey('default', { env: { ...env, GPUFLEET_KEY_PASSPHRASE: undefined }, home });
  alice = createOperatorKey('alice', { env, home, passphrase: 'alice-pw' });
});
afterEach(() => rmSync(home, { recursive: true, force: true }));

async function run(argv: string[]) {
  const io = captureIo({ env, home, cwd: home, columns: 250 });
  const code = await runCli([...argv, '--server', api.url, '--token', 'gft_t_s'], io, { now: () => NOW });
  return { code, stdout: io.stdout, stderr: io.stderr };
}

const grantToAlice = ['caps', 'grant', '--to', '', '--can', 'exec/run', '--on', '*', '--expires', '7d'];
const toAlice = () => grantToAlice.map((w) => (w === '' ? alice.did : w));

/** Whether a host (agent account 'root') would run this command of bob's under `cap`. */
function hostVerdict(cap: Capability, invoker: { did: string; privateKeyPem: string }, over: Partial<CommandPayload>) {
  const payload: CommandPayload = {
    v: 1,
    runId: 'run-limits-0001',
    nonce: 'nonce-limits-0123456789',
    issuedAt: NOW,
    ability: 'exec/run',
    target: '',
    command: { kind: 'argv', argv: ['true'] },
    env: {},
    cwd: null,
    timeoutMs: 60_000,
    runAs: null,
    invoker: invoker.did,
    capability: cap,
    ...over,
  };
  return verifySignedCommand(signCommand(payload, invoker.privateKeyPem), {
    roots: [root.did],
    now: NOW,
    isRevoked: () => false,
    hostLabels: {},
    seenNonce: () => false,
    agentUser: 'root',
  });
}

describe('caps grant: limits', () => {
  it('puts --run-as, --env-allow, --cwd-allow and --scripts in the capability; hosts enforce them', async () => {
    const r = await run([
      ...toAlice(),
      '--run-as',
      'root,ubuntu',
      '--env-allow',
      'HF_*',
      '--env-allow',
      'CUDA_VISIBLE_DEVICES',
      '--cwd-allow',
      '/srv/jobs,/srv/jobs/*',
      '--scripts',
      'root-signed',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const cap = JSON.parse(r.stdout) as Capability;
    expect(cap.limits).toEqual({ runAs: ['root', 'ubuntu'], env: ['HF_*', 'CUDA_VISIBLE_DEVICES'], cwd: ['/srv/jobs', '/srv/jobs/*'], scripts: 'root-signed' });
    expect(r.stderr).toContain('[run as root|ubuntu; env HF_*|CUDA_VISIBLE_DEVICES; cwd /srv/jobs|/srv/jobs/*; root-signed scripts only]');
    const aliceKey = { did: alice.did, privateKeyPem: alice.privateKeyPem };
    expect(hostVerdict(cap, aliceKey, { runAs: 'ubuntu', cwd: '/srv/jobs/a', env: { HF_HOME: '/x' } })).toEqual({ ok: true });
    expect(hostVerdict(cap, aliceKey, { runAs: 'ubuntu', cwd: '/srv/jobs', env: { PATH: '/tmp' } })).toMatchObject({
      ok: false,
      reason: 'constraint_violated',
    });
    expect(hostVerdict(cap, aliceKey, { runAs: 'ubuntu', cwd: '/srv' })).toMatchObject({ ok: false, reason: 'constraint_violated' });
  });

  it('--scripts root-signed with exec/run says that exec/run still runs anything; with exec/script alone it does not', async () => {
    const withRun = await run([...toAlice(), '--scripts', 'root-signed']);
    expect(withRun.code, withRun.stderr).toBe(0);
    expect(withRun.stderr).toContain('with exec/run the holder can still run any command');
    const scriptOnly = await run(['caps', 'grant', '--to', alice.did, '--can', 'exec/script', '--on', '*', '--expires', '7d', '--scripts', 'root-signed']);
    expect(scriptOnly.code, scriptOnly.stderr).toBe(0);
    expect(scriptOnly.stderr).not.toContain('note:');
  });

  it('--env-none allows no variables at all', async () => {
    const r = await run([...toAlice(), '--env-none']);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as Capability).limits).toEqual({ env: [] });
  });

  it('without limit flags the capability has no limits field (old hosts and signatures unchanged)', async () => {
    const r = await run(toAlice());
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).not.toHaveProperty('limits');
  });

  it.each([
    [['--run-as', 'bad user'], /--run-as: a user name pattern/],
    [['--run-as', 'root,,ubuntu'], /--run-as has an empty entry/],
    [['--env-allow', 'HF-TOKEN'], /--env-allow: an env name pattern/],
    [['--cwd-allow', 'srv/jobs'], /--cwd-allow: a cwd pattern is an absolute path/],
    [['--scripts', 'any'], /--scripts 'any' is not known/],
    [['--env-allow', 'A', '--env-none'], /not both/],
  ])('refuses garbage %j before unlocking a key', async (extra, pattern) => {
    const r = await run([...toAlice(), ...extra]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(pattern);
    expect(r.stdout).toBe('');
  });

  it('--from-cap carries the parent limits over and refuses a broader child', async () => {
    const parent = signCapability(
      {
        v: 1,
        iss: root.did,
        aud: alice.did,
        can: ['exec/run'],
        on: '*',
        nbf: NOW - DAY,
        exp: NOW + 7 * DAY,
        nonce: 'alice-limits-nonce',
        prf: [],
        limits: { runAs: ['ubuntu'], env: ['HF_*'] },
      },
      root.privateKeyPem,
    );
    writeFileSync(join(home, 'alice.cap.json'), JSON.stringify(parent));
    const base = ['caps', 'grant', '--key', 'alice', '--from-cap', 'alice.cap.json', '--to', bob.did, '--can', 'exec/run'];
    const kept = await run(base);
    expect(kept.code, kept.stderr).toBe(0);
    expect((JSON.parse(kept.stdout) as Capability).limits).toEqual({ runAs: ['ubuntu'], env: ['HF_*'] });
    const narrower = await run([...base, '--env-allow', 'HF_TOKEN', '--cwd-allow', '/srv/*']);
    expect(narrower.code, narrower.stderr).toBe(0);
    expect((JSON.parse(narrower.stdout) as Capability).limits).toEqual({ runAs: ['ubuntu'], env: ['HF_TOKEN'], cwd: ['/srv/*'] });
    const broader = await run([...base, '--run-as', 'ubuntu,root']);
    expect(broader.code).toBe(2);
    expect(broader.stderr).toMatch(/allows runAs 'root'.*may only narrow/);
  });

  it('--help names the limit flags', async () => {
    const r = await run(['caps', 'grant', '--help']);
    for (const flag of ['--run-as <users>', '--env-allow <names>', '--env-none', '--cwd-allow <dirs>', '--scripts <rule>']) expect(r.stdout).toContain(flag);
  });
});
