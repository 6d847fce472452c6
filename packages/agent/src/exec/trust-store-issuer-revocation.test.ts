import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  capabilityId,
  generateEd25519,
  signCapability,
  signRevocation,
  verifyCapability,
  type Capability,
  type Ed25519KeyPair,
  type Revocation,
} from '@gpufleet/protocol';
import { FileStateStore } from '../runtime/file-state.js';
import { MemoryStateStore } from '../runtime/state.js';
import { TrustStore } from './trust-store.js';

/**
 * The server accepts a capability revocation signed by the capability's issuer (who need not be
 * a root); the host honours it too, but only for capabilities that key issued.
 */

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const NOW = Date.UTC(2025, 0, 1);
const root = generateEd25519();
const delegate = generateEd25519();
const holder = generateEd25519();
const other = generateEd25519();

function cap(issuer: Ed25519KeyPair, aud: string, prf: Capability[] = [], nonce = 'cap-nonce-0001'): Capability {
  return signCapability({ v: 1, iss: issuer.did, aud, can: ['exec/run'], on: '*', nbf: NOW - 1000, exp: NOW + 3_600_000, nonce, prf }, issuer.privateKeyPem);
}

function revokeCap(c: Capability, signer: Ed25519KeyPair): Revocation {
  return signRevocation({ v: 1, target: { capability: capabilityId(c) }, iss: signer.did, at: NOW, reason: 'test' }, signer.privateKeyPem);
}

// root -> delegate -> holder: the delegate issued the second link.
const parent = cap(root, delegate.did);
const child = cap(delegate, holder.did, [parent]);

function verdictFor(trust: TrustStore, c: Capability, invoker: string) {
  return verifyCapability(c, { roots: trust.roots, now: NOW, isRevoked: trust.isRevoked, hostLabels: {}, ability: 'exec/run', invoker });
}

describe('TrustStore: capability revocations by their issuer', () => {
  it('honours a revocation signed by the capability issuer (not a root): the chain it issued is refused as revoked', () => {
    const trust = new TrustStore({ state: new MemoryStateStore(), joinRoots: [root.did] });
    expect(verdictFor(trust, child, holder.did)).toEqual({ ok: true });
    const applied = trust.applyTrust({ roots: [], revocations: [revokeCap(child, delegate)] });
    expect(applied).toMatchObject({ revocationsAdded: 1, ignored: [] });
    expect(verdictFor(trust, child, holder.did)).toMatchObject({ ok: false, reason: 'revoked' });
    // The delegate's own capability, issued by the root, is untouched.
    expect(verdictFor(trust, parent, delegate.did)).toEqual({ ok: true });
  });

  it('a non-root key cannot revoke a capability someone else issued, and does not shadow the root revoking it', () => {
    const trust = new TrustStore({ state: new MemoryStateStore(), joinRoots: [root.did] });
    // `other` signs a revocation of the root-issued parent: validly signed, but not its issuer.
    const byOther = revokeCap(parent, other);
    trust.applyTrust({ roots: [], revocations: [byOther] });
    expect(verdictFor(trust, parent, delegate.did)).toEqual({ ok: true });
    expect(verdictFor(trust, child, holder.did)).toEqual({ ok: true });
    // Even the delegate (issuer of the child, audience of the parent) cannot revoke a root's grant to others.
    const stranger = cap(root, other.did, [], 'cap-nonce-0002');
    trust.applyTrust({ roots: [], revocations: [revokeCap(stranger, delegate)] });
    expect(verdictFor(trust, stranger, other.did)).toEqual({ ok: true });
    // The root's revocation of the same id still lands.
    const applied = trust.applyTrust({ roots: [], revocations: [byOther, revokeCap(parent, root)] });
    expect(applied.revocationsAdded).toBe(1);
    expect(verdictFor(trust, parent, delegate.did)).toMatchObject({ ok: false, reason: 'revoked' });
  });

  it('ignores forged and garbage revocations, and keeps the issuer scope across a restart', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gpufleet-issuer-rev-'));
    dirs.push(dir);
    const trust = new TrustStore({ state: new FileStateStore(dir), joinRoots: [root.did] });
    const forged = { ...revokeCap(child, delegate), reason: 'changed after signing' };
    const applied = trust.applyTrust({
      roots: [],
      revocations: [forged, { v: 1, target: { capability: 'zz' } } as unknown as Revocation, revokeCap(child, delegate)],
    });
    expect(applied.revocationsAdded).toBe(1);
    expect(applied.ignored).toHaveLength(2);
    expect(applied.ignored[0]).toMatch(/signature/);

    const again = new TrustStore({ state: new FileStateStore(dir), joinRoots: [root.did] });
    expect(again.revocationCount).toBe(1);
    expect(verdictFor(again, child, holder.did)).toMatchObject({ ok: false, reason: 'revoked' });
    expect(verdictFor(again, parent, delegate.did)).toEqual({ ok: true });
  });
});
