import { describe, expect, it } from 'vitest';
import { signCapability, verifyCapability } from './capability.js';
import { commandLimitProblem, limitPatternMatches, limitPatternNarrows, limitsNarrowProblem } from './command-limits.js';
import { generateEd25519, type Ed25519KeyPair } from './ed25519.js';
import { Capability, type CapabilityLimits, type CommandPayload } from './remote-ops.js';
import { cancelApplies, cancelProblem, signCancel, type CancelPayload } from './signed-cancel.js';
import { commandDeadline, scriptSha256, signCommand, signScript, verifySignedCommand, type SignedCommandContext } from './signed-command.js';

const NOW = Date.parse('2026-03-01T12:00:00Z');
const DAY = 86_400_000;
const root = generateEd25519();
const alice = generateEd25519();
const bob = generateEd25519();
const carol = generateEd25519();

let counter = 0;
function cap(
  by: Ed25519KeyPair,
  to: Ed25519KeyPair,
  limits?: CapabilityLimits,
  parent?: Capability,
  can: Capability['can'] = ['exec/run', 'exec/script'],
): Capability {
  return signCapability(
    {
      v: 1,
      iss: by.did,
      aud: to.did,
      can,
      on: '*',
      nbf: NOW - DAY,
      exp: NOW + DAY,
      nonce: `limits-nonce-${++counter}`,
      prf: parent ? [parent] : [],
      ...(limits ? { limits } : {}),
    },
    by.privateKeyPem,
  );
}

function payload(invoker: Ed25519KeyPair, over: Partial<CommandPayload> = {}): CommandPayload {
  return {
    v: 1,
    runId: `run-${++counter}-0000`,
    nonce: `command-nonce-${++counter}-0123456789`,
    issuedAt: NOW,
    ability: 'exec/run',
    target: '',
    command: { kind: 'argv', argv: ['true'] },
    env: {},
    cwd: null,
    timeoutMs: 60_000,
    runAs: null,
    invoker: invoker.did,
    capability: null,
    ...over,
  };
}

function ctx(over: Partial<SignedCommandContext> = {}): SignedCommandContext {
  return { roots: [root.did], now: NOW, isRevoked: () => false, hostLabels: {}, seenNonce: () => false, agentUser: 'root', ...over };
}

function verdict(invoker: Ed25519KeyPair, over: Partial<CommandPayload>, c: Partial<SignedCommandContext> = {}) {
  return verifySignedCommand(signCommand(payload(invoker, over), invoker.privateKeyPem), ctx(c));
}

describe('limit patterns', () => {
  it.each([
    ['HF_*', 'HF_TOKEN', true],
    ['HF_*', 'HF_', true],
    ['HF_*', 'XHF_TOKEN', false],
    ['ubuntu', 'ubuntu', true],
    ['ubuntu', 'ubuntu2', false],
    ['/srv/jobs/*', '/srv/jobs/a/b', true],
    ['/srv/jobs/*', '/srv/jobs', false],
    ['*', '', true],
    ['a*b*c', 'axxbyyc', true],
    ['a*b*c', 'axxbyy', false],
  ])('%s matches %s: %s', (pattern, text, ok) => {
    expect(limitPatternMatches(pattern, text)).toBe(ok);
  });

  it.each([
    ['HF_TOKEN', 'HF_*', true],
    ['HF_A*', 'HF_*', true],
    ['HF_*', 'HF_*', true],
    ['H*', 'HF_*', false],
    ['*', 'HF_*', false],
    ['/srv/jobs/a/*', '/srv/jobs/*', true],
    ['/srv/*', '/srv/jobs/*', false],
    ['ubuntu', 'ubuntu', true],
    ['ubu*', 'ubuntu', false],
  ])('%s narrows %s: %s', (child, parent, ok) => {
    expect(limitPatternNarrows(child, parent)).toBe(ok);
  });

  it('a long hostile pattern does not take long (no regex backtracking)', () => {
    const t0 = performance.now();
    expect(limitPatternMatches(`${'*a'.repeat(60)}b`, 'a'.repeat(4000))).toBe(false);
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});

describe('limitsNarrowProblem', () => {
  it('a child keeps and narrows every limit of its parent, and may add its own', () => {
    const parent: CapabilityLimits = { runAs: ['root', 'ubuntu'], env: ['HF_*'], cwd: ['/srv/jobs/*'], scripts: 'root-signed' };
    expect(limitsNarrowProblem({ runAs: ['ubuntu'], env: ['HF_TOKEN'], cwd: ['/srv/jobs/a/*'], scripts: 'root-signed' }, parent)).toBeNull();
    expect(limitsNarrowProblem({ runAs: ['ubuntu'] }, undefined)).toBeNull();
    expect(limitsNarrowProblem(undefined, parent)).toMatch(/drops its parent's runAs limit/);
    expect(limitsNarrowProblem({ ...parent, runAs: ['ubuntu', 'admin'] }, parent)).toMatch(/allows runAs 'admin'/);
    expect(limitsNarrowProblem({ ...parent, env: ['*'] }, parent)).toMatch(/allows env '\*'/);
    expect(limitsNarrowProblem({ ...parent, cwd: ['/srv/*'] }, parent)).toMatch(/allows cwd '\/srv\/\*'/);
    expect(limitsNarrowProblem({ runAs: parent.runAs, env: parent.env, cwd: parent.cwd }, parent)).toMatch(/scripts: root-signed/);
  });

  it('the schema refuses garbage limits', () => {
    const base = { v: 1, iss: root.did, aud: alice.did, can: ['exec/run'], on: '*', nbf: 0, exp: 1, nonce: 'abcdefgh', prf: [], sig: 'x' };
    for (const limits of [
      { runAs: ['bad name'] },
      { env: ['HF-TOKEN'] },
      { cwd: ['relative/dir'] },
      { scripts: 'any' },
      { cwd: ['/a\nb'] },
      { other: [] },
      { env: 'HF_*' },
    ]) {
      expect(Capability.safeParse({ ...base, limits }).success, JSON.stringify(limits)).toBe(false);
    }
    expect(Capability.safeParse({ ...base, limits: { env: [] } }).success).toBe(true);
  });
});

describe('verifyCapability: limits narrow at every link', () => {
  const rootLimits: CapabilityLimits = { runAs: ['ubuntu'], env: ['HF_*'], cwd: ['/srv/jobs/*'] };
  const check = (leaf: Capability, invoker: Ed25519KeyPair) =>
    verifyCapability(leaf, { roots: [root.did], now: NOW, isRevoked: () => false, hostLabels: {}, ability: 'exec/run', invoker: invoker.did });

  it('a chain that keeps narrowing verifies', () => {
    const a = cap(root, alice, rootLimits);
    const b = cap(alice, bob, { runAs: ['ubuntu'], env: ['HF_TOKEN'], cwd: ['/srv/jobs/x/*'] }, a);
    const c = cap(bob, carol, { runAs: ['ubuntu'], env: [], cwd: ['/srv/jobs/x/y'] }, b);
    expect(check(c, carol)).toEqual({ ok: true });
  });

  it('a broader or dropped limit at the second link is not_attenuated', () => {
    const a = cap(root, alice, rootLimits);
    expect(check(cap(alice, bob, { ...rootLimits, runAs: ['root'] }, a), bob)).toMatchObject({
      ok: false,
      reason: 'not_attenuated',
      message: expect.stringContaining("link 1 allows runAs 'root'"),
    });
    expect(check(cap(alice, bob, undefined, a), bob)).toMatchObject({ ok: false, reason: 'not_attenuated', message: expect.stringContaining('link 1 drops') });
  });

  it('a broader limit at the third link is not_attenuated, even when the second is fine', () => {
    const a = cap(root, alice, rootLimits);
    const b = cap(alice, bob, { ...rootLimits, env: ['HF_TOKEN'] }, a);
    const c = cap(bob, carol, { ...rootLimits }, b);
    expect(check(c, carol)).toMatchObject({ ok: false, reason: 'not_attenuated', message: expect.stringContaining("link 2 allows env 'HF_*'") });
  });

  it('a child that drops scripts: root-signed is not_attenuated', () => {
    const a = cap(root, alice, { scripts: 'root-signed' });
    expect(check(cap(alice, bob, {}, a), bob)).toMatchObject({ ok: false, reason: 'not_attenuated' });
    expect(check(cap(alice, bob, { scripts: 'root-signed' }, a), bob)).toEqual({ ok: true });
  });
});

describe('verifySignedCommand: limits hold on the command', () => {
  const limited = cap(root, alice, { runAs: ['ubuntu', 'svc-*'], env: ['HF_*'], cwd: ['/srv/jobs', '/srv/jobs/*'] });
  const ok = { capability: limited, runAs: 'ubuntu', cwd: '/srv/jobs/train', env: { HF_TOKEN: 's' } };

  it('a command inside every limit passes', () => {
    expect(verdict(alice, ok)).toEqual({ ok: true });
    expect(verdict(alice, { ...ok, runAs: 'svc-train', cwd: '/srv/jobs', env: {} })).toEqual({ ok: true });
  });

  it.each<[string, Partial<CommandPayload>, string]>([
    ['runAs outside the list', { runAs: 'root' }, "runAs 'root'"],
    ["no runAs: the agent's own account (root) is not allowed", { runAs: null }, "the agent's own account"],
    ['an env name outside the patterns', { env: { HF_TOKEN: 'x', LD_PRELOAD: '/tmp/x.so' } }, "env 'LD_PRELOAD'"],
    ['a cwd outside the patterns', { cwd: '/etc' }, "cwd '/etc'"],
    ['a cwd climbing out with ..', { cwd: '/srv/jobs/../../etc' }, 'without'],
    ['no cwd at all', { cwd: null }, 'must name its cwd'],
  ])('constraint_violated: %s', (_what, over, text) => {
    const v = verdict(alice, { ...ok, ...over });
    expect(v).toMatchObject({ ok: false, reason: 'constraint_violated' });
    expect(!v.ok && v.message).toContain(text);
  });

  it('a limit on an upper link holds even where the leaf sets none of its own (and then fails attenuation first)', () => {
    const leaf = cap(alice, bob, undefined, limited);
    expect(verdict(bob, { ...ok, capability: leaf })).toMatchObject({ ok: false, reason: 'not_attenuated' });
  });

  it('scripts: root-signed refuses a script signed by the invoker, accepts one signed by a root', () => {
    const content = 'echo hi\n';
    const sha = scriptSha256(content);
    const spec = { kind: 'script' as const, name: 'hello', version: 1, sha256: sha, args: [] };
    const c = cap(root, alice, { scripts: 'root-signed' }, undefined, ['exec/script']);
    const by = (key: Ed25519KeyPair) =>
      verdict(
        alice,
        { capability: c, command: spec, ability: 'exec/script' },
        { scriptContent: content, scriptSignature: signScript('hello', 1, sha, key.privateKeyPem) },
      );
    expect(by(alice)).toMatchObject({ ok: false, reason: 'constraint_violated', message: expect.stringContaining('signed by a fleet root') });
    expect(by(root)).toEqual({ ok: true });
    // Control: without the limit, the invoker's own signature is enough.
    const free = cap(root, alice, undefined, undefined, ['exec/script']);
    expect(
      verdict(
        alice,
        { capability: free, command: spec, ability: 'exec/script' },
        { scriptContent: content, scriptSignature: signScript('hello', 1, sha, alice.privateKeyPem) },
      ),
    ).toEqual({ ok: true });
  });

  it('a container operation is not a process: runAs, env and cwd limits do not stand in its way', () => {
    const c = cap(root, alice, { runAs: ['ubuntu'], env: [], cwd: ['/srv/jobs'] }, undefined, ['container/logs']);
    expect(verdict(alice, { capability: c, ability: 'container/logs', command: { kind: 'container', op: 'ls', container: '*' } })).toEqual({ ok: true });
  });

  it('commandLimitProblem without the agent account refuses a missing runAs under a runAs limit', () => {
    expect(commandLimitProblem({ runAs: null, env: {}, cwd: null }, { runAs: ['root'] })).toMatch(/cannot tell its own account/);
    expect(commandLimitProblem({ runAs: null, env: {}, cwd: null }, undefined)).toBeNull();
  });
});

describe("the command's own deadline", () => {
  it('is issuedAt + timeout + 60 s; past it (and the skew) the command is expired though never seen', () => {
    const p = { timeoutMs: 30_000, issuedAt: NOW - 30_000 - 60_000 - 60_000 };
    expect(commandDeadline(p)).toBe(NOW - 60_000);
    expect(verdict(root, p)).toEqual({ ok: true }); // exactly at the skew edge
    const v = verdict(root, { ...p, issuedAt: p.issuedAt - 1 });
    expect(v).toMatchObject({ ok: false, reason: 'expired' });
    expect(!v.ok && v.message).toContain('deadline');
  });

  it('a long timeout keeps a command acceptable for longer, never past its own deadline', () => {
    expect(verdict(root, { timeoutMs: DAY, issuedAt: NOW - DAY + 1000 })).toEqual({ ok: true });
    expect(verdict(root, { timeoutMs: DAY, issuedAt: NOW - DAY - 2 * 60_000 - 1 })).toMatchObject({ ok: false, reason: 'expired' });
  });
});

describe('signed cancels', () => {
  const cmd = payload(alice);
  const body = (over: Partial<CancelPayload> = {}): CancelPayload => ({
    v: 1,
    kind: 'cancel',
    runId: cmd.runId,
    nonce: cmd.nonce,
    iss: alice.did,
    at: NOW,
    until: commandDeadline(cmd),
    ...over,
  });

  it('a cancel by the invoker or by a root applies to exactly that command', () => {
    const mine = signCancel(body(), alice.privateKeyPem);
    expect(cancelProblem(mine)).toBeNull();
    expect(cancelApplies(mine.payload, cmd, [root.did])).toBe(true);
    expect(cancelApplies(signCancel(body({ iss: root.did }), root.privateKeyPem).payload, cmd, [root.did])).toBe(true);
    expect(cancelApplies(signCancel(body({ iss: bob.did }), bob.privateKeyPem).payload, cmd, [root.did])).toBe(false);
    expect(cancelApplies(mine.payload, { ...cmd, nonce: 'another-nonce-0123456789' }, [root.did])).toBe(false);
    expect(cancelApplies(mine.payload, { ...cmd, runId: 'run-other-000' }, [root.did])).toBe(false);
  });

  it('garbage, a forged signature and an unbounded lifetime are refused', () => {
    const good = signCancel(body(), alice.privateKeyPem);
    expect(cancelProblem({ ...good, payload: { ...good.payload, runId: 'run-other-000' } })).toMatch(/signature/);
    expect(cancelProblem({ payload: { ...good.payload, until: NOW + 9 * DAY }, sig: good.sig })).toMatch(/lifetime/);
    for (const junk of [null, 'cancel', 42, {}, { payload: {}, sig: '' }, { ...good, extra: 1 }]) expect(cancelProblem(junk)).toMatch(/malformed/);
    expect(() => signCancel(body({ iss: bob.did }), alice.privateKeyPem)).toThrow(/signing key/);
    expect(() => signCancel(body({ until: NOW - 1 }), alice.privateKeyPem)).toThrow(/before it is signed/);
  });
});
