import { describe, expect, it } from 'vitest';
import { canonicalJson } from './canonical-json.js';
import { capabilityChain, capabilityId, requirementImplies, selectorNarrows, signCapability, verifyCapability, type CapabilityContext } from './capability.js';
import { generateEd25519, signEd25519, type Ed25519KeyPair } from './ed25519.js';
import { FleetError } from './errors.js';
import { ServerFrame } from './frames.js';
import { capabilityDepthExceeds, type Ability, type Capability } from './remote-ops.js';
import { parseSelector } from './selector.js';

const NOW = Date.parse('2026-03-01T12:00:00Z');
const DAY = 86_400_000;
const root = generateEd25519();
const alice = generateEd25519();
const bob = generateEd25519();
const carol = generateEd25519();
const stranger = generateEd25519();
const host = { region: 'eu', pool: 'inference', 'gpu.model': 'H100' };

interface Grant {
  by: Ed25519KeyPair;
  to: Ed25519KeyPair;
  can?: Ability[];
  on?: string;
  nbf?: number;
  exp?: number;
  parent?: Capability;
}

let nonceCounter = 0;
function grant(g: Grant): Capability {
  return signCapability(
    {
      v: 1,
      iss: g.by.did,
      aud: g.to.did,
      can: g.can ?? ['exec/run'],
      on: g.on ?? 'region=eu',
      nbf: g.nbf ?? NOW - DAY,
      exp: g.exp ?? NOW + DAY,
      nonce: `nonce-${++nonceCounter}-abcdef`,
      prf: g.parent ? [g.parent] : [],
    },
    g.by.privateKeyPem,
  );
}

function ctx(over: Partial<CapabilityContext> = {}): CapabilityContext {
  return { roots: [root.did], now: NOW, isRevoked: () => false, hostLabels: host, ability: 'exec/run', invoker: alice.did, ...over };
}

function reasonOf(cap: Capability, over: Partial<CapabilityContext> = {}): string {
  const v = verifyCapability(cap, ctx(over));
  return v.ok ? 'ok' : v.reason;
}

/** Re-signs a capability after changing fields, bypassing signCapability's checks, so only the intended defect remains. */
function resign(cap: Capability, key: Ed25519KeyPair, change: Partial<Capability>): Capability {
  const { sig: _sig, ...fields } = { ...cap, ...change };
  return { ...fields, sig: signEd25519(key.privateKeyPem, canonicalJson(fields)) };
}

describe('verifyCapability: accepted', () => {
  it('accepts a capability issued by a root to the invoker', () => {
    expect(verifyCapability(grant({ by: root, to: alice }), ctx())).toEqual({ ok: true });
  });

  it('accepts a 2-level delegation chain', () => {
    const a = grant({ by: root, to: alice, can: ['exec/run', 'container/logs'], on: 'region=eu' });
    const b = grant({ by: alice, to: bob, can: ['container/logs'], on: 'region=eu,pool=inference', parent: a });
    expect(verifyCapability(b, ctx({ invoker: bob.did, ability: 'container/logs' }))).toEqual({ ok: true });
  });

  it('accepts a 3-level delegation chain with narrowing time windows', () => {
    const a = grant({ by: root, to: alice, can: ['*'], on: '*', nbf: NOW - 3 * DAY, exp: NOW + 3 * DAY });
    const b = grant({ by: alice, to: bob, can: ['exec/run', 'exec/script'], on: 'region in (eu,us)', nbf: NOW - 2 * DAY, exp: NOW + 2 * DAY, parent: a });
    const c = grant({ by: bob, to: carol, can: ['exec/script'], on: 'region=eu', nbf: NOW - DAY, exp: NOW + DAY, parent: b });
    expect(capabilityChain(c).map((l) => l.aud)).toEqual([alice.did, bob.did, carol.did]);
    expect(verifyCapability(c, ctx({ invoker: carol.did, ability: 'exec/script' }))).toEqual({ ok: true });
  });

  it("accepts any ability under '*', including a child that narrows '*' to one ability", () => {
    const star = grant({ by: root, to: alice, can: ['*'], on: '*' });
    for (const ability of ['exec/run', 'container/restart', 'node/cordon'] as const) expect(reasonOf(star, { ability })).toBe('ok');
    const narrowed = grant({ by: alice, to: bob, can: ['container/restart'], on: 'pool=inference', parent: star });
    expect(reasonOf(narrowed, { invoker: bob.did, ability: 'container/restart' })).toBe('ok');
  });

  it("accepts an empty selector as 'everything' in a parent", () => {
    const parent = grant({ by: root, to: alice, on: '' });
    expect(reasonOf(grant({ by: alice, to: bob, on: 'pool=inference', parent }), { invoker: bob.did })).toBe('ok');
  });

  it('accepts at the skew edges: expired 60 s ago, valid from 60 s ahead', () => {
    expect(reasonOf(grant({ by: root, to: alice, exp: NOW - 60_000 }))).toBe('ok');
    expect(reasonOf(grant({ by: root, to: alice, nbf: NOW + 60_000, exp: NOW + DAY }))).toBe('ok');
  });
});

describe('verifyCapability: refusals', () => {
  it('bad_signature: a forged signature', () => {
    const cap = { ...grant({ by: root, to: alice }), sig: Buffer.alloc(64, 7).toString('base64url') };
    expect(reasonOf(cap)).toBe('bad_signature');
  });

  it('bad_signature: signed by another key than the issuer it claims', () => {
    const forged = resign(grant({ by: stranger, to: alice }), stranger, { iss: root.did });
    const v = verifyCapability(forged, ctx());
    expect(v).toMatchObject({ ok: false, reason: 'bad_signature' });
    expect(!v.ok && v.message).toMatch(/signature/);
  });

  it.each([
    ['iss', { iss: stranger.did }],
    ['aud', { aud: bob.did }],
    ['can', { can: ['*'] }],
    ['on', { on: '*' }],
    ['nbf', { nbf: NOW - 10 * DAY }],
    ['exp', { exp: NOW + 10 * DAY }],
    ['nonce', { nonce: 'another-nonce-123' }],
    ['sig', { sig: grant({ by: root, to: alice }).sig }],
  ] as const)('bad_signature: %s changed after signing', (_field, change) => {
    const cap = { ...grant({ by: root, to: alice }), ...change } as Capability;
    expect(reasonOf(cap)).toBe('bad_signature');
  });

  it('bad_signature: the parent inside a chain swapped or changed after signing', () => {
    const a = grant({ by: root, to: alice, can: ['exec/run'] });
    const b = grant({ by: alice, to: bob, parent: a });
    const otherParent = grant({ by: root, to: alice, can: ['exec/run'] });
    expect(reasonOf({ ...b, prf: [otherParent] }, { invoker: bob.did })).toBe('bad_signature');
    expect(reasonOf({ ...b, prf: [{ ...a, exp: a.exp + 1 }] }, { invoker: bob.did })).toBe('bad_signature');
    expect(reasonOf({ ...b, prf: [] }, { invoker: bob.did })).toBe('bad_signature');
  });

  it('unknown_issuer: a key that is not a root issues a capability with no proof', () => {
    const v = verifyCapability(grant({ by: stranger, to: alice }), ctx());
    expect(v).toMatchObject({ ok: false, reason: 'unknown_issuer' });
    expect(!v.ok && v.message).toMatch(/not a fleet root/);
  });

  it('untrusted_chain: a delegation chain that starts at a key that is not a root', () => {
    const a = grant({ by: stranger, to: alice });
    expect(reasonOf(grant({ by: alice, to: bob, parent: a }), { invoker: bob.did })).toBe('untrusted_chain');
  });

  it('untrusted_chain: a child issued by someone the parent was not delegated to', () => {
    const a = grant({ by: root, to: alice });
    expect(reasonOf(grant({ by: bob, to: carol, parent: a }), { invoker: carol.did })).toBe('untrusted_chain');
  });

  it('untrusted_chain: presented by someone other than its audience', () => {
    const v = verifyCapability(grant({ by: root, to: alice }), ctx({ invoker: bob.did }));
    expect(v).toMatchObject({ ok: false, reason: 'untrusted_chain' });
    expect(!v.ok && v.message).toMatch(/not to the invoker/);
  });

  it('expired: one millisecond past expiry plus skew, with the time in the message', () => {
    const v = verifyCapability(grant({ by: root, to: alice, exp: NOW - 60_001 }), ctx());
    expect(v).toMatchObject({ ok: false, reason: 'expired' });
    expect(!v.ok && v.message).toContain('capability expired at 2026-03-01T11:58:59.999Z');
  });

  it('not_yet_valid: one millisecond before validity minus skew', () => {
    const v = verifyCapability(grant({ by: root, to: alice, nbf: NOW + 60_001, exp: NOW + DAY }), ctx());
    expect(v).toMatchObject({ ok: false, reason: 'not_yet_valid' });
    expect(!v.ok && v.message).toContain('2026-03-01T12:01:00.001Z');
  });

  it('honours a custom skew', () => {
    const cap = grant({ by: root, to: alice, exp: NOW - 1 });
    expect(reasonOf(cap)).toBe('ok');
    expect(reasonOf(cap, { skewMs: 0 })).toBe('expired');
  });

  it('not_attenuated: a child claims an ability its parent lacks', () => {
    const a = grant({ by: root, to: alice, can: ['container/logs'] });
    expect(reasonOf(grant({ by: alice, to: bob, can: ['container/logs', 'exec/run'], parent: a }), { invoker: bob.did })).toBe('not_attenuated');
  });

  it("not_attenuated: a child widens a specific ability to '*'", () => {
    const a = grant({ by: root, to: alice, can: ['exec/run'] });
    expect(reasonOf(grant({ by: alice, to: bob, can: ['*'], parent: a }), { invoker: bob.did })).toBe('not_attenuated');
  });

  it.each([
    ['region=eu', '*'],
    ['region=eu', ''],
    ['region=eu', 'pool=inference'],
    ['region=eu,pool=inference', 'region=eu'],
    ['region in (eu)', 'region in (eu,us)'],
  ])('not_attenuated: parent on %j, child on %j', (parentOn, childOn) => {
    const a = grant({ by: root, to: alice, on: parentOn });
    expect(reasonOf(grant({ by: alice, to: bob, on: childOn, parent: a }), { invoker: bob.did })).toBe('not_attenuated');
  });

  it('not_attenuated: a child valid earlier or longer than its parent', () => {
    const a = grant({ by: root, to: alice, nbf: NOW - DAY, exp: NOW + DAY });
    expect(reasonOf(grant({ by: alice, to: bob, nbf: NOW - 2 * DAY, exp: NOW + DAY, parent: a }), { invoker: bob.did })).toBe('not_attenuated');
    const v = verifyCapability(grant({ by: alice, to: bob, nbf: NOW - DAY, exp: NOW + 2 * DAY, parent: a }), ctx({ invoker: bob.did }));
    expect(v).toMatchObject({ ok: false, reason: 'not_attenuated' });
    expect(!v.ok && v.message).toMatch(/after its parent/);
  });

  it('selector_mismatch: this host is not selected', () => {
    const v = verifyCapability(grant({ by: root, to: alice, on: 'region=us' }), ctx());
    expect(v).toMatchObject({ ok: false, reason: 'selector_mismatch' });
    expect(!v.ok && v.message).toContain("'region=us'");
  });

  it('ability_not_granted: the ability asked for is not in the capability', () => {
    const cap = grant({ by: root, to: alice, can: ['container/logs'] });
    expect(reasonOf(cap, { ability: 'container/logs' })).toBe('ok');
    expect(reasonOf(cap, { ability: 'exec/run' })).toBe('ability_not_granted');
  });

  it('revoked: the capability id is revoked', () => {
    const cap = grant({ by: root, to: alice });
    const id = capabilityId(cap);
    expect(reasonOf(cap, { isRevoked: (capId) => capId === id })).toBe('revoked');
  });

  it("revoked: a parent's id, an intermediate issuer's did, or the invoker's did", () => {
    const a = grant({ by: root, to: alice });
    const b = grant({ by: alice, to: bob, parent: a });
    const parentId = capabilityId(a);
    expect(reasonOf(b, { invoker: bob.did })).toBe('ok');
    expect(reasonOf(b, { invoker: bob.did, isRevoked: (capId) => capId === parentId })).toBe('revoked');
    expect(reasonOf(b, { invoker: bob.did, isRevoked: (_c, did) => did === alice.did })).toBe('revoked');
    expect(reasonOf(b, { invoker: bob.did, isRevoked: (_c, did) => did === bob.did })).toBe('revoked');
  });

  it.each([
    ['null', null],
    ['a string', 'cap'],
    ['an empty object', {}],
    ['an unknown field', { extra: 1 }],
    ['an unknown ability', { can: ['exec/sudo'] }],
    ['no abilities', { can: [] }],
    ['a non-did issuer', { iss: 'alice' }],
    ['two parents', { prf: [1, 2] }],
    ['a fractional time', { exp: NOW + 0.5 }],
  ])('malformed: %s', (_name, change) => {
    const base = grant({ by: root, to: alice });
    const cap = (change !== null && typeof change === 'object' && Object.keys(change).length ? { ...base, ...change } : change) as Capability;
    expect(reasonOf(cap)).toBe('malformed');
  });

  it('malformed: expires before it becomes valid, or carries an unparseable selector', () => {
    const base = grant({ by: root, to: alice });
    expect(reasonOf(resign(base, root, { nbf: NOW, exp: NOW - 1 }))).toBe('malformed');
    expect(reasonOf(resign(base, root, { on: 'region in (eu' }))).toBe('malformed');
  });

  it('malformed: a chain deeper than 8 links; 8 links pass', () => {
    const keys = [root, ...Array.from({ length: 9 }, () => generateEd25519())];
    let cap = grant({ by: keys[0]!, to: keys[1]! });
    for (let i = 1; i < 8; i++) cap = grant({ by: keys[i]!, to: keys[i + 1]!, parent: cap });
    expect(capabilityChain(cap)).toHaveLength(8);
    expect(reasonOf(cap, { invoker: keys[8]!.did })).toBe('ok');
    expect(() => grant({ by: keys[8]!, to: keys[9]!, parent: cap })).toThrow(/deeper than 8/);
    const nine = resign(cap, keys[8]!, { iss: keys[8]!.did, aud: keys[9]!.did, prf: [cap] });
    expect(capabilityDepthExceeds(nine)).toBe(true);
    expect(reasonOf(nine, { invoker: keys[9]!.did })).toBe('malformed');
  });

  it('malformed, not a crash: a garbage chain nested 100,000 deep, also for the schema inside a frame', () => {
    let deep: unknown = { prf: [] };
    for (let i = 0; i < 100_000; i++) deep = { prf: [deep] };
    expect(reasonOf(deep as Capability)).toBe('malformed');
    const frame = { t: 'command', body: { command: { payload: { capability: deep }, sig: 'x' }, scriptContent: null, scriptSignature: null } };
    expect(ServerFrame.safeParse(frame).success).toBe(false);
  });
});

describe('signCapability and capabilityId', () => {
  it('refuses to sign with a key that is not the issuer', () => {
    const { sig: _s, ...fields } = grant({ by: root, to: alice });
    expect(() => signCapability(fields, alice.privateKeyPem)).toThrow(/issuer/);
  });

  it('refuses invalid fields', () => {
    const { sig: _s, ...fields } = grant({ by: root, to: alice });
    expect(() => signCapability({ ...fields, nonce: 'short' }, root.privateKeyPem)).toThrow(FleetError);
    expect(() => signCapability({ ...fields, exp: fields.nbf - 1 }, root.privateKeyPem)).toThrow(/expires before/);
    expect(() => signCapability({ ...fields, on: 'region in (eu' }, root.privateKeyPem)).toThrow(/selector/);
  });

  it('ids are sha256 hex of the whole signed capability, independent of member order', () => {
    const cap = grant({ by: root, to: alice });
    const reordered = Object.fromEntries(Object.entries(cap).reverse()) as Capability;
    expect(capabilityId(cap)).toMatch(/^[0-9a-f]{64}$/);
    expect(capabilityId(reordered)).toBe(capabilityId(cap));
    expect(capabilityId({ ...cap, sig: grant({ by: root, to: alice }).sig })).not.toBe(capabilityId(cap));
  });
});

describe('selector narrowing', () => {
  it.each([
    ['*', 'region=eu', true],
    ['', '', true],
    ['region=eu', 'region=eu', true],
    ['region=eu', 'region==eu', true],
    ['region=eu', 'pool=a, region=eu', true],
    ['region=eu', 'region in (eu)', true],
    ['region in (eu,us)', 'region=eu', true],
    ['region in (eu,us)', 'region in (us,eu)', true],
    ['region in (eu,us)', 'region in (us)', true],
    ['region in (eu,us)', 'region in (us,ap)', false],
    ['region', 'region=eu', true],
    ['region', '!region', false],
    ['!spot', '!spot', true],
    ['!spot', 'spot=false', false],
    ['region!=us', 'region=eu', true],
    ['region!=us', 'region=us', false],
    ['region!=us', 'region notin (us,ap)', true],
    ['region notin (us,ap)', 'region notin (ap,us,cn)', true],
    ['region notin (us,ap)', 'region notin (us)', false],
    ['region notin (us,ap)', 'region=eu', true],
    ['region notin (us,ap)', 'region in (eu,cn)', true],
    ['region notin (us,ap)', 'region in (eu,us)', false],
    ['region=eu', '*', false],
    ['region=eu', 'zone=eu', false],
    ['region=eu,pool=a', 'region=eu', false],
  ])('parent %j, child %j: narrower-or-equal = %s', (parent, child, expected) => {
    expect(selectorNarrows(parseSelector(child), parseSelector(parent))).toBe(expected);
  });

  it('never calls a requirement on another key narrower', () => {
    expect(requirementImplies({ key: 'a', op: 'notexists' }, { key: 'b', op: 'notexists' })).toBe(false);
  });
});
