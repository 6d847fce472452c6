import { describe, expect, it } from 'vitest';
import { capabilityId, signCapability, verifyCapability, type CapabilityContext } from './capability.js';
import { generateEd25519, type Ed25519KeyPair } from './ed25519.js';
import { FleetError } from './errors.js';
import { decodeJoinToken, encodeJoinToken } from './join-token.js';
import { signLabelAttestation, verifyLabelAttestation, type LabelAttestation, type LabelAttestationContext } from './label-attestation.js';
import type { Ability, Capability } from './remote-ops.js';
import { signCommand, verifySignedCommand } from './signed-command.js';

const NOW = Date.parse('2026-03-01T12:00:00Z');
const DAY = 86_400_000;
const root = generateEd25519();
const alice = generateEd25519();
const stranger = generateEd25519();
const node = generateEd25519();
const otherNode = generateEd25519();

let counter = 0;
function cap(by: Ed25519KeyPair, to: Ed25519KeyPair, can: Ability[] = ['node/labels'], on = '*', over: Partial<Capability> = {}): Capability {
  return signCapability(
    { v: 1, iss: by.did, aud: to.did, can, on, nbf: NOW - DAY, exp: NOW + DAY, nonce: `cap-${++counter}-nonce`, prf: [], ...over },
    by.privateKeyPem,
  );
}

function attest(
  labels: Record<string, string>,
  o: { by?: Ed25519KeyPair; version?: number; cap?: Capability | null; node?: string; issuedAt?: number } = {},
): LabelAttestation {
  const by = o.by ?? root;
  return signLabelAttestation(
    { v: 1, node: o.node ?? node.did, labels, version: o.version ?? 1, issuedAt: o.issuedAt ?? NOW, iss: by.did, cap: o.cap ?? null },
    by.privateKeyPem,
  );
}

function ctx(over: Partial<LabelAttestationContext> = {}): LabelAttestationContext {
  return { node: node.did, roots: [root.did], now: NOW, isRevoked: () => false, hostLabels: { hostname: 'gpu-1' }, ...over };
}

function reasonOf(value: unknown, over: Partial<LabelAttestationContext> = {}): string {
  const v = verifyLabelAttestation(value, ctx(over));
  return v.ok ? 'ok' : v.reason;
}

describe('label attestations', () => {
  it('accepts one signed by a root, and one by an operator holding node/labels from a root', () => {
    expect(verifyLabelAttestation(attest({ env: 'prod' }), ctx())).toEqual({ ok: true });
    expect(reasonOf(attest({ env: 'prod' }, { by: alice, cap: cap(root, alice) }))).toBe('ok');
  });

  it('refuses a forged one: any field changed after signing, or a signature by another key', () => {
    const good = attest({ env: 'dev' });
    expect(reasonOf({ ...good, labels: { env: 'prod' } })).toBe('bad_signature');
    expect(reasonOf({ ...good, version: 9 })).toBe('bad_signature');
    const claimed = { ...attest({ env: 'prod' }, { by: stranger }), iss: root.did };
    expect(reasonOf(claimed)).toBe('bad_signature');
  });

  it('refuses one for another node', () => {
    const v = verifyLabelAttestation(attest({ env: 'dev' }, { node: otherNode.did }), ctx());
    expect(v).toMatchObject({ ok: false, reason: 'untrusted_chain' });
    expect(v.ok ? '' : v.message).toMatch(/not this one/);
  });

  it('refuses an older or equal version than the one held', () => {
    expect(reasonOf(attest({ env: 'dev' }, { version: 3 }), { currentVersion: 3 })).toBe('expired');
    expect(reasonOf(attest({ env: 'dev' }, { version: 2 }), { currentVersion: 3 })).toBe('expired');
    expect(reasonOf(attest({ env: 'dev' }, { version: 4 }), { currentVersion: 3 })).toBe('ok');
  });

  it('refuses an unknown issuer: no root and no capability, or a capability not from a root', () => {
    expect(reasonOf(attest({ env: 'dev' }, { by: stranger }))).toBe('unknown_issuer');
    expect(reasonOf(attest({ env: 'dev' }, { by: alice, cap: cap(stranger, alice) }))).toBe('unknown_issuer');
  });

  it('refuses an operator whose capability does not grant node/labels, is revoked, or whose scope the host is not in', () => {
    expect(reasonOf(attest({ env: 'dev' }, { by: alice, cap: cap(root, alice, ['exec/run']) }))).toBe('ability_not_granted');
    const c = cap(root, alice);
    expect(reasonOf(attest({ env: 'dev' }, { by: alice, cap: c }), { isRevoked: (id) => id === capabilityId(c) })).toBe('revoked');
    const scoped = cap(root, alice, ['node/labels'], 'team=vision');
    expect(reasonOf(attest({ team: 'vision', env: 'dev' }, { by: alice, cap: scoped }), { hostLabels: { team: 'vision' } })).toBe('ok');
    // Outside its scope, and moving a host out of it, are both refused.
    expect(reasonOf(attest({ team: 'vision' }, { by: alice, cap: scoped }), { hostLabels: { team: 'audio' } })).toBe('selector_mismatch');
    expect(reasonOf(attest({ team: 'audio' }, { by: alice, cap: scoped }), { hostLabels: { team: 'vision' } })).toBe('selector_mismatch');
  });

  it('refuses an expired delegated signer and an attestation from the future', () => {
    const old = cap(root, alice, ['node/labels'], '*', { nbf: NOW - 3 * DAY, exp: NOW - 2 * DAY });
    expect(reasonOf(attest({ env: 'dev' }, { by: alice, cap: old }))).toBe('expired');
    expect(reasonOf(attest({ env: 'dev' }, { issuedAt: NOW + 10 * 60_000 }))).toBe('not_yet_valid');
  });

  it('refuses garbage and built-in labels as malformed', () => {
    for (const junk of [null, 'x', 42, {}, { ...attest({}), v: 2 }, { ...attest({}), labels: { 'bad key!': 'x' } }]) expect(reasonOf(junk)).toBe('malformed');
    expect(() => attest({ 'gpu.model': 'H100' })).toThrow(FleetError);
    expect(() => signLabelAttestation({ v: 1, node: node.did, labels: {}, version: 1, issuedAt: NOW, iss: root.did, cap: null }, alice.privateKeyPem)).toThrow(
      /signing key/,
    );
  });
});

describe('selectors name only labels the host can vouch for', () => {
  const capCtx = (over: Partial<CapabilityContext> = {}): CapabilityContext => ({
    roots: [root.did],
    now: NOW,
    isRevoked: () => false,
    hostLabels: {},
    ability: 'exec/run',
    invoker: alice.did,
    ...over,
  });

  it('a negative requirement on an unknown label is refused, not taken as absent', () => {
    const c = cap(root, alice, ['exec/run'], 'env!=prod');
    const v = verifyCapability(c, capCtx({ hostLabels: { hostname: 'h' } }));
    expect(v).toMatchObject({ ok: false, reason: 'selector_mismatch' });
    expect(v.ok ? '' : v.message).toMatch(/cannot vouch for label 'env'/);
    for (const on of ['!env', 'env notin (prod)'])
      expect(verifyCapability(cap(root, alice, ['exec/run'], on), capCtx())).toMatchObject({ ok: false, reason: 'selector_mismatch' });
  });

  it('a vouched absence or another value passes; a vouched env=prod does not', () => {
    const c = cap(root, alice, ['exec/run'], 'env!=prod');
    expect(verifyCapability(c, capCtx({ hostLabels: {}, vouches: () => true }))).toEqual({ ok: true });
    expect(verifyCapability(c, capCtx({ hostLabels: { env: 'dev' } }))).toEqual({ ok: true });
    expect(verifyCapability(c, capCtx({ hostLabels: { env: 'prod' } }))).toMatchObject({ ok: false, reason: 'selector_mismatch' });
  });

  it("a command's target is held to the same rule", () => {
    const payload = {
      v: 1 as const,
      runId: 'run-vouch-0001',
      nonce: 'vouch-nonce-0123456789',
      issuedAt: NOW,
      ability: 'exec/run' as const,
      target: 'env!=prod',
      command: { kind: 'argv' as const, argv: ['true'] },
      env: {},
      cwd: null,
      timeoutMs: 60_000,
      runAs: null,
      invoker: root.did,
      capability: null,
    };
    const cmd = signCommand(payload, root.privateKeyPem);
    const base = { roots: [root.did], now: NOW, isRevoked: () => false, seenNonce: () => false };
    const v = verifySignedCommand(cmd, { ...base, hostLabels: { hostname: 'h' } });
    expect(v).toMatchObject({ ok: false, reason: 'selector_mismatch' });
    expect(v.ok ? '' : v.message).toMatch(/cannot vouch.*target 'env!=prod'/);
    expect(verifySignedCommand(cmd, { ...base, hostLabels: { env: 'dev' } })).toEqual({ ok: true });
  });
});

describe('join tokens carry their labels', () => {
  const base = { url: 'https://fleet.example:7420', caFingerprint: 'ab'.repeat(32), roots: [root.did], tokenId: 'tok1', secret: 's3cret' };

  it('round-trips labels, and a token without them decodes without labels', () => {
    expect(decodeJoinToken(encodeJoinToken({ ...base, labels: { region: 'eu' } })).labels).toEqual({ region: 'eu' });
    expect(decodeJoinToken(encodeJoinToken(base)).labels).toBeUndefined();
  });

  it('refuses a token whose labels are not valid labels', () => {
    for (const l of [['x'], { 'bad key': 'v' }, { k: 5 }, { k: 'bad value!' }]) {
      const raw = `gfj1.${Buffer.from(JSON.stringify({ u: base.url, f: base.caFingerprint, r: base.roots, i: 't', s: 's', l })).toString('base64url')}`;
      expect(() => decodeJoinToken(raw)).toThrow(/damaged/);
    }
  });
});
