import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capabilityId, generateEd25519, signRevocation, signRootsUpdate, type Capability } from '@gpufleet/protocol';
import { expectError, grant, HOUR, startTrustKit, type TrustKit } from '../trust/__tests__/trust-kit.js';

/** The trust routes on a real app and SQLite store: roots, capabilities, revocations, server identity. */

let kit: TrustKit;
const root = generateEd25519();
const root2 = generateEd25519();
const alice = generateEd25519();
const bob = generateEd25519();
const stranger = generateEd25519();

beforeAll(async () => {
  kit = await startTrustKit();
});
afterAll(() => kit.close());

// Read without ticking: a delegation granted later must not outlive its parent.
const now = () => kit.clock.t;
const auditOf = async (action: string) => (await kit.store.listAudit({ action })).reverse();

describe('fleet roots', () => {
  it('start empty, and refuse garbage, other roles and a second init', async () => {
    expect((await kit.call('GET', '/api/v1/roots', kit.viewer)).body).toEqual({ version: 0, roots: [], updates: [] });
    expectError(await kit.call('POST', '/api/v1/roots/init', kit.operator, { did: root.did }), 403, 'permission_denied', /admin role/);
    expectError(await kit.call('POST', '/api/v1/roots/init', kit.admin, { did: 'did:key:zNotAKey' }), 400, 'invalid_argument', /not an Ed25519 did:key/);
    expectError(await kit.call('POST', '/api/v1/roots/init', kit.admin, {}), 400, 'invalid_argument', /did/);
    expectError(await kit.call('POST', '/api/v1/roots/init', kit.admin, { did: root.did, extra: 1 }), 400, 'invalid_argument', /extra|unrecognized/i);
    expectError(await kit.call('POST', '/api/v1/roots/init', kit.admin, '{"did":'), 400, 'invalid_argument', /not valid JSON/);
    expectError(
      await kit.call('POST', '/api/v1/roots/update', kit.admin, {
        update: signRootsUpdate({ v: 1, version: 2, roots: [root.did], iss: root.did, at: now() }, root.privateKeyPem),
      }),
      412,
      'failed_precondition',
      /no roots yet/,
    );

    const init = await kit.call('POST', '/api/v1/roots/init', kit.admin, { did: root.did });
    expect(init.status).toBe(201);
    expect(init.body).toEqual({ version: 1, roots: [root.did], updates: [] });
    expect(kit.trust.currentRoots()).toEqual([root.did]);
    expectError(await kit.call('POST', '/api/v1/roots/init', kit.admin, { did: root2.did }), 412, 'failed_precondition', /already has roots \(version 1\)/);
    // One record per request, refusals included (under the domain action once the route runs).
    const records = await auditOf('roots.init');
    expect(records.map((r) => [r.result, (r.details as any).status])).toEqual([
      ['error', 400],
      ['ok', 201],
      ['error', 412],
    ]);
    expect(records[1]).toMatchObject({
      target: root.did,
      result: 'ok',
      actor: expect.stringMatching(/^token:admin\(/),
      details: { version: 1, roots: [root.did] },
    });
  });

  it('adopt an update signed by a current root, and refuse forged, tampered and stale ones', async () => {
    const fields = { v: 1 as const, version: 2, roots: [root.did, root2.did], iss: root.did, at: now() };
    const forged = signRootsUpdate({ ...fields, iss: stranger.did }, stranger.privateKeyPem);
    expectError(
      await kit.call('POST', '/api/v1/roots/update', kit.admin, { update: forged }),
      403,
      'permission_denied',
      /unknown_issuer.*not one of the current fleet roots/,
    );
    const tampered = { ...signRootsUpdate(fields, root.privateKeyPem), roots: [stranger.did] };
    expectError(await kit.call('POST', '/api/v1/roots/update', kit.admin, { update: tampered }), 403, 'permission_denied', /bad_signature/);
    expectError(await kit.call('POST', '/api/v1/roots/update', kit.admin, { update: { ...fields, sig: 'x' } }), 403, 'permission_denied', /bad_signature/);
    expectError(await kit.call('POST', '/api/v1/roots/update', kit.admin, { update: { ...fields } }), 400, 'invalid_argument', /not a valid roots update: sig/);
    expectError(await kit.call('POST', '/api/v1/roots/update', kit.admin, { update: 'garbage' }), 400, 'invalid_argument', /not a valid roots update/);
    const skipping = signRootsUpdate({ ...fields, version: 5 }, root.privateKeyPem);
    expectError(await kit.call('POST', '/api/v1/roots/update', kit.admin, { update: skipping }), 409, 'conflict', /version 5, but the next version is 2/);
    expect(kit.trust.currentRoots()).toEqual([root.did]);

    const good = signRootsUpdate(fields, root.privateKeyPem);
    const res = await kit.call('POST', '/api/v1/roots/update', kit.admin, { update: good });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ version: 2, roots: [root.did, root2.did], updates: [good] });
    expect(kit.trust.currentRoots()).toEqual([root.did, root2.did]);
    // The same update again is stale now.
    expectError(await kit.call('POST', '/api/v1/roots/update', kit.admin, { update: good }), 409, 'conflict', /not newer/);

    const records = await auditOf('roots.update');
    // One record per request: refusals the service explains carry its reason, the others the error.
    expect(records.map((r) => [r.result, (r.details as any).signer ?? null, (r.details as any).reason ?? null, (r.details as any).status])).toEqual([
      ['error', null, null, 412],
      ['error', stranger.did, 'unknown_issuer', 403],
      ['error', root.did, 'bad_signature', 403],
      ['error', root.did, 'bad_signature', 403],
      ['error', null, null, 400],
      ['error', null, null, 400],
      ['error', null, null, 409],
      ['ok', root.did, null, 201],
      ['error', root.did, 'expired', 409],
    ]);
  });
});

describe('capabilities', () => {
  let aliceCap: Capability;

  it('register a capability whose chain verifies, listing it with its id, and repeat harmlessly', async () => {
    aliceCap = grant(root, alice, { can: ['exec/run', 'exec/script'], on: 'region=eu', now: now() });
    const res = await kit.call('POST', '/api/v1/capabilities', kit.operator, { capability: aliceCap });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      id: capabilityId(aliceCap),
      iss: root.did,
      aud: alice.did,
      can: ['exec/run', 'exec/script'],
      on: 'region=eu',
      nbf: new Date(aliceCap.nbf).toISOString(),
      exp: new Date(aliceCap.exp).toISOString(),
      revoked: false,
      state: 'active',
      chain: [capabilityId(aliceCap)],
    });
    expect((await kit.call('POST', '/api/v1/capabilities', kit.operator, { capability: aliceCap })).status).toBe(200);
    const list = await kit.call('GET', '/api/v1/capabilities', kit.viewer);
    expect(list.body.items.map((c: any) => c.id)).toEqual([capabilityId(aliceCap)]);
    const [record] = await auditOf('capability.register');
    expect(record).toMatchObject({
      result: 'ok',
      target: capabilityId(aliceCap),
      details: { signer: root.did, audience: alice.did, chain: [capabilityId(aliceCap)] },
    });
  });

  it('register a delegation and a capability not valid yet; filter by audience', async () => {
    const delegated = grant(alice, bob, { can: ['exec/script'], on: 'region=eu,pool=a', parent: aliceCap, now: now() });
    const later = grant(root, bob, { can: ['container/logs'], nbf: now() + 2 * HOUR, exp: now() + 3 * HOUR, now: now() });
    const d = await kit.call('POST', '/api/v1/capabilities', kit.operator, { capability: delegated });
    expect(d.status).toBe(201);
    expect(d.body.chain).toEqual([capabilityId(aliceCap), capabilityId(delegated)]);
    const l = await kit.call('POST', '/api/v1/capabilities', kit.operator, { capability: later });
    expect(l.status).toBe(201);
    expect(l.body.state).toBe('pending');
    const bobs = await kit.call('GET', `/api/v1/capabilities?aud=${bob.did}`, kit.viewer);
    expect(bobs.body.items.map((c: any) => c.id)).toEqual([capabilityId(delegated), capabilityId(later)]);
  });

  it('refuse garbage, forged signatures, unknown issuers, broader children and expired ones', async () => {
    const post = (capability: unknown, token = kit.operator) => kit.call('POST', '/api/v1/capabilities', token, { capability });
    expectError(await post(aliceCap, kit.viewer), 403, 'permission_denied', /operator role/);
    expectError(await kit.call('POST', '/api/v1/capabilities', kit.operator, { cap: aliceCap }), 400, 'invalid_argument', /cap/);
    expectError(await post('a string'), 400, 'invalid_argument', /not a valid capability/);
    const { sig: _sig, ...unsigned } = aliceCap;
    expectError(await post(unsigned), 400, 'invalid_argument', /not a valid capability: sig/);
    expectError(await post({ ...aliceCap, can: ['root/everything'] }), 400, 'invalid_argument', /not a valid capability: can/);
    expectError(await post({ ...aliceCap, on: '*' }), 403, 'permission_denied', /bad_signature/);
    expectError(await post(grant(stranger, alice, { now: now() })), 403, 'permission_denied', /unknown_issuer/);
    expectError(
      await post(grant(alice, bob, { can: ['container/restart'], on: 'region=eu', parent: aliceCap, now: now() })),
      403,
      'permission_denied',
      /not_attenuated.*container\/restart/,
    );
    expectError(await post(grant(alice, bob, { on: '*', parent: aliceCap, now: now() })), 403, 'permission_denied', /not_attenuated.*broader/);
    expectError(await post(grant(root, bob, { nbf: now() - 3 * HOUR, exp: now() - 2 * HOUR, now: now() })), 403, 'permission_denied', /expired/);
    expectError(await post(grant(root, bob, { on: 'a=1,a!=1', now: now() })), 403, 'permission_denied', /can match no host/);
    // The viewer's 403 and the 400 for a body the schema refuses come before the route names its action; the three 400s after are the service's.
    const refused = (await auditOf('capability.register')).filter((r) => r.result === 'error');
    expect(refused.map((r) => (r.details as any).reason ?? (r.details as any).status)).toEqual([
      400,
      400,
      400,
      'bad_signature',
      'unknown_issuer',
      'not_attenuated',
      'not_attenuated',
      'expired',
      'selector_mismatch',
    ]);
  });
});

describe('revocations', () => {
  it('accept a root-signed revocation and mark the capability and its delegations revoked', async () => {
    const victim = grant(root, bob, { can: ['exec/run'], now: now() });
    const child = grant(bob, alice, { can: ['exec/run'], parent: victim, now: now() });
    await kit.call('POST', '/api/v1/capabilities', kit.operator, { capability: victim });
    await kit.call('POST', '/api/v1/capabilities', kit.operator, { capability: child });
    const rev = signRevocation({ v: 1, target: { capability: capabilityId(victim) }, iss: root.did, at: now(), reason: 'laptop lost' }, root.privateKeyPem);
    const res = await kit.call('POST', '/api/v1/revocations', kit.operator, { revocation: rev });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ target: { capability: capabilityId(victim) }, iss: root.did, reason: 'laptop lost', revocation: rev });
    expect((await kit.call('POST', '/api/v1/revocations', kit.operator, { revocation: rev })).status).toBe(200);
    const caps = (await kit.call('GET', '/api/v1/capabilities', kit.viewer)).body.items;
    const byId = (c: Capability) => caps.find((x: any) => x.id === capabilityId(c));
    expect([byId(victim).revoked, byId(victim).state, byId(child).revoked]).toEqual([true, 'revoked', true]);
    expect(kit.trust.capabilities.isRevoked(capabilityId(victim), 'did:key:zOther')).toBe(true);
    const [record] = (await auditOf('revocation.add')).filter((r) => r.result === 'ok');
    expect(record).toMatchObject({ target: capabilityId(victim), details: { signer: root.did, authority: 'root', chain: [capabilityId(victim)] } });
  });

  it("accept a revocation by the capability's own issuer and a key revoking itself", async () => {
    const parent = grant(root, alice, { can: ['exec/run'], now: now() });
    const delegated = grant(alice, bob, { can: ['exec/run'], parent, now: now() });
    await kit.call('POST', '/api/v1/capabilities', kit.operator, { capability: parent });
    await kit.call('POST', '/api/v1/capabilities', kit.operator, { capability: delegated });
    const byIssuer = signRevocation({ v: 1, target: { capability: capabilityId(delegated) }, iss: alice.did, at: now(), reason: 'done' }, alice.privateKeyPem);
    expect((await kit.call('POST', '/api/v1/revocations', kit.operator, { revocation: byIssuer })).status).toBe(201);
    const self = signRevocation({ v: 1, target: { did: stranger.did }, iss: stranger.did, at: now(), reason: 'key compromised' }, stranger.privateKeyPem);
    expect((await kit.call('POST', '/api/v1/revocations', kit.operator, { revocation: self })).status).toBe(201);
    const list = (await kit.call('GET', '/api/v1/revocations', kit.viewer)).body.items;
    expect(list.map((r: any) => r.iss)).toEqual([root.did, alice.did, stranger.did]);
    // The repeat of the root's revocation is recorded too, as changing nothing.
    const details = (await auditOf('revocation.add')).filter((r) => r.result === 'ok').map((r) => [(r.details as any).authority, (r.details as any).created]);
    expect(details).toEqual([
      ['root', true],
      ['root', false],
      ['issuer', true],
      ['self', true],
    ]);
  });

  it('refuse garbage, forged signatures and revocations by someone without authority', async () => {
    const post = (revocation: unknown) => kit.call('POST', '/api/v1/revocations', kit.operator, { revocation });
    expectError(await kit.call('POST', '/api/v1/revocations', kit.viewer, { revocation: {} }), 403, 'permission_denied', /operator role/);
    expectError(await post(null), 400, 'invalid_argument', /not a valid revocation/);
    expectError(await post({ v: 1, target: { capability: 'abc' }, iss: root.did, at: now(), reason: '', sig: 'x' }), 400, 'invalid_argument', /target/);
    const someCap = grant(root, alice, { now: now() });
    const forged = {
      ...signRevocation({ v: 1, target: { capability: capabilityId(someCap) }, iss: root.did, at: now(), reason: 'r' }, root.privateKeyPem),
      reason: 'changed',
    };
    expectError(await post(forged), 403, 'permission_denied', /bad_signature/);
    const byStranger = signRevocation(
      { v: 1, target: { capability: capabilityId(someCap) }, iss: stranger.did, at: now(), reason: 'r' },
      stranger.privateKeyPem,
    );
    expectError(await post(byStranger), 403, 'permission_denied', /unknown_issuer.*not registered here/);
    const otherKey = signRevocation({ v: 1, target: { did: alice.did }, iss: bob.did, at: now(), reason: 'r' }, bob.privateKeyPem);
    expectError(await post(otherKey), 403, 'permission_denied', /unknown_issuer/);
    expect((await kit.call('GET', '/api/v1/revocations', kit.viewer)).body.items).toHaveLength(3);
  });
});

describe('server identity', () => {
  it('names the control plane DID, kept in a 0600 file with a warning when no master key is set', async () => {
    const res = await kit.call('GET', '/api/v1/server-identity', kit.viewer);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ did: kit.trust.identity.did, keyStorage: 'file' });
    expect(res.body.did).toMatch(/^did:key:z6Mk/);
    expect(kit.warnings.join('\n')).toMatch(/GPUFLEET_MASTER_KEY is not set/);
    expectError(await kit.call('GET', '/api/v1/server-identity', null), 401, 'unauthenticated', /token/);
  });
});
