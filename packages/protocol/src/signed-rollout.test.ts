import { describe, expect, it } from 'vitest';
import { capabilityId, signCapability } from './capability.js';
import { generateEd25519, type Ed25519KeyPair } from './ed25519.js';
import { FleetError } from './errors.js';
import type { Ability, Capability } from './remote-ops.js';
import type { SignedJobContext } from './signed-job.js';
import { rolloutTargetProblem, signRollout, verifySignedRollout, type RolloutPayload } from './signed-rollout.js';

const NOW = Date.parse('2026-12-01T12:00:00Z');
const DAY = 86_400_000;
const SHA = 'a'.repeat(64);
const root = generateEd25519();
const alice = generateEd25519();
const mallory = generateEd25519();
const host = { pool: 'inference', region: 'eu' };

let counter = 0;
function cap(to: Ed25519KeyPair, can: Ability[] = ['release/rollout'], on = 'pool=inference'): Capability {
  return signCapability(
    { v: 1, iss: root.did, aud: to.did, can, on, nbf: NOW - DAY, exp: NOW + DAY, nonce: `cap-nonce-${++counter}`, prf: [] },
    root.privateKeyPem,
  );
}

function payload(invoker: Ed25519KeyPair, over: Partial<RolloutPayload> = {}): RolloutPayload {
  return {
    v: 1,
    release: { kind: 'agent', name: 'gpufleet-agent', version: '0.3.0' },
    target: { path: 'agent/gpufleet-agent-0.3.0.tgz', sha256: SHA },
    selector: 'pool=inference',
    plan: { canary: 2, waves: [10, 50, 100], healthyForMs: 600_000, maxFailures: 1 },
    issuedAt: NOW,
    nonce: `rollout-nonce-${++counter}-0123456789`,
    invoker: invoker.did,
    capability: null,
    ...over,
  };
}

function ctx(over: Partial<SignedJobContext> = {}): SignedJobContext {
  return { roots: [root.did], now: NOW, isRevoked: () => false, hostLabels: host, ...over };
}

describe('signed rollouts', () => {
  it('a fleet root or a holder of release/rollout on this host may roll out', () => {
    expect(verifySignedRollout(signRollout(payload(root), root.privateKeyPem), ctx())).toEqual({ ok: true });
    const signed = signRollout(payload(alice, { capability: cap(alice) }), alice.privateKeyPem);
    expect(verifySignedRollout(signed, ctx())).toEqual({ ok: true });
  });

  it('refuses a changed payload, a stranger, a capability for another ability or other hosts, and a revoked one', () => {
    const signed = signRollout(payload(alice, { capability: cap(alice) }), alice.privateKeyPem);
    const swapped = { ...signed, payload: { ...signed.payload, target: { ...signed.payload.target, sha256: 'b'.repeat(64) } } };
    expect(verifySignedRollout(swapped, ctx())).toMatchObject({ ok: false, reason: 'bad_signature' });
    expect(verifySignedRollout(signRollout(payload(mallory), mallory.privateKeyPem), ctx())).toMatchObject({ ok: false, reason: 'unknown_issuer' });
    const wrongAbility = signRollout(payload(alice, { capability: cap(alice, ['workload/run']) }), alice.privateKeyPem);
    expect(verifySignedRollout(wrongAbility, ctx())).toMatchObject({ ok: false, reason: 'ability_not_granted' });
    const otherPool = signRollout(payload(alice, { capability: cap(alice, ['release/rollout'], 'pool=training'), selector: '' }), alice.privateKeyPem);
    expect(verifySignedRollout(otherPool, ctx())).toMatchObject({ ok: false, reason: 'selector_mismatch' });
    const c = cap(alice);
    const revoked = signRollout(payload(alice, { capability: c }), alice.privateKeyPem);
    expect(verifySignedRollout(revoked, ctx({ isRevoked: (id) => id === capabilityId(c) }))).toMatchObject({ ok: false, reason: 'revoked' });
  });

  it("refuses a host outside the rollout's selector, one that cannot vouch for a key, and a rollout signed in the future", () => {
    const signed = signRollout(payload(root, { selector: 'region=us' }), root.privateKeyPem);
    expect(verifySignedRollout(signed, ctx())).toMatchObject({
      ok: false,
      reason: 'selector_mismatch',
      message: expect.stringContaining("selector 'region=us'"),
    });
    const unvouched = signRollout(payload(root, { selector: 'rack=7' }), root.privateKeyPem);
    expect(verifySignedRollout(unvouched, ctx())).toMatchObject({ ok: false, reason: 'selector_mismatch' });
    const future = signRollout(payload(root, { issuedAt: NOW + 10 * 60_000 }), root.privateKeyPem);
    expect(verifySignedRollout(future, ctx())).toMatchObject({ ok: false, reason: 'not_yet_valid' });
  });

  it('refuses garbage as malformed, and refuses to sign a bad plan or a bad name', () => {
    for (const garbage of [null, 42, 'x', {}, { payload: {}, sig: '' }, { payload: payload(root), sig: 5 }]) {
      expect(verifySignedRollout(garbage, ctx())).toMatchObject({ ok: false, reason: 'malformed' });
    }
    const deep: Record<string, unknown> = {};
    let link = deep;
    for (let i = 0; i < 50; i++) link = (link.prf = [{}])[0] as Record<string, unknown>;
    expect(verifySignedRollout({ payload: { capability: deep } }, ctx())).toMatchObject({ ok: false, reason: 'malformed' });
    const bad = (over: Partial<RolloutPayload>) => () => signRollout(payload(root, over), root.privateKeyPem);
    expect(bad({ plan: { canary: 1, waves: [50, 10], healthyForMs: 0, maxFailures: 0 } })).toThrow(/ascending percentages ending at 100/);
    expect(bad({ plan: { canary: 1, waves: [10, 50], healthyForMs: 0, maxFailures: 0 } })).toThrow(FleetError);
    expect(bad({ release: { kind: 'agent', name: 'other', version: '1' } })).toThrow(/named gpufleet-agent/);
    expect(bad({ release: { kind: 'bundle', name: 'Bad Name', version: '1' } })).toThrow(/lowercase/);
    expect(bad({ selector: 'pool in (' })).toThrow(FleetError);
    expect(() => signRollout(payload(alice), root.privateKeyPem)).toThrow(/signing key/);
  });

  it('the verified target must be the one signed', () => {
    const p = payload(root);
    expect(rolloutTargetProblem(p, { path: p.target.path, sha256: SHA })).toEqual({ ok: true });
    expect(rolloutTargetProblem(p, { path: p.target.path, sha256: 'c'.repeat(64) })).toMatchObject({ ok: false, reason: 'release_refused' });
    expect(rolloutTargetProblem(p, { path: 'agent/gpufleet-agent-0.4.0.tgz', sha256: SHA })).toMatchObject({ ok: false, reason: 'release_refused' });
  });
});
