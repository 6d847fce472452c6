import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enrollmentMessage, generateEd25519, signEd25519 } from '@gpufleet/protocol';
import { startTestServer, type TestServer } from '../testing/test-server.js';
import { testGpu, testHostFacts } from '../testing/fake-host.js';
import { ProtocolClient, tokenParts } from '../testing/protocol-client.js';

/** Issue 9, item 5: a hostname is unique among live nodes, so a reusable token cannot pose as another host. */
let t: TestServer;
let tokenId: string;
let secret: string;

beforeAll(async () => {
  t = await startTestServer();
  const res = await t.api('POST', '/api/v1/join-tokens', { reusable: true });
  [tokenId, secret] = tokenParts(res.body.token);
});
afterAll(() => t?.close());

function enroll(hostname: string, key = generateEd25519()) {
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

describe('unique hostnames among live nodes', () => {
  it('refuses a second key claiming a live hostname, says who holds it, and audits the attempt', async () => {
    const first = generateEd25519();
    expect((await enroll('gpu-01', first)).status).toBe(201);
    const impostor = generateEd25519();
    const res = await enroll('gpu-01', impostor);
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('already_exists');
    expect(res.body.error.message).toContain(`hostname 'gpu-01' belongs to node ${first.did}`);
    expect(res.body.error.message).toContain('gpufleet nodes rm');
    const nodes = (await t.api('GET', '/api/v1/nodes?limit=100')).body.items as Array<{ id: string; hostname: string }>;
    expect(nodes.filter((n) => n.hostname === 'gpu-01').map((n) => n.id)).toEqual([first.did]);
    const audit = (await t.api('GET', '/api/v1/audit?action=node.enroll')).body.items as Array<{
      target: string;
      result: string;
      details: Record<string, unknown>;
    }>;
    expect(audit.find((a) => a.target === impostor.did)).toMatchObject({
      result: 'error',
      details: { hostname: 'gpu-01', reason: 'hostname_taken', heldBy: first.did },
    });
  });

  it('lets the same key join again under its own hostname', async () => {
    const key = generateEd25519();
    expect((await enroll('gpu-02', key)).status).toBe(201);
    expect((await enroll('gpu-02', key)).status).toBe(201);
  });

  it('two new hosts racing for one hostname: exactly one wins', async () => {
    const results = await Promise.all([enroll('gpu-race'), enroll('gpu-race'), enroll('gpu-race')]);
    expect(results.map((r) => r.status).sort()).toEqual([201, 409, 409]);
  });

  it('frees the hostname once its node is removed (a re-imaged host with a new key)', async () => {
    const old = generateEd25519();
    expect((await enroll('gpu-03', old)).status).toBe(201);
    expect((await t.api('DELETE', `/api/v1/nodes/${encodeURIComponent(old.did)}`)).status).toBeLessThan(300);
    expect((await enroll('gpu-03')).status).toBe(201);
  });

  it('a host that renames itself onto a live hostname keeps its own, in the node view and in selectors', async () => {
    const real = generateEd25519();
    const other = generateEd25519();
    expect((await enroll('gpu-10', real)).status).toBe(201);
    expect((await enroll('quiet-host', other)).status).toBe(201);
    const c = await ProtocolClient.connect(t.url);
    try {
      expect((await c.hello(other)).t).toBe('welcome');
      c.send({ t: 'inventory', seq: 1, body: { host: testHostFacts('gpu-10'), gpus: [testGpu(0)], toolFailures: [] } });
      await c.next((f) => f.t === 'ack' && f.body.seq === 1);
    } finally {
      c.close();
    }
    const view = (await t.api('GET', `/api/v1/nodes/${encodeURIComponent(other.did)}`)).body;
    expect(view.hostname).toBe('quiet-host');
    const selected = (await t.api('GET', '/api/v1/nodes?selector=hostname%3Dgpu-10')).body.items as Array<{ id: string }>;
    expect(selected.map((n) => n.id)).toEqual([real.did]);
  });
});
