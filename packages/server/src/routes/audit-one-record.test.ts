import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capabilityId, generateEd25519, scriptSha256, signLabelAttestation, signRevocation, signRootsUpdate, signScript } from '@gpufleet/protocol';
import { startTestServer, type TestServer } from '../testing/test-server.js';
import { enrollTestNode } from '../testing/protocol-client.js';
import { grant } from '../trust/__tests__/trust-kit.js';

/**
 * Every mutating REST request leaves exactly one audit record (the app's hook writes it), and that
 * record names the domain action and its target: a route or service adds what it knows to it
 * instead of writing a record of its own. Walks every mutating route group on a real server.
 */

let t: TestServer;
const root = generateEd25519();
const root2 = generateEd25519();
const holder = generateEd25519();
const stranger = generateEd25519();

beforeAll(async () => {
  t = await startTestServer();
});
afterAll(() => t.close());

type AuditRow = { id: number; actor: string; action: string; target: string | null; result: string; details: any };

async function records(): Promise<AuditRow[]> {
  return (await t.server.context.store.listAudit({ limit: 10_000 })) as AuditRow[];
}

/**
 * Sends one request and returns the audit records it left. The hook writes its record once the
 * response is sent, after anything a service wrote during the request: wait for that one.
 */
async function call(method: string, path: string, body?: unknown, token?: string) {
  const before = Math.max(0, ...(await records()).map((r) => r.id));
  const res = await t.api(method, path, body, token);
  let mine: AuditRow[] = [];
  for (let i = 0; i < 200; i++) {
    mine = (await records()).filter((r) => r.id > before).sort((a, b) => a.id - b.id);
    if (mine.some((r) => r.details?.status === res.status)) break;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return { res, mine };
}

/** Enrolls a test node, and waits for the record of the join token it made (so no later request counts it). */
async function enroll(hostname: string, tokenBody: object = {}): Promise<string> {
  const tokens = async () => (await records()).filter((r) => r.action === 'join-token.create').length;
  const before = await tokens();
  const did = (await enrollTestNode(t, hostname, tokenBody)).did;
  for (let i = 0; i < 200 && (await tokens()) === before; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  return did;
}

/** Exactly one record for the request, with this action, target and result. */
async function once(method: string, path: string, body: unknown, want: { status: number; action: string; target?: string | null; token?: string }) {
  const { res, mine } = await call(method, path, body, want.token);
  expect(res.status, `${method} ${path}: ${res.text}`).toBe(want.status);
  expect(
    mine.map((r) => `${r.action} ${r.target}`),
    `${method} ${path}`,
  ).toHaveLength(1);
  const [record] = mine;
  expect(record).toMatchObject({ action: want.action, result: want.status < 400 ? 'ok' : 'error', actor: expect.stringMatching(/^token:/) });
  if (want.target !== undefined) expect(record!.target).toBe(want.target);
  expect(record!.details).toMatchObject({ status: want.status, requestId: expect.any(String) });
  return { res, record: record! };
}

describe('one audit record per mutating request', () => {
  it('for API and join tokens', async () => {
    const created = await once('POST', '/api/v1/api-tokens', { name: 'ci', role: 'operator' }, { status: 201, action: 'api-token.create' });
    expect(created.record.target).toBe(created.res.body.id);
    expect(created.record.details).toMatchObject({ name: 'ci', role: 'operator' });
    await once('DELETE', `/api/v1/api-tokens/${created.res.body.id}`, undefined, { status: 204, action: 'api-token.revoke', target: created.res.body.id });

    const join = await once('POST', '/api/v1/join-tokens', { description: 'rack 7' }, { status: 201, action: 'join-token.create' });
    expect(join.record.target).toBe(join.res.body.id);
    await once('DELETE', `/api/v1/join-tokens/${join.res.body.id}`, undefined, { status: 204, action: 'join-token.revoke', target: join.res.body.id });
  });

  it('for fleet roots, capabilities and revocations, refusals included', async () => {
    const init = await once('POST', '/api/v1/roots/init', { did: root.did }, { status: 201, action: 'roots.init', target: root.did });
    expect(init.record.details).toMatchObject({ version: 1, roots: [root.did] });
    await once('POST', '/api/v1/roots/init', { did: root2.did }, { status: 412, action: 'roots.init' });

    const fields = { v: 1 as const, version: 2, roots: [root.did, root2.did], iss: root.did, at: Date.now() };
    const forged = await once(
      'POST',
      '/api/v1/roots/update',
      { update: signRootsUpdate({ ...fields, iss: stranger.did }, stranger.privateKeyPem) },
      { status: 403, action: 'roots.update' },
    );
    expect(forged.record.details).toMatchObject({ signer: stranger.did, reason: 'unknown_issuer', error: expect.stringMatching(/unknown_issuer/) });
    const update = await once('POST', '/api/v1/roots/update', { update: signRootsUpdate(fields, root.privateKeyPem) }, { status: 201, action: 'roots.update' });
    expect(update.record.details).toMatchObject({ signer: root.did, version: 2, roots: [root.did, root2.did] });

    const cap = grant(root, holder, { can: ['exec/script'], now: Date.now() });
    const registered = await once(
      'POST',
      '/api/v1/capabilities',
      { capability: cap },
      { status: 201, action: 'capability.register', target: capabilityId(cap) },
    );
    expect(registered.record.details).toMatchObject({ signer: root.did, audience: holder.did, created: true });
    await once('POST', '/api/v1/capabilities', { capability: cap }, { status: 200, action: 'capability.register', target: capabilityId(cap) });
    const bogus = grant(stranger, holder, { now: Date.now() });
    const refused = await once(
      'POST',
      '/api/v1/capabilities',
      { capability: bogus },
      { status: 403, action: 'capability.register', target: capabilityId(bogus) },
    );
    expect(refused.record.details).toMatchObject({ signer: stranger.did, reason: 'unknown_issuer' });

    const victim = grant(root, generateEd25519(), { can: ['exec/run'], now: Date.now() });
    await once('POST', '/api/v1/capabilities', { capability: victim }, { status: 201, action: 'capability.register', target: capabilityId(victim) });
    const rev = signRevocation(
      { v: 1, target: { capability: capabilityId(victim) }, iss: root.did, at: Date.now(), reason: 'laptop lost' },
      root.privateKeyPem,
    );
    const revoked = await once('POST', '/api/v1/revocations', { revocation: rev }, { status: 201, action: 'revocation.add', target: capabilityId(victim) });
    expect(revoked.record.details).toMatchObject({ signer: root.did, authority: 'root', reason: 'laptop lost' });
    const forgedRev = signRevocation({ v: 1, target: { did: holder.did }, iss: stranger.did, at: Date.now(), reason: 'x' }, stranger.privateKeyPem);
    await once('POST', '/api/v1/revocations', { revocation: forgedRev }, { status: 403, action: 'revocation.add', target: holder.did });
  });

  it('for scripts, refusals included', async () => {
    const content = '#!/bin/sh\nnvidia-smi -q\n';
    const sign = (version: number, key = root) => ({
      name: 'gpu-check',
      content,
      signature: signScript('gpu-check', version, scriptSha256(content), key.privateKeyPem),
    });
    const added = await once('POST', '/api/v1/scripts', sign(1), { status: 201, action: 'script.add', target: 'gpu-check@1' });
    expect(added.record.details).toMatchObject({ signer: root.did, authority: 'root', version: 1, sha256: scriptSha256(content) });
    const byHolder = await once('POST', '/api/v1/scripts', sign(2, holder), { status: 201, action: 'script.add', target: 'gpu-check@2' });
    expect(byHolder.record.details).toMatchObject({ signer: holder.did, authority: 'capability' });
    const wrong = await once('POST', '/api/v1/scripts', sign(2), { status: 409, action: 'script.add', target: 'gpu-check' });
    expect(wrong.record.details).toMatchObject({ reason: 'wrong_version', expected: 3 });
    await once('POST', '/api/v1/scripts', sign(3, stranger), { status: 403, action: 'script.add', target: 'gpu-check' });
    await once('DELETE', '/api/v1/scripts/gpu-check', undefined, { status: 200, action: 'script.remove', target: 'gpu-check' });
    await once('DELETE', '/api/v1/scripts/gpu-check', undefined, { status: 409, action: 'script.remove', target: 'gpu-check' });
  });

  it('for nodes, GPUs, health and label attestations', async () => {
    const node = await enroll('audit-a');
    const cordon = await once('POST', '/api/v1/nodes/audit-a/cordon', { reason: 'maintenance' }, { status: 200, action: 'node.cordon', target: node });
    expect(cordon.record.details).toMatchObject({ hostname: 'audit-a', reason: 'maintenance' });
    await once('POST', '/api/v1/nodes/audit-a/uncordon', undefined, { status: 200, action: 'node.uncordon', target: node });
    await once('POST', '/api/v1/nodes/audit-a/uncordon', undefined, { status: 412, action: 'node.uncordon', target: node });
    await once('PATCH', '/api/v1/nodes/audit-a/labels', { set: { team: 'ml' } }, { status: 200, action: 'node.labels', target: node });
    await once('POST', '/api/v1/nodes/audit-a/gpus/0/cordon', { reason: 'ecc' }, { status: 200, action: 'gpu.cordon', target: node });
    await once('POST', '/api/v1/nodes/audit-a/gpus/0/uncordon', undefined, { status: 200, action: 'gpu.uncordon', target: node });
    await once('POST', '/api/v1/nodes/audit-a/health/clear', { reason: 'fixed' }, { status: 200, action: 'health.clear', target: node });
    await once('POST', '/api/v1/nodes/audit-a/drain', { reason: 'reboot' }, { status: 200, action: 'node.drain', target: node });

    const attestation = signLabelAttestation(
      { v: 1, node, labels: { env: 'prod' }, version: 1, issuedAt: Date.now(), iss: root.did, cap: null },
      root.privateKeyPem,
    );
    const attested = await once('POST', '/api/v1/label-attestations', { attestation }, { status: 201, action: 'label.attest', target: node });
    expect(attested.record.details).toMatchObject({ signer: root.did, version: 1, labels: { env: 'prod' } });
    const stale = await once('POST', '/api/v1/label-attestations', { attestation }, { status: 409, action: 'label.attest', target: node });
    expect(stale.record.details).toMatchObject({ version: 1, error: expect.stringMatching(/next version/) });

    const pending = await enroll('audit-b', { needsApproval: true });
    await once('POST', '/api/v1/nodes/audit-b/approve', undefined, { status: 200, action: 'node.approve', target: pending });
    await once('DELETE', '/api/v1/nodes/audit-b', undefined, { status: 204, action: 'node.remove', target: pending });
  });

  it('for alert silences', async () => {
    const created = await once(
      'POST',
      '/api/v1/silences',
      { matchers: [{ name: 'severity', value: 'critical' }], duration: '2h', comment: 'maintenance' },
      { status: 201, action: 'silence.create' },
    );
    expect(created.record.target).toBe(created.res.body.id);
    await once('DELETE', `/api/v1/silences/${created.res.body.id}`, undefined, { status: 204, action: 'silence.expire', target: created.res.body.id });
  });
});
