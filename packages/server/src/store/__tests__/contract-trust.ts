import { describe, expect, it } from 'vitest';
import type { CapabilityRecord, RevocationRecord, RootsVersionRecord, ScriptRecord } from '../store.js';
import { AUDIT_GENESIS, auditRecordHash } from '../../audit/audit-hash.js';
import { expectFleetError, type StoreRef } from './contract-helpers.js';
import { sampleAudit, T0 } from './store-fixtures.js';

/** Contract cases for the trust tables (0004_trust) and the audit hash chain. */

const DID_A = 'did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK';
const DID_B = 'did:key:z6MkpTHR8VNsBxYAAWHut2Geadd9jSwuBV8xRoAnwWsdvktH';
const hex = (c: string) => c.repeat(64);

function rootsVersion(version: number, over: Partial<RootsVersionRecord> = {}): RootsVersionRecord {
  return {
    version,
    roots: [DID_A, DID_B],
    update: version === 1 ? null : { v: 1, version, roots: [DID_A, DID_B], iss: DID_A, at: T0 + version, sig: 'c2ln' },
    actor: 'token:admin(a1)',
    at: T0 + version,
    ...over,
  };
}

function capability(id: string, over: Partial<CapabilityRecord> = {}): CapabilityRecord {
  const token = {
    v: 1 as const,
    iss: DID_A,
    aud: DID_B,
    can: ['exec/run' as const],
    on: 'region=eu',
    nbf: T0,
    exp: T0 + 1000,
    nonce: 'nonce-123',
    prf: [],
    sig: 'c2ln',
  };
  return { id, iss: DID_A, aud: DID_B, can: ['exec/run'], on: 'region=eu', nbf: T0, exp: T0 + 1000, token, addedAt: T0, addedBy: 'token:ops(o1)', ...over };
}

function revocation(id: string, over: Partial<RevocationRecord> = {}): RevocationRecord {
  const rev = { v: 1 as const, target: { capability: hex('a') }, iss: DID_A, at: T0, reason: 'lost', sig: 'c2ln' };
  return { id, targetKind: 'capability', target: hex('a'), iss: DID_A, at: T0, revocation: rev, addedAt: T0, addedBy: 'token:ops(o1)', ...over };
}

function script(name: string, version: number, over: Partial<ScriptRecord> = {}): ScriptRecord {
  const sha = hex(String(version % 10));
  return {
    name,
    version,
    content: `#!/bin/sh\necho ${name} ${version} ünïcode\n`,
    sha256: sha,
    signer: DID_A,
    signature: { name, version, sha256: sha, signer: DID_A, sig: 'c2ln' },
    createdAt: T0 + version,
    createdBy: 'token:ops(o1)',
    removedAt: null,
    ...over,
  };
}

export function trustContract(store: StoreRef): void {
  describe('fleet roots', () => {
    it('round-trips versions in order and refuses a taken version with already_exists', async () => {
      expect(await store().listRootsVersions()).toEqual([]);
      await store().insertRootsVersion(rootsVersion(2));
      await store().insertRootsVersion(rootsVersion(1, { roots: [DID_A] }));
      await expectFleetError(store().insertRootsVersion(rootsVersion(2, { roots: [DID_B] })), 'already_exists');
      expect(await store().listRootsVersions()).toEqual([rootsVersion(1, { roots: [DID_A] }), rootsVersion(2)]);
    });

    it('of two racing writers of one version exactly one wins', async () => {
      const results = await Promise.allSettled([store().insertRootsVersion(rootsVersion(1)), store().insertRootsVersion(rootsVersion(1, { roots: [DID_B] }))]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      expect(await store().listRootsVersions()).toHaveLength(1);
    });

    it('refuses garbage', async () => {
      for (const bad of [
        rootsVersion(0),
        rootsVersion(1.5),
        { ...rootsVersion(1), roots: 'x' },
        { ...rootsVersion(1), roots: [1] },
        { ...rootsVersion(2), update: 'x' },
        null,
      ]) {
        await expectFleetError(store().insertRootsVersion(bad as RootsVersionRecord), 'invalid_argument');
      }
      expect(await store().listRootsVersions()).toEqual([]);
    });
  });

  describe('label attestations', () => {
    const att = (node: string, version: number, labels: Record<string, string> = { env: 'dev' }) => ({
      nodeId: node,
      version,
      attestation: { v: 1 as const, node, labels, version, issuedAt: T0, iss: DID_A, cap: null, sig: 'c2ln' },
      actor: 'token:ops(o1)',
      at: T0 + version,
    });

    it('keeps only a newer version per node, also when writers race', async () => {
      expect(await store().listLabelAttestations()).toEqual([]);
      expect(await store().putLabelAttestation(att(DID_A, 2))).toBe(true);
      expect(await store().putLabelAttestation(att(DID_A, 2, { env: 'prod' }))).toBe(false);
      expect(await store().putLabelAttestation(att(DID_A, 1, { env: 'prod' }))).toBe(false);
      expect(await store().putLabelAttestation(att(DID_B, 1))).toBe(true);
      expect(await store().getLabelAttestation(DID_A)).toEqual(att(DID_A, 2));
      expect(await store().putLabelAttestation(att(DID_A, 5, { env: 'prod' }))).toBe(true);
      expect((await store().listLabelAttestations()).map((r) => [r.nodeId, r.version, r.attestation.labels.env])).toEqual([
        [DID_A, 5, 'prod'],
        [DID_B, 1, 'dev'],
      ]);
      const raced = await Promise.all([store().putLabelAttestation(att(DID_B, 7, { env: 'a' })), store().putLabelAttestation(att(DID_B, 7, { env: 'b' }))]);
      expect(raced.filter(Boolean)).toHaveLength(1);
      expect(await store().getLabelAttestation('did:key:z6MkNone')).toBeUndefined();
    });

    it('refuses garbage and an attestation that does not match its record', async () => {
      for (const bad of [{ ...att(DID_A, 1), version: 2 }, { ...att(DID_A, 1), nodeId: DID_B }, { ...att(DID_A, 1), attestation: 'x' }, null]) {
        await expectFleetError(store().putLabelAttestation(bad as never), 'invalid_argument');
      }
      expect(await store().listLabelAttestations()).toEqual([]);
    });
  });

  describe('capabilities and revocations', () => {
    it('round-trip, list oldest first, filter by audience, and ignore a repeated id', async () => {
      await store().insertCapability(capability(hex('2'), { addedAt: T0 + 5 }));
      expect(await store().insertCapability(capability(hex('1'), { aud: DID_A, addedAt: T0 + 5 }))).toBe(true);
      expect(await store().insertCapability(capability(hex('1'), { on: 'changed' }))).toBe(false);
      expect(await store().getCapability(hex('1'))).toEqual(capability(hex('1'), { aud: DID_A, addedAt: T0 + 5 }));
      expect(await store().getCapability(hex('9'))).toBeUndefined();
      expect((await store().listCapabilities()).map((c) => c.id)).toEqual([hex('1'), hex('2')]);
      expect((await store().listCapabilities({ aud: DID_B })).map((c) => c.id)).toEqual([hex('2')]);
    });

    it('keep revocations by capability and by DID, oldest first, once each', async () => {
      const byDid = revocation('r2', { targetKind: 'did', target: DID_B, addedAt: T0 + 1 });
      expect(await store().insertRevocation(byDid)).toBe(true);
      expect(await store().insertRevocation(revocation('r1'))).toBe(true);
      expect(await store().insertRevocation(revocation('r1', { reason: 'x' } as never))).toBe(false);
      expect(await store().listRevocations()).toEqual([revocation('r1'), byDid]);
    });

    it('refuse garbage', async () => {
      await expectFleetError(store().insertCapability({ ...capability(hex('1')), exp: 1.5 }), 'invalid_argument');
      await expectFleetError(store().insertCapability({ ...capability(hex('1')), token: null as never }), 'invalid_argument');
      await expectFleetError(store().insertCapability({ ...capability(hex('1')), can: 'exec/run' as never }), 'invalid_argument');
      await expectFleetError(store().insertRevocation({ ...revocation('r'), targetKind: 'key' as never }), 'invalid_argument');
      await expectFleetError(store().getCapability(''), 'invalid_argument');
      await expectFleetError(store().listCapabilities({ aud: 5 as never }), 'invalid_argument');
      expect(await store().listCapabilities()).toEqual([]);
      expect(await store().listRevocations()).toEqual([]);
    });
  });

  describe('scripts', () => {
    it('keep every version, give the newest by default, and list the newest of each name', async () => {
      await store().insertScriptVersion(script('b-check', 1));
      await store().insertScriptVersion(script('a-check', 1));
      await store().insertScriptVersion(script('a-check', 2));
      await expectFleetError(store().insertScriptVersion(script('a-check', 2, { content: 'other' })), 'already_exists');
      expect(await store().getScript('a-check')).toEqual(script('a-check', 2));
      expect(await store().getScript('a-check', 1)).toEqual(script('a-check', 1));
      expect(await store().getScript('a-check', 3)).toBeUndefined();
      expect(await store().getScript('nope')).toBeUndefined();
      expect((await store().listScripts()).map((s) => [s.name, s.version])).toEqual([
        ['a-check', 2],
        ['b-check', 1],
      ]);
      expect((await store().listScriptVersions('a-check')).map((s) => s.version)).toEqual([1, 2]);
    });

    it('mark removal on the versions not yet removed, keeping them', async () => {
      await store().insertScriptVersion(script('s', 1));
      await store().insertScriptVersion(script('s', 2));
      expect(await store().markScriptRemoved('s', T0 + 50)).toBe(2);
      expect(await store().markScriptRemoved('s', T0 + 60)).toBe(0);
      expect(await store().markScriptRemoved('ghost', T0)).toBe(0);
      await store().insertScriptVersion(script('s', 3));
      expect((await store().listScriptVersions('s')).map((s) => s.removedAt)).toEqual([T0 + 50, T0 + 50, null]);
    });

    it('refuse garbage', async () => {
      await expectFleetError(store().insertScriptVersion({ ...script('s', 1), version: 0 }), 'invalid_argument');
      await expectFleetError(store().insertScriptVersion({ ...script('s', 1), content: 5 as never }), 'invalid_argument');
      await expectFleetError(store().insertScriptVersion({ ...script('s', 1), signature: 'sig' as never }), 'invalid_argument');
      await expectFleetError(store().getScript('s', 1.5), 'invalid_argument');
      await expectFleetError(store().markScriptRemoved('s', Number.NaN), 'invalid_argument');
      expect(await store().listScripts()).toEqual([]);
    });
  });

  describe('secrets', () => {
    it('are stored once: a second insert of the same id keeps the first', async () => {
      expect(await store().insertSecret({ id: 'k', sealed: '{"v":1}', createdAt: T0 })).toBe(true);
      expect(await store().insertSecret({ id: 'k', sealed: '{"v":2}', createdAt: T0 + 1 })).toBe(false);
      expect(await store().getSecret('k')).toEqual({ id: 'k', sealed: '{"v":1}', createdAt: T0 });
      expect(await store().getSecret('other')).toBeUndefined();
      await expectFleetError(store().insertSecret({ id: '', sealed: 'x', createdAt: T0 }), 'invalid_argument');
    });

    it('are replaced only while they still hold the value the caller read (compare-and-set), keeping createdAt', async () => {
      await store().insertSecret({ id: 'k', sealed: '{"v":1}', createdAt: T0 });
      expect(await store().replaceSecret('k', '{"v":1}', '{"v":2}')).toBe(true);
      expect(await store().getSecret('k')).toEqual({ id: 'k', sealed: '{"v":2}', createdAt: T0 });
      // A second replica that read the old value loses: the first re-seal stays.
      expect(await store().replaceSecret('k', '{"v":1}', '{"v":3}')).toBe(false);
      expect(await store().getSecret('k')).toEqual({ id: 'k', sealed: '{"v":2}', createdAt: T0 });
      // A record that is not there is not made.
      expect(await store().replaceSecret('missing', '{"v":1}', '{"v":2}')).toBe(false);
      expect(await store().getSecret('missing')).toBeUndefined();
    });

    it('replace only their own record', async () => {
      await store().insertSecret({ id: 'a', sealed: 'same', createdAt: T0 });
      await store().insertSecret({ id: 'b', sealed: 'same', createdAt: T0 });
      expect(await store().replaceSecret('a', 'same', 'new')).toBe(true);
      expect((await store().getSecret('b'))?.sealed).toBe('same');
    });

    it('list their ids, sorted', async () => {
      expect(await store().listSecretIds()).toEqual([]);
      for (const id of ['server-tls.ca', 'release-key.ab', 'server-identity.ed25519']) await store().insertSecret({ id, sealed: 'x', createdAt: T0 });
      expect(await store().listSecretIds()).toEqual(['release-key.ab', 'server-identity.ed25519', 'server-tls.ca']);
    });

    it('refuse a garbage replace', async () => {
      await store().insertSecret({ id: 'k', sealed: 'x', createdAt: T0 });
      await expectFleetError(store().replaceSecret('', 'x', 'y'), 'invalid_argument');
      await expectFleetError(store().replaceSecret('k', 'x', 5 as never), 'invalid_argument');
      await expectFleetError(store().replaceSecret('k', null as never, 'y'), 'invalid_argument');
      expect((await store().getSecret('k'))?.sealed).toBe('x');
    });
  });

  describe('audit hash chain', () => {
    it('links each appended record to the previous one, hashing what is read back', async () => {
      await store().appendAudit(sampleAudit({ details: { b: [1, { c: 'ü' }], a: null, gone: undefined } }));
      await store().appendAudit(sampleAudit({ target: null, result: 'error', details: undefined }));
      const chain = await store().listAuditChain();
      expect(chain.map((r) => r.prevHash)).toEqual([AUDIT_GENESIS, chain[0]!.hash]);
      for (const r of chain) expect(r.hash).toBe(auditRecordHash(r.prevHash!, r));
      const [first] = await store().listAudit({ limit: 1, actor: chain[1]!.actor, action: chain[1]!.action });
      expect(first!.id).toBe(chain[1]!.id);
    });

    it('stays one chain under 30 concurrent appends', async () => {
      await Promise.all(Array.from({ length: 30 }, (_, i) => store().appendAudit(sampleAudit({ at: T0 + i, details: { i } }))));
      const chain = await store().listAuditChain({ limit: 100 });
      expect(chain).toHaveLength(30);
      expect(new Set(chain.map((r) => r.prevHash)).size).toBe(30);
      for (let i = 1; i < chain.length; i++) expect(chain[i]!.prevHash).toBe(chain[i - 1]!.hash);
    });

    it('pages oldest first after an id', async () => {
      const ids: number[] = [];
      for (let i = 0; i < 5; i++) ids.push(await store().appendAudit(sampleAudit({ at: T0 + i })));
      expect((await store().listAuditChain({ afterId: ids[1]!, limit: 2 })).map((r) => r.id)).toEqual([ids[2], ids[3]]);
      await expectFleetError(store().listAuditChain({ afterId: 1.5 }), 'invalid_argument');
      await expectFleetError(store().listAuditChain({ limit: 0 }), 'invalid_argument');
    });
  });
}
