import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  capabilityId,
  generateEd25519,
  signCapability,
  verifyCapability,
  verifyRevocation,
  type Ability,
  type Capability,
  type Revocation,
} from '@gpufleet/protocol';
import { runCli } from '../cli.js';
import { createOperatorKey, type OperatorKey } from '../keys/index.js';
import { captureIo } from '../testing/capture-io.js';
import { startFakeApi, type FakeApi } from '../testing/fake-api.js';
import { parseWhen } from './caps.js';

const NOW = Date.UTC(2026, 2, 1, 12, 0, 0);
const DAY = 86_400_000;
const host = { region: 'eu', pool: 'a' };
const bob = generateEd25519();

let home: string;
let env: NodeJS.ProcessEnv;
let root: OperatorKey;
let alice: OperatorKey;
let api: FakeApi;
let listed: unknown[] = [];

beforeAll(async () => {
  api = await startFakeApi({
    'POST /api/v1/capabilities': (req) => ({ status: 201, body: { id: capabilityId((req.body as { capability: Capability }).capability), state: 'active' } }),
    'GET /api/v1/capabilities': () => ({ body: { items: listed } }),
    'POST /api/v1/revocations': (req) => ({ status: 201, body: { id: 'rev1', revocation: (req.body as { revocation: Revocation }).revocation } }),
  });
});
afterAll(() => api.close());

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'gpufleet-caps-'));
  env = { XDG_CONFIG_HOME: join(home, 'xdg'), ALICE_PASS: 'alice-pw' };
  root = createOperatorKey('default', { env, home });
  alice = createOperatorKey('alice', { env, home, passphrase: 'alice-pw' });
  api.requests.length = 0;
  listed = [];
});
afterEach(() => rmSync(home, { recursive: true, force: true }));

async function run(argv: string[], extraEnv: NodeJS.ProcessEnv = {}) {
  const io = captureIo({ env: { ...env, ...extraEnv }, home, cwd: home, columns: 250 });
  const code = await runCli([...argv, '--server', api.url, '--token', 'gft_t_s'], io, { now: () => NOW });
  return { code, stdout: io.stdout, stderr: io.stderr };
}

function check(cap: Capability, invoker: string, ability: Ability = 'exec/run', labels: Record<string, string> = host) {
  return verifyCapability(cap, { roots: [root.did], now: NOW, isRevoked: () => false, hostLabels: labels, ability, invoker });
}

function expectUsageError(r: { code: number; stderr: string }, pattern: RegExp) {
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/^error: [^\n]+\n$/);
  expect(r.stderr).toMatch(pattern);
}

/** A root-issued capability for alice, saved where --from-cap can read it. */
function aliceCap(fields: Partial<Capability> = {}): string {
  const cap = signCapability(
    {
      v: 1,
      iss: root.did,
      aud: alice.did,
      can: ['exec/run', 'container/logs'],
      on: 'region=eu',
      nbf: NOW - DAY,
      exp: NOW + 7 * DAY,
      nonce: 'alice-cap-nonce',
      prf: [],
      ...fields,
    },
    root.privateKeyPem,
  );
  const file = join(home, 'alice.cap.json');
  writeFileSync(file, JSON.stringify(cap));
  return file;
}

describe('caps grant', () => {
  it('a root grants: prints a capability that hosts accept for the audience', async () => {
    const r = await run(['caps', 'grant', '--to', alice.did, '--can', 'exec/run,container/logs', '--on', 'region=eu', '--expires', '7d']);
    expect(r.code).toBe(0);
    const cap = JSON.parse(r.stdout) as Capability;
    expect(cap).toMatchObject({ iss: root.did, aud: alice.did, can: ['exec/run', 'container/logs'], on: 'region=eu', nbf: NOW, exp: NOW + 7 * DAY, prf: [] });
    expect(check(cap, alice.did)).toEqual({ ok: true });
    expect(check(cap, alice.did, 'container/logs')).toEqual({ ok: true });
    expect(check(cap, alice.did, 'container/restart')).toMatchObject({ reason: 'ability_not_granted' });
    expect(check(cap, alice.did, 'exec/run', { region: 'us' })).toMatchObject({ reason: 'selector_mismatch' });
    expect(r.stderr).toContain(`granted exec/run,container/logs on 'region=eu' to ${alice.did} until 2026-03-08T12:00:00.000Z; id ${capabilityId(cap)}`);
    expect(api.requests).toHaveLength(0);
  });

  it('--not-before and --expires take dates too; --out saves the capability; --publish registers it', async () => {
    const r = await run([
      'caps',
      'grant',
      '--to',
      bob.did,
      '--can',
      'node/cordon',
      '--on',
      '*',
      '--not-before',
      '1h',
      '--expires',
      '2026-04-01T00:00:00Z',
      '--out',
      'bob.json',
      '--publish',
    ]);
    expect(r.code).toBe(0);
    const cap = JSON.parse(readFileSync(join(home, 'bob.json'), 'utf8')) as Capability;
    expect(cap).toMatchObject({ nbf: NOW + 3_600_000, exp: Date.UTC(2026, 3, 1) });
    expect(r.stdout).toContain('saved to bob.json');
    expect(api.requests.map((q) => `${q.method} ${q.path}`)).toEqual(['POST /api/v1/capabilities']);
    expect(api.requests[0]!.body).toEqual({ capability: cap });
    expect(r.stderr).toContain('published to the control plane (active)');
    expect(check(cap, bob.did, 'node/cordon')).toMatchObject({ reason: 'not_yet_valid' });
  });

  it('--from-cap narrows a capability the operator holds, carrying it inline; hosts accept the chain', async () => {
    const parentFile = aliceCap();
    const r = await run([
      'caps',
      'grant',
      '--key',
      'alice',
      '--passphrase-env',
      'ALICE_PASS',
      '--from-cap',
      parentFile,
      '--to',
      bob.did,
      '--can',
      'container/logs',
      '--on',
      'region=eu,pool=a',
      '--expires',
      '1d',
    ]);
    expect(r.code).toBe(0);
    const cap = JSON.parse(r.stdout) as Capability;
    expect(cap.iss).toBe(alice.did);
    expect(cap.prf[0]).toEqual(JSON.parse(readFileSync(parentFile, 'utf8')));
    expect(check(cap, bob.did, 'container/logs')).toEqual({ ok: true });
    expect(check(cap, bob.did, 'exec/run')).toMatchObject({ reason: 'ability_not_granted' });
    expect(r.stderr).toContain('(narrowing your capability)');
  });

  it("--from-cap defaults selector and expiry to the parent's, and reads a capability as the API lists it", async () => {
    const parent = JSON.parse(readFileSync(aliceCap(), 'utf8')) as Capability;
    writeFileSync(join(home, 'view.json'), JSON.stringify({ id: capabilityId(parent), state: 'active', capability: parent }));
    const r = await run(['caps', 'grant', '--key', 'alice', '--from-cap', 'view.json', '--to', bob.did, '--can', 'exec/run'], {
      GPUFLEET_KEY_PASSPHRASE: 'alice-pw',
    });
    expect(r.code).toBe(0);
    const cap = JSON.parse(r.stdout) as Capability;
    expect(cap).toMatchObject({ on: 'region=eu', exp: parent.exp, nbf: NOW });
    expect(check(cap, bob.did)).toEqual({ ok: true });
  });

  it.each([
    [['--can', 'container/restart'], /--can container\/restart is not granted by --from-cap/],
    [['--can', 'exec/run', '--on', '*'], /--on '\*' is broader than the parent's 'region=eu'/],
    [['--can', 'exec/run', '--on', 'pool=a'], /broader than the parent's/],
    [['--can', 'exec/run', '--expires', '30d'], /is after the parent's expiry/],
    [['--can', 'exec/run', '--not-before', '2026-01-01'], /is before the parent's start/],
  ])('--from-cap refuses a child broader than its parent: %j', async (flags, pattern) => {
    const file = aliceCap();
    expectUsageError(await run(['caps', 'grant', '--key', 'alice', '--passphrase-env', 'ALICE_PASS', '--from-cap', file, '--to', bob.did, ...flags]), pattern);
  });

  it('--from-cap refuses a capability delegated to someone else, a forged one, or an expired one', async () => {
    const grantWith = (file: string) => run(['caps', 'grant', '--from-cap', file, '--to', bob.did, '--can', 'exec/run']);
    expectUsageError(await grantWith(aliceCap()), /was delegated to did:key:\S+, not to your key/);
    const forged = { ...JSON.parse(readFileSync(aliceCap({ aud: root.did }), 'utf8')), can: ['*'] };
    writeFileSync(join(home, 'forged.json'), JSON.stringify(forged));
    expectUsageError(await grantWith('forged.json'), /does not hold up \(bad_signature\)/);
    aliceCap({ aud: root.did, nbf: NOW - 3 * DAY, exp: NOW - 2 * DAY });
    expectUsageError(
      await run(['caps', 'grant', '--from-cap', 'alice.cap.json', '--to', bob.did, '--can', 'exec/run', '--expires', '1d']),
      /does not hold up \(expired\)/,
    );
    writeFileSync(join(home, 'junk.json'), '{"v":1}');
    expectUsageError(await grantWith('junk.json'), /is not a capability/);
    expectUsageError(await grantWith('missing.json'), /cannot read missing.json: ENOENT/);
  });

  it.each([
    [['--to', 'did:key:zNotAKey', '--can', 'exec/run', '--on', '*', '--expires', '1d'], /--to 'did:key:zNotAKey' is not a did:key/],
    [['--to', 'alice', '--can', 'exec/run', '--on', '*', '--expires', '1d'], /is not a did:key/],
    [['--to', bob.did, '--can', 'exec/sudo', '--on', '*', '--expires', '1d'], /unknown ability 'exec\/sudo' \(one of exec\/run, /],
    [['--to', bob.did, '--can', 'exec/run', '--on', 'region in (eu', '--expires', '1d'], /bad label selector/],
    [['--to', bob.did, '--can', 'exec/run', '--on', '*', '--expires', '2020-01-01'], /--expires 2020-01-01 is in the past/],
    [['--to', bob.did, '--can', 'exec/run', '--on', '*', '--expires', 'soon'], /--expires 'soon' is neither a duration/],
    [['--to', bob.did, '--can', 'exec/run', '--on', '*', '--expires', '1d', '--not-before', '2d'], /must come before the expiry/],
    [['--to', bob.did, '--can', 'exec/run', '--expires', '1d'], /--on is required/],
    [['--to', bob.did, '--can', 'exec/run', '--on', '*'], /--expires is required/],
    [['--can', 'exec/run', '--on', '*', '--expires', '1d'], /required option '--to <did>'/],
  ])('bad flags %j: exit 2 with one line', async (flags, pattern) => {
    expectUsageError(await run(['caps', 'grant', ...flags]), pattern);
  });

  it('a wrong passphrase stops it with one line (exit 1), and nothing is printed or published', async () => {
    const r = await run(['caps', 'grant', '--key', 'alice', '--to', bob.did, '--can', 'exec/run', '--on', '*', '--expires', '1d', '--publish'], {
      GPUFLEET_KEY_PASSPHRASE: 'wrong',
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("error: wrong passphrase for key 'alice'\n");
    expect(r.stdout).toBe('');
    expect(api.requests).toHaveLength(0);
  });
});

describe('caps ls and caps revoke', () => {
  it('ls shows registered capabilities; --to filters by audience', async () => {
    const cap = JSON.parse(readFileSync(aliceCap(), 'utf8')) as Capability;
    listed = [
      {
        id: capabilityId(cap),
        iss: cap.iss,
        aud: cap.aud,
        can: cap.can,
        on: cap.on,
        exp: new Date(cap.exp).toISOString(),
        state: 'active',
        chain: [capabilityId(cap)],
        capability: cap,
      },
    ];
    const r = await run(['caps', 'ls', '--to', alice.did]);
    expect(r.code).toBe(0);
    const [head, row] = r.stdout.trimEnd().split('\n');
    expect(head).toMatch(/^ID\s+STATE\s+AUDIENCE\s+CAN\s+ON\s+EXPIRES$/);
    expect(row).toMatch(
      new RegExp(`^${capabilityId(cap).slice(0, 12)}\\s+active\\s+${alice.did.slice(0, 16)}…\\S+\\s+exec/run,container/logs\\s+region=eu\\s+in 7d$`),
    );
    expect(api.requests[0]!.query).toEqual({ aud: alice.did });
    expectUsageError(await run(['caps', 'ls', '--to', 'nobody']), /--to 'nobody' is not a did:key/);
  });

  it('revoke ID signs a revocation a host accepts from a root, and posts it', async () => {
    const id = 'ab'.repeat(32);
    const r = await run(['caps', 'revoke', id, '--reason', 'rotated']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`revoked capability ${id}\n`);
    const rev = (api.requests[0]!.body as { revocation: Revocation }).revocation;
    expect(api.requests[0]!.path).toBe('/api/v1/revocations');
    expect(rev).toMatchObject({ target: { capability: id }, iss: root.did, at: NOW, reason: 'rotated' });
    expect(verifyRevocation(rev, [root.did])).toEqual({ ok: true });
  });

  it('revoke DID revokes a key; revoke PREFIX resolves a listed capability', async () => {
    expect((await run(['caps', 'revoke', bob.did])).stdout).toContain(`every capability issued by or to ${bob.did}`);
    expect((api.requests[0]!.body as { revocation: Revocation }).revocation.target).toEqual({ did: bob.did });
    const cap = JSON.parse(readFileSync(aliceCap(), 'utf8')) as Capability;
    listed = [{ id: capabilityId(cap), capability: cap }];
    api.requests.length = 0;
    const r = await run(['caps', 'revoke', capabilityId(cap).slice(0, 10)]);
    expect(r.code).toBe(0);
    expect(api.requests.map((q) => `${q.method} ${q.path}`)).toEqual(['GET /api/v1/capabilities', 'POST /api/v1/revocations']);
    expect((api.requests[1]!.body as { revocation: Revocation }).revocation.target).toEqual({ capability: capabilityId(cap) });
  });

  it('revoke refuses what it cannot resolve', async () => {
    expectUsageError(await run(['caps', 'revoke', 'not-an-id']), /neither a capability id .* nor a did:key/);
    listed = [{ id: `abcdef${'0'.repeat(58)}` }, { id: `abcdef${'1'.repeat(58)}` }];
    expectUsageError(await run(['caps', 'revoke', 'abcdef']), /prefix abcdef is ambiguous/);
    const none = await run(['caps', 'revoke', 'fedcba']);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^error: no registered capability id starts with fedcba/);
  });

  it('every caps command has --help with examples', async () => {
    for (const sub of [[], ['grant'], ['ls'], ['revoke']]) {
      const r = await run(['caps', ...sub, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/Examples:\n\s+gpufleet caps/);
    }
  });
});

describe('parseWhen', () => {
  it('reads durations from now and dates', () => {
    expect(parseWhen('90m', NOW, '--x')).toBe(NOW + 90 * 60_000);
    expect(parseWhen('2026-03-02', NOW, '--x')).toBe(Date.UTC(2026, 2, 2));
    expect(parseWhen('2026-03-02T01:02:03+01:00', NOW, '--x')).toBe(Date.UTC(2026, 2, 2, 0, 2, 3));
    expect(() => parseWhen('2026-13-45', NOW, '--x')).toThrow(/--x '2026-13-45'/);
    expect(() => parseWhen('-5d', NOW, '--x')).toThrow(/duration/);
  });
});
