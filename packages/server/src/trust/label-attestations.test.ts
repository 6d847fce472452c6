import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FleetError, generateEd25519, signLabelAttestation, type LabelAttestation } from '@gpufleet/protocol';
import { grant, startTrustKit, type TrustKit } from './__tests__/trust-kit.js';
import { LabelAttestations, type LabelNodes } from './label-attestations.js';

/** The server's side of label attestations over a real SQLite store: what it takes, what it refuses. */

const root = generateEd25519();
const alice = generateEd25519();
const node = generateEd25519().did;

let kit: TrustKit;
let labels: LabelAttestations;
let changed: string[];
let user: Record<string, string>;
const nodes: LabelNodes = {
  labelsOf: (id) => (id === node ? { hostname: 'gpu-1', region: 'eu', ...user } : undefined),
  userLabelsOf: (id) => (id === node ? user : undefined),
  async setUserLabels(_id, set, remove) {
    user = { ...user, ...set };
    for (const k of remove) delete user[k];
  },
};

beforeEach(async () => {
  kit = await startTrustKit();
  expect((await kit.call('POST', '/api/v1/roots/init', kit.admin, { did: root.did })).status).toBe(201);
  changed = [];
  user = { rack: 'r1' };
  labels = new LabelAttestations({
    store: kit.store,
    clock: kit.clock,
    roots: () => kit.trust.roots.current(),
    isRevoked: kit.trust.capabilities.isRevoked,
    onChange: (id) => void changed.push(id),
  });
});
afterEach(() => kit.close());

function attest(l: Record<string, string>, version: number, by = root, cap: LabelAttestation['cap'] = null, forNode = node): LabelAttestation {
  return signLabelAttestation({ v: 1, node: forNode, labels: l, version, issuedAt: kit.clock.now(), iss: by.did, cap }, by.privateKeyPem);
}

async function code(work: Promise<unknown>): Promise<string> {
  const err = await work.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FleetError);
  return (err as FleetError).code;
}

describe('LabelAttestations', () => {
  it('takes the next version, makes the operator labels exactly the attested ones, pushes it, and keeps it across a reload', async () => {
    await labels.submit(attest({ env: 'prod', team: 'a' }, 1), kit.audit.as('token:ops'), nodes);
    expect(user).toEqual({ env: 'prod', team: 'a' });
    expect(changed).toEqual([node]);
    const byAlice = attest({ env: 'dev' }, 2, alice, grant(root, alice, { can: ['node/labels'], now: kit.clock.now() }));
    await labels.submit(byAlice, kit.audit.as('token:ops'), nodes);
    expect(user).toEqual({ env: 'dev' });
    const again = new LabelAttestations({ store: kit.store, clock: kit.clock, roots: () => [root.did], isRevoked: () => false, onChange: () => undefined });
    await again.load();
    expect(again.current(node)).toEqual(byAlice);
    // A replica sharing the store sees the change through its stamp.
    const before = again.stamp();
    await labels.submit(attest({ env: 'test' }, 3), kit.audit.as('token:ops'), nodes);
    await again.load();
    expect(again.stamp()).not.toBe(before);
    // Outside a REST request the caller's AuditLog.as(actor) appends one record per submit.
    const records = (await kit.store.listAudit({ action: 'label.attest' })).reverse();
    expect(records.map((r) => [r.actor, r.target, r.result, (r.details as any).version, (r.details as any).signer])).toEqual([
      ['token:ops', node, 'ok', 1, root.did],
      ['token:ops', node, 'ok', 2, alice.did],
      ['token:ops', node, 'ok', 3, root.did],
    ]);
  });

  it('refuses garbage, an unknown node, a skipped or repeated version, forgeries and unknown issuers', async () => {
    expect(await code(labels.submit('x', kit.audit.as('a'), nodes))).toBe('invalid_argument');
    expect(await code(labels.submit(attest({}, 1, root, null, generateEd25519().did), kit.audit.as('a'), nodes))).toBe('not_found');
    expect(await code(labels.submit(attest({ env: 'x' }, 2), kit.audit.as('a'), nodes))).toBe('conflict');
    expect(await code(labels.submit({ ...attest({ env: 'x' }, 1), labels: { env: 'y' } }, kit.audit.as('a'), nodes))).toBe('permission_denied');
    expect(await code(labels.submit(attest({ env: 'x' }, 1, alice), kit.audit.as('a'), nodes))).toBe('permission_denied');
    await labels.submit(attest({ env: 'x' }, 1), kit.audit.as('a'), nodes);
    expect(await code(labels.submit(attest({ env: 'y' }, 1), kit.audit.as('a'), nodes))).toBe('conflict');
    expect(user).toEqual({ env: 'x' });
    // Refusals of a well-formed attestation are recorded with the reason; garbage names no node.
    const refused = (await kit.store.listAudit({ action: 'label.attest' })).reverse().filter((r) => r.result === 'error');
    expect(refused.map((r) => (r.details as any).reason)).toEqual(['not_found', 'conflict', 'bad_signature', 'unknown_issuer', 'conflict']);
  });

  it('refuses unsigned changes that would drift from what the host vouches for', async () => {
    const rec = { id: node, hostname: 'gpu-1', tokenLabels: { region: 'eu' } };
    expect(() => labels.checkUnsignedChange(rec, { team: 'a', region: 'eu' })).not.toThrow();
    expect(() => labels.checkUnsignedChange(rec, { region: 'us' })).toThrow(/comes from its join token/);
    await labels.submit(attest({}, 1), kit.audit.as('a'), nodes);
    expect(() => labels.checkUnsignedChange(rec, { team: 'a' })).toThrow(/attested \(version 1\)/);
  });
});
