import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enrollmentMessage, generateEd25519, signEd25519 } from '@gpufleet/protocol';
import { ManualClock, startTestServer, type TestServer } from '../testing/test-server.js';
import { testGpu, testHostFacts } from '../testing/fake-host.js';
import { tokenParts } from '../testing/protocol-client.js';

let t: TestServer;
const clock = new ManualClock();

beforeAll(async () => {
  t = await startTestServer({}, { clock });
});
afterAll(() => t.close());

async function token(body: object = {}): Promise<[string, string]> {
  const res = await t.api('POST', '/api/v1/join-tokens', body);
  expect(res.status).toBe(201);
  expect(res.body.token).toMatch(/^gfj1\./);
  return tokenParts(res.body.token);
}

function enroll(tokenId: string, secret: string, key = generateEd25519(), hostname = `h-${Math.random().toString(36).slice(2, 8)}`) {
  return t.api(
    'POST',
    '/api/v1/enroll',
    {
      tokenId,
      secret,
      nodeId: key.did,
      signature: signEd25519(key.privateKeyPem, enrollmentMessage(tokenId, key.did)),
      host: testHostFacts(hostname),
      gpus: [testGpu(0)],
    },
    null,
  );
}

describe('enrollment', () => {
  it('enrolls with a single-use token once, then refuses the token', async () => {
    const [id, secret] = await token();
    const ok = await enroll(id, secret);
    expect(ok.status).toBe(201);
    expect(ok.body.status).toBe('READY');
    const again = await enroll(id, secret);
    expect(again.status).toBe(403);
    expect(again.body.error.message).toMatch(/single-use and has already been used/);
    const list = (await t.api('GET', '/api/v1/join-tokens')).body.items;
    expect(list.find((x: any) => x.id === id)).toMatchObject({ uses: 1, state: 'used' });
  });

  it('lets two hosts race for a single-use token: exactly one wins', async () => {
    const [id, secret] = await token();
    const results = await Promise.all([enroll(id, secret), enroll(id, secret), enroll(id, secret)]);
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
  });

  it('accepts a reusable token many times and applies its labels', async () => {
    const [id, secret] = await token({ reusable: true, labels: { pool: 'train' } });
    for (let i = 0; i < 3; i++) expect((await enroll(id, secret, generateEd25519(), `pool-${i}`)).status).toBe(201);
    expect((await t.api('GET', '/api/v1/nodes?selector=pool%3Dtrain')).body.total).toBe(3);
  });

  it('puts nodes from a needs-approval token in PENDING until approved', async () => {
    const [id, secret] = await token({ needsApproval: true });
    const res = await enroll(id, secret, generateEd25519(), 'waiting-host');
    expect(res.body.status).toBe('PENDING');
    expect((await t.api('GET', '/api/v1/nodes/waiting-host')).body.status).toBe('PENDING');
    expect((await t.api('POST', '/api/v1/nodes/waiting-host/approve')).body.status).toBe('OFFLINE');
  });

  it('refuses an expired token', async () => {
    const [id, secret] = await token({ expiresIn: '1h' });
    clock.advance(3_600_001);
    const res = await enroll(id, secret);
    expect(res.status).toBe(403);
    expect(res.body.error.message).toMatch(/expired at/);
  });

  it('refuses a revoked token', async () => {
    const [id, secret] = await token({ reusable: true });
    expect((await t.api('DELETE', `/api/v1/join-tokens/${id}`)).status).toBe(204);
    const res = await enroll(id, secret);
    expect(res.status).toBe(403);
    expect(res.body.error.message).toMatch(/revoked/);
  });

  it('refuses a tampered token and an unknown one', async () => {
    const [id, secret] = await token();
    const tampered = await enroll(id, `${secret.slice(0, -2)}xx`);
    expect(tampered.status).toBe(401);
    expect(tampered.body.error.message).toMatch(/altered or mistyped/);
    const unknown = await enroll('000000000000', secret);
    expect(unknown.status).toBe(401);
    expect(unknown.body.error.message).toMatch(/not recognised/);
  });

  it('refuses a signature by another key than the one presented', async () => {
    const [id, secret] = await token();
    const key = generateEd25519();
    const other = generateEd25519();
    const res = await t.api(
      'POST',
      '/api/v1/enroll',
      {
        tokenId: id,
        secret,
        nodeId: key.did,
        signature: signEd25519(other.privateKeyPem, enrollmentMessage(id, key.did)),
        host: testHostFacts('forger'),
        gpus: [],
      },
      null,
    );
    expect(res.status).toBe(401);
    expect(res.body.error.message).toMatch(/signature does not verify/);
  });

  it('refuses a removed node that tries to join again with its old key', async () => {
    const [id, secret] = await token({ reusable: true });
    const key = generateEd25519();
    expect((await enroll(id, secret, key, 'gone-host')).status).toBe(201);
    expect((await t.api('DELETE', '/api/v1/nodes/gone-host')).status).toBe(204);
    const res = await enroll(id, secret, key, 'gone-host');
    expect(res.status).toBe(403);
    expect(res.body.error.message).toMatch(/removed from the fleet/);
  });

  it("applies labels the host asks for, under the token's, and refuses built-in keys", async () => {
    const [id, secret] = await token({ reusable: true, labels: { region: 'eu' } });
    const key = generateEd25519();
    const body = (labels: object) => ({
      tokenId: id,
      secret,
      nodeId: key.did,
      signature: signEd25519(key.privateKeyPem, enrollmentMessage(id, key.did)),
      host: testHostFacts('asks-labels'),
      gpus: [],
      labels,
    });
    const refused = await t.api('POST', '/api/v1/enroll', body({ 'gpu.model': 'B200' }), null);
    expect(refused.status).toBe(400);
    expect(refused.body.error.message).toMatch(/'gpu.model' is built in/);
    expect((await t.api('POST', '/api/v1/enroll', body({ rack: 'r12', region: 'us' }), null)).status).toBe(201);
    expect((await t.api('GET', '/api/v1/nodes/asks-labels')).body.labels).toMatchObject({ rack: 'r12', region: 'eu' });
  });

  it('records enrollment in the audit log', async () => {
    const items = (await t.api('GET', '/api/v1/audit?action=node.enroll')).body.items;
    expect(items.length).toBeGreaterThanOrEqual(5);
    expect(items[0].actor).toMatch(/^node:did:key:z6Mk/);
  });
});
