import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { capabilityId, generateEd25519, ServerFrame, signRevocation, signRootsUpdate, type Revocation } from '@gpufleet/protocol';
import { grant, HOUR, startTrustKit, type TrustKit } from './__tests__/trust-kit.js';
import { TrustDistribution, type TrustSender } from './trust-distribution.js';
import type { RevocationRecord } from '../store/store.js';

/** Trust frames: what they carry, when they go out, and the control plane's delegated capabilities. */

class FakeGateway implements TrustSender {
  sent: { nodeId: string; frame: ServerFrame }[] = [];
  constructor(public connected: string[]) {}
  sendToNode(nodeId: string, frame: ServerFrame): boolean {
    if (!this.connected.includes(nodeId)) return false;
    this.sent.push({ nodeId, frame: ServerFrame.parse(JSON.parse(JSON.stringify(frame))) });
    return true;
  }
  connectedNodeIds(): string[] {
    return [...this.connected];
  }
}

let kit: TrustKit;
let gateway: FakeGateway;
const root = generateEd25519();
const root2 = generateEd25519();
const alice = generateEd25519();

beforeEach(async () => {
  kit = await startTrustKit();
  gateway = new FakeGateway(['did:key:z6MkNodeA', 'did:key:z6MkNodeB']);
  kit.trust.attachGateway(gateway);
});
afterEach(() => kit.close());

describe('trust frames', () => {
  it('carry every signed roots update in version order and every revocation, to each new session', async () => {
    await kit.call('POST', '/api/v1/roots/init', kit.admin, { did: root.did });
    const u2 = signRootsUpdate({ v: 1, version: 2, roots: [root.did, root2.did], iss: root.did, at: kit.clock.now() }, root.privateKeyPem);
    const u3 = signRootsUpdate({ v: 1, version: 3, roots: [root2.did], iss: root2.did, at: kit.clock.now() }, root2.privateKeyPem);
    expect((await kit.call('POST', '/api/v1/roots/update', kit.admin, { update: u2 })).status).toBe(201);
    expect((await kit.call('POST', '/api/v1/roots/update', kit.admin, { update: u3 })).status).toBe(201);
    const cap = grant(root2, alice, { can: ['exec/run'], now: kit.clock.now() });
    const rev = signRevocation({ v: 1, target: { capability: capabilityId(cap) }, iss: root2.did, at: kit.clock.now(), reason: 'r' }, root2.privateKeyPem);
    expect((await kit.call('POST', '/api/v1/revocations', kit.operator, { revocation: rev })).status).toBe(201);

    gateway.sent = [];
    kit.trust.onSessionReady('did:key:z6MkNodeA');
    expect(gateway.sent).toEqual([{ nodeId: 'did:key:z6MkNodeA', frame: { t: 'trust', body: { roots: [u2, u3], revocations: [rev] } } }]);
    expect(kit.trust.distribution.trustFrameFor('did:key:z6MkNodeB')).toEqual({ t: 'trust', body: { roots: [u2, u3], revocations: [rev] } });
  });

  it('every change of roots (init included) and every revocation is announced on the hub for the other replicas; refusals are not', async () => {
    const trustEvents = () => kit.hubEvents.filter((e) => e.type === 'trust').length;
    await kit.call('POST', '/api/v1/roots/init', kit.admin, { did: root.did });
    expect(trustEvents()).toBe(1);
    const u2 = signRootsUpdate({ v: 1, version: 2, roots: [root.did, root2.did], iss: root.did, at: kit.clock.now() }, root.privateKeyPem);
    expect((await kit.call('POST', '/api/v1/roots/update', kit.admin, { update: u2 })).status).toBe(201);
    expect(trustEvents()).toBe(2);
    expect((await kit.call('POST', '/api/v1/roots/update', kit.admin, { update: u2 })).status).not.toBe(201);
    expect((await kit.call('POST', '/api/v1/roots/init', kit.admin, { did: root2.did })).status).not.toBe(201);
    expect(trustEvents()).toBe(2);
    const cap = grant(root, alice, { can: ['exec/run'], now: kit.clock.now() });
    const rev = signRevocation({ v: 1, target: { capability: capabilityId(cap) }, iss: root.did, at: kit.clock.now(), reason: 'r' }, root.privateKeyPem);
    expect((await kit.call('POST', '/api/v1/revocations', kit.operator, { revocation: rev })).status).toBe(201);
    expect(trustEvents()).toBe(3);
  });

  it('go to every connected session when a roots update or a revocation arrives, and not on refusals', async () => {
    await kit.call('POST', '/api/v1/roots/init', kit.admin, { did: root.did });
    expect(gateway.sent).toEqual([]);
    const u2 = signRootsUpdate({ v: 1, version: 2, roots: [root2.did], iss: root.did, at: kit.clock.now() }, root.privateKeyPem);
    await kit.call('POST', '/api/v1/roots/update', kit.admin, { update: u2 });
    expect(gateway.sent.map((s) => [s.nodeId, s.frame.t])).toEqual([
      ['did:key:z6MkNodeA', 'trust'],
      ['did:key:z6MkNodeB', 'trust'],
    ]);

    gateway.sent = [];
    const forged = signRevocation({ v: 1, target: { did: alice.did }, iss: root.did, at: kit.clock.now(), reason: 'r' }, root.privateKeyPem); // root is no longer a root
    expect((await kit.call('POST', '/api/v1/revocations', kit.operator, { revocation: forged })).status).toBe(403);
    expect(gateway.sent).toEqual([]);
    gateway.connected = ['did:key:z6MkNodeB'];
    const rev = signRevocation({ v: 1, target: { did: alice.did }, iss: root2.did, at: kit.clock.now(), reason: 'r' }, root2.privateKeyPem);
    await kit.call('POST', '/api/v1/revocations', kit.operator, { revocation: rev });
    expect(gateway.sent.map((s) => s.nodeId)).toEqual(['did:key:z6MkNodeB']);
    expect(gateway.sent[0]!.frame).toEqual({ t: 'trust', body: { roots: [u2], revocations: [rev] } });
  });

  it('stay within the frame size agents accept, keeping the newest revocations, and drop long-expired ones', () => {
    const log: string[] = [];
    const rev = (i: number): RevocationRecord => {
      const target = i.toString(16).padStart(64, '0');
      const r = signRevocation({ v: 1, target: { capability: target }, iss: root.did, at: i, reason: 'x'.repeat(100) }, root.privateKeyPem);
      return { id: String(i), targetKind: 'capability', target, iss: root.did, at: i, revocation: r, addedAt: i, addedBy: 't' };
    };
    const all = Array.from({ length: 50 }, (_, i) => rev(i + 1));
    const size = JSON.stringify(all[0]!.revocation).length;
    const dist = new TrustDistribution({
      rootsUpdates: () => [],
      revocations: () => all,
      capabilityExpiry: (id) => (id === all[49]!.target ? 0 : undefined),
      labelAttestation: () => undefined,
      clock: { now: () => 10 * HOUR },
      log: { warn: (_o, m) => void log.push(m) },
      maxFrameBytes: 100 + size * 10.5,
    });
    const frame = dist.trustFrameFor('n');
    const kept = frame.body.revocations.map((r: Revocation) => r.at);
    // Newest first until full, in original order; #50 is left out: its capability expired long ago.
    expect(kept).toEqual([39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49].slice(-kept.length));
    expect(kept.length).toBeGreaterThanOrEqual(9);
    expect(kept).not.toContain(50);
    expect(Buffer.byteLength(JSON.stringify(frame))).toBeLessThanOrEqual(100 + size * 10.5 + 200);
    expect(log).toEqual(['trust frame is full: the oldest revocations were left out']);
  });
});

describe('capabilities delegated to the control plane', () => {
  it('are found for the ability and host they allow, and not once revoked', async () => {
    await kit.call('POST', '/api/v1/roots/init', kit.admin, { did: root.did });
    const serverDid = (await kit.call('GET', '/api/v1/server-identity', kit.viewer)).body.did;
    expect(serverDid).toBe(kit.trust.serverSigner().did);
    const cap = grant(root, { did: serverDid }, { can: ['container/restart'], on: 'pool=inference', now: kit.clock.now() });
    expect((await kit.call('POST', '/api/v1/capabilities', kit.operator, { capability: cap })).status).toBe(201);
    expect(await kit.trust.capabilityFor('container/restart', { pool: 'inference', region: 'eu' })).toEqual(cap);
    expect(await kit.trust.capabilityFor('container/restart', { pool: 'training' })).toBeNull();
    expect(await kit.trust.capabilityFor('exec/run', { pool: 'inference' })).toBeNull();
    const rev = signRevocation({ v: 1, target: { capability: capabilityId(cap) }, iss: root.did, at: kit.clock.now(), reason: 'r' }, root.privateKeyPem);
    await kit.call('POST', '/api/v1/revocations', kit.operator, { revocation: rev });
    expect(await kit.trust.capabilityFor('container/restart', { pool: 'inference' })).toBeNull();
  });
});

describe('refresh', () => {
  it('picks up what another replica wrote to the shared store and pushes it to connected agents', async () => {
    await kit.call('POST', '/api/v1/roots/init', kit.admin, { did: root.did });
    expect(await kit.trust.refresh()).toBe(false);
    // Another replica's write: straight into the store, behind this one's cache.
    const u2 = signRootsUpdate({ v: 1, version: 2, roots: [root2.did], iss: root.did, at: kit.clock.now() }, root.privateKeyPem);
    await kit.store.insertRootsVersion({ version: 2, roots: [root2.did], update: u2, actor: 'replica-b', at: kit.clock.now() });
    expect(kit.trust.currentRoots()).toEqual([root.did]);
    expect(await kit.trust.refresh()).toBe(true);
    expect(kit.trust.currentRoots()).toEqual([root2.did]);
    expect(gateway.sent.map((s) => [s.nodeId, s.frame.t])).toEqual([
      ['did:key:z6MkNodeA', 'trust'],
      ['did:key:z6MkNodeB', 'trust'],
    ]);
    expect((await kit.call('GET', '/api/v1/roots', kit.viewer)).body.version).toBe(2);
  });
});
