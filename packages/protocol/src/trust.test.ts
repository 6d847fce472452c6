import { describe, expect, it } from 'vitest';
import { canonicalJson } from './canonical-json.js';
import { generateEd25519, signEd25519 } from './ed25519.js';
import { FleetError } from './errors.js';
import type { Revocation, RootsUpdate } from './remote-ops.js';
import { applyRootsUpdates, createRevocationIndex, signRevocation, signRootsUpdate, verifyRevocation, verifyRootsUpdate } from './trust.js';

const NOW = Date.parse('2026-03-01T12:00:00Z');
const root = generateEd25519();
const root2 = generateEd25519();
const alice = generateEd25519();
const server = generateEd25519();
const CAP_ID = 'ab'.repeat(32);

function revokeCap(by = root, capability = CAP_ID): Revocation {
  return signRevocation({ v: 1, target: { capability }, iss: by.did, at: NOW, reason: 'laptop stolen' }, by.privateKeyPem);
}

function rootsUpdate(version: number, roots: string[], by = root): RootsUpdate {
  return signRootsUpdate({ v: 1, version, roots, iss: by.did, at: NOW }, by.privateKeyPem);
}

describe('revocations', () => {
  it('accepts a revocation signed by a root', () => {
    expect(verifyRevocation(revokeCap(), [root.did])).toEqual({ ok: true });
  });

  it('accepts a key revoking itself, from anyone', () => {
    const self = signRevocation({ v: 1, target: { did: alice.did }, iss: alice.did, at: NOW, reason: 'key leaked' }, alice.privateKeyPem);
    expect(verifyRevocation(self, [root.did])).toEqual({ ok: true });
  });

  it('unknown_issuer: a revocation by a key that is not a root (the server making one up)', () => {
    const v = verifyRevocation(revokeCap(server), [root.did]);
    expect(v).toMatchObject({ ok: false, reason: 'unknown_issuer' });
    const other = signRevocation({ v: 1, target: { did: alice.did }, iss: server.did, at: NOW, reason: '' }, server.privateKeyPem);
    expect(verifyRevocation(other, [root.did])).toMatchObject({ ok: false, reason: 'unknown_issuer' });
  });

  it.each([
    ['target', { target: { capability: 'cd'.repeat(32) } }],
    ['iss', { iss: root2.did }],
    ['at', { at: NOW + 1 }],
    ['reason', { reason: 'changed' }],
    ['sig', { sig: Buffer.alloc(64).toString('base64url') }],
  ] as const)('bad_signature: %s changed after signing', (_f, change) => {
    expect(verifyRevocation({ ...revokeCap(), ...change } as Revocation, [root.did, root2.did])).toMatchObject({ ok: false, reason: 'bad_signature' });
  });

  it.each([null, 'x', {}, { v: 2 }, { target: { capability: 'short' } }, { target: {} }])('malformed: %j', (change) => {
    const rev = (change && typeof change === 'object' && Object.keys(change).length ? { ...revokeCap(), ...change } : change) as Revocation;
    expect(verifyRevocation(rev, [root.did])).toMatchObject({ ok: false, reason: 'malformed' });
  });

  it('signRevocation refuses the wrong key and bad fields', () => {
    expect(() => signRevocation({ v: 1, target: { capability: CAP_ID }, iss: root.did, at: NOW, reason: '' }, alice.privateKeyPem)).toThrow(/issuer/);
    expect(() => signRevocation({ v: 1, target: { capability: 'nope' }, iss: root.did, at: NOW, reason: '' }, root.privateKeyPem)).toThrow(FleetError);
  });

  it('an index answers isRevoked for verified revocations only', () => {
    const byDid = signRevocation({ v: 1, target: { did: alice.did }, iss: root.did, at: NOW, reason: '' }, root.privateKeyPem);
    const serverSelf = signRevocation({ v: 1, target: { did: root2.did }, iss: server.did, at: NOW, reason: '' }, server.privateKeyPem);
    const forged = { ...revokeCap(), sig: Buffer.alloc(64).toString('base64url') };
    const index = createRevocationIndex([revokeCap(), byDid, serverSelf, forged], [root.did]);
    expect(index.size).toBe(2);
    expect(index.isRevoked(CAP_ID, root2.did)).toBe(true);
    expect(index.isRevoked('', alice.did)).toBe(true);
    expect(index.isRevoked('', root2.did)).toBe(false);
    expect(index.isRevoked('cd'.repeat(32), server.did)).toBe(false);
    expect(index.add(serverSelf, [server.did])).toBe(true);
    expect(index.isRevoked('', root2.did)).toBe(true);
  });

  it("an index applies a non-root's revocation of a capability only to capabilities that key issued", () => {
    const capId = 'ef'.repeat(32);
    const index = createRevocationIndex([revokeCap(alice, capId)], [root.did]);
    expect(index.size).toBe(1);
    // verifyCapability asks (id, issuer) and (id, audience) for each link.
    expect(index.isRevoked(capId, alice.did)).toBe(true);
    expect(index.isRevoked(capId, server.did)).toBe(false);
    expect(index.isRevoked(CAP_ID, alice.did)).toBe(false);
    expect(index.isRevoked('', alice.did)).toBe(false);
  });
});

describe('roots updates', () => {
  it('accepts an update signed by a current root', () => {
    expect(verifyRootsUpdate(rootsUpdate(1, [root.did, root2.did]), [root.did])).toEqual({ ok: true });
  });

  it('unknown_issuer: an update signed by a key outside the current roots', () => {
    const v = verifyRootsUpdate(rootsUpdate(1, [server.did], server), [root.did]);
    expect(v).toMatchObject({ ok: false, reason: 'unknown_issuer' });
    expect(!v.ok && v.message).toMatch(/not one of the current fleet roots/);
  });

  it('bad_signature: an unsigned or altered update', () => {
    const u = rootsUpdate(1, [root.did]);
    expect(verifyRootsUpdate({ ...u, sig: '' }, [root.did])).toMatchObject({ ok: false, reason: 'bad_signature' });
    expect(verifyRootsUpdate({ ...u, roots: [root.did, server.did] }, [root.did])).toMatchObject({ ok: false, reason: 'bad_signature' });
    expect(verifyRootsUpdate({ ...u, version: 9 }, [root.did])).toMatchObject({ ok: false, reason: 'bad_signature' });
  });

  it('expired: a replayed update no newer than the version held', () => {
    const u = rootsUpdate(2, [root.did]);
    expect(verifyRootsUpdate(u, [root.did], { currentVersion: 1 })).toEqual({ ok: true });
    expect(verifyRootsUpdate(u, [root.did], { currentVersion: 2 })).toMatchObject({ ok: false, reason: 'expired' });
  });

  it.each([null, {}, { roots: [] }, { version: 0 }, { roots: ['not-a-did'] }])('malformed: %j', (change) => {
    const u = (change && typeof change === 'object' && Object.keys(change).length ? { ...rootsUpdate(1, [root.did]), ...change } : change) as RootsUpdate;
    expect(verifyRootsUpdate(u, [root.did])).toMatchObject({ ok: false, reason: 'malformed' });
  });

  it('applies updates in order, each checked against the roots the previous one set', () => {
    const v1 = rootsUpdate(1, [root.did, root2.did]);
    const v2 = rootsUpdate(2, [root2.did], root2); // root2 rotates root out
    const replayOld = rootsUpdate(3, [root.did], root); // root is no longer trusted by then
    const { state, refused } = applyRootsUpdates({ version: 0, roots: [root.did] }, [replayOld, v2, v1]);
    expect(state).toEqual({ version: 2, roots: [root2.did] });
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ version: 3, verdict: { ok: false, reason: 'unknown_issuer' } });
  });

  it('ignores updates it already holds, and reports garbage without crashing', () => {
    const v1 = rootsUpdate(1, [root.did, root2.did]);
    const { state, refused } = applyRootsUpdates({ version: 1, roots: [root.did, root2.did] }, [v1, null as unknown as RootsUpdate]);
    expect(state.version).toBe(1);
    expect(refused).toEqual([{ version: undefined, verdict: expect.objectContaining({ reason: 'malformed' }) }]);
  });

  it('signRootsUpdate refuses the wrong key and an empty root set', () => {
    expect(() => signRootsUpdate({ v: 1, version: 1, roots: [root.did], iss: root.did, at: NOW }, server.privateKeyPem)).toThrow(/issuer/);
    expect(() => signRootsUpdate({ v: 1, version: 1, roots: [], iss: root.did, at: NOW }, root.privateKeyPem)).toThrow(FleetError);
  });

  it('signatures cover canonical JSON, so member order does not matter', () => {
    const fields = { at: NOW, iss: root.did, roots: [root.did], version: 4, v: 1 as const };
    const sig = signEd25519(root.privateKeyPem, canonicalJson(fields));
    expect(verifyRootsUpdate({ ...fields, sig }, [root.did])).toEqual({ ok: true });
  });
});
