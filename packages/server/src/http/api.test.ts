import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../testing/test-server.js';
import { enrollTestNode } from '../testing/protocol-client.js';

let t: TestServer;
let viewer: string;
let operator: string;

beforeAll(async () => {
  t = await startTestServer();
  viewer = (await t.api('POST', '/api/v1/api-tokens', { name: 'v', role: 'viewer' })).body.token;
  operator = (await t.api('POST', '/api/v1/api-tokens', { name: 'o', role: 'operator' })).body.token;
  await enrollTestNode(t, 'gpu-a', { labels: { region: 'eu' } });
  await enrollTestNode(t, 'gpu-b', { labels: { region: 'us' } });
});
afterAll(() => t.close());

function expectError(res: { status: number; body: any }, status: number, code: string, message?: RegExp) {
  expect(res.status).toBe(status);
  expect(res.body.error.code).toBe(code);
  expect(typeof res.body.error.message).toBe('string');
  if (message) expect(res.body.error.message).toMatch(message);
}

describe('REST API', () => {
  it('serves health, readiness and OpenAPI without a token', async () => {
    expect((await t.api('GET', '/healthz', undefined, null)).body).toEqual({ status: 'ok' });
    expect((await t.api('GET', '/readyz', undefined, null)).body.status).toBe('ready');
    const spec = await t.api('GET', '/openapi.json', undefined, null);
    expect(spec.body.openapi).toMatch(/^3\./);
    expect(Object.keys(spec.body.paths)).toEqual(expect.arrayContaining(['/api/v1/nodes', '/api/v1/join-tokens', '/api/v1/enroll']));
  });

  it('writes the first admin token 0600 into the data dir', async () => {
    const { statSync, readFileSync } = await import('node:fs');
    const file = `${t.dataDir}/admin-token`;
    expect(readFileSync(file, 'utf8').trim()).toBe(t.adminToken);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('lists nodes with built-in and token labels, filters by selector', async () => {
    const all = await t.api('GET', '/api/v1/nodes');
    expect(all.body.total).toBe(2);
    const a = all.body.items.find((n: any) => n.hostname === 'gpu-a');
    expect(a.labels).toMatchObject({ hostname: 'gpu-a', region: 'eu', 'gpu.vendor': 'nvidia', 'gpu.model': 'H100', 'gpu.count': '2' });
    expect(a.status).toBe('OFFLINE');
    const eu = await t.api('GET', `/api/v1/nodes?selector=${encodeURIComponent('region in (eu),gpu.model=H100')}`);
    expect(eu.body.items.map((n: any) => n.hostname)).toEqual(['gpu-a']);
    expect((await t.api('GET', '/api/v1/nodes/gpu-b')).body.labels.region).toBe('us');
  });

  it('resolves nodes by id prefix and refuses ambiguous or unknown refs', async () => {
    const a = (await t.api('GET', '/api/v1/nodes/gpu-a')).body;
    expect((await t.api('GET', `/api/v1/nodes/${a.id.slice(8, 24)}`)).body.hostname).toBe('gpu-a');
    expectError(await t.api('GET', '/api/v1/nodes/z6Mk'), 409, 'conflict', /matches 2 nodes/);
    expectError(await t.api('GET', '/api/v1/nodes/nope'), 404, 'not_found', /no node 'nope'/);
  });

  it('labels, cordons and uncordons with the operator role and audits it', async () => {
    const labelled = await t.api('PATCH', '/api/v1/nodes/gpu-a/labels', { set: { team: 'ml' } }, operator);
    expect(labelled.body.labels.team).toBe('ml');
    const removed = await t.api('PATCH', '/api/v1/nodes/gpu-a/labels', { remove: ['team'] }, operator);
    expect(removed.body.labels.team).toBeUndefined();
    expect((await t.api('POST', '/api/v1/nodes/gpu-a/cordon', { reason: 'maintenance' }, operator)).status).toBe(200);
    expectError(await t.api('POST', '/api/v1/nodes/gpu-a/cordon', {}, viewer), 403, 'permission_denied', /operator role/);
    expect((await t.api('POST', '/api/v1/nodes/gpu-a/uncordon', undefined, operator)).status).toBe(200);
    expectError(await t.api('POST', '/api/v1/nodes/gpu-a/uncordon', undefined, operator), 412, 'failed_precondition', /not CORDONED/);
    const audit = await t.api('GET', '/api/v1/audit?limit=50');
    const actions = audit.body.items.map((a: any) => `${a.action} ${a.result}`);
    expect(actions).toEqual(
      expect.arrayContaining(['node.cordon ok', 'POST /api/v1/nodes/:ref/cordon error', 'node.uncordon error', 'node.labels ok', 'node.enroll ok']),
    );
  });

  it('refuses built-in label keys', async () => {
    expectError(await t.api('PATCH', '/api/v1/nodes/gpu-a/labels', { set: { 'gpu.model': 'fake' } }), 400, 'invalid_argument', /built in/);
  });

  it('needs a valid token on every route but health and enroll', async () => {
    for (const path of ['/api/v1/nodes', '/api/v1/gpus', '/api/v1/fleet/summary', '/metrics', '/api/v1/join-tokens']) {
      expectError(await t.api('GET', path, undefined, null), 401, 'unauthenticated', /API token is required/);
      expectError(await t.api('GET', path, undefined, 'gft_nope'), 401, 'unauthenticated', /malformed/);
      expectError(await t.api('GET', path, undefined, `gft_0123456789abcdef_${'x'.repeat(43)}`), 401, 'unauthenticated', /not recognised/);
    }
  });

  it('tells a token its name and role', async () => {
    expect((await t.api('GET', '/api/v1/whoami', undefined, viewer)).body).toEqual({ name: 'v', role: 'viewer' });
    expect((await t.api('GET', '/api/v1/whoami')).body).toEqual({ name: 'bootstrap-admin', role: 'admin' });
    expect((await t.api('GET', '/api/v1/whoami', undefined, null)).status).toBe(401);
  });

  it('keeps viewers to reading', async () => {
    expect((await t.api('GET', '/api/v1/nodes', undefined, viewer)).status).toBe(200);
    expectError(await t.api('POST', '/api/v1/join-tokens', {}, viewer), 403, 'permission_denied');
    expectError(await t.api('DELETE', '/api/v1/nodes/gpu-a', undefined, viewer), 403, 'permission_denied');
    expectError(await t.api('POST', '/api/v1/api-tokens', { name: 'x', role: 'admin' }, operator), 403, 'permission_denied');
  });

  it('revoked API tokens stop working', async () => {
    const made = await t.api('POST', '/api/v1/api-tokens', { name: 'temp', role: 'viewer' });
    expect((await t.api('DELETE', `/api/v1/api-tokens/${made.body.id}`)).status).toBe(204);
    expectError(await t.api('GET', '/api/v1/nodes', undefined, made.body.token), 401, 'unauthenticated', /revoked/);
  });

  it.each([
    ['POST', '/api/v1/join-tokens', '{"labels":', 400, /not valid JSON|JSON/],
    ['POST', '/api/v1/join-tokens', { reusable: 'yes' }, 400, /reusable/],
    ['POST', '/api/v1/join-tokens', { expiresIn: 'tomorrow' }, 400, /expiresIn/],
    ['POST', '/api/v1/join-tokens', { labels: { 'bad key': 'x' } }, 400, /label key/],
    ['POST', '/api/v1/join-tokens', { colour: 'red' }, 400, /colour|unrecognized|Unrecognized/],
    ['POST', '/api/v1/join-tokens', [1, 2], 400, /object|expected/],
    ['POST', '/api/v1/api-tokens', { name: '', role: 'admin' }, 400, /name/],
    ['POST', '/api/v1/api-tokens', { name: 'x', role: 'root' }, 400, /role/],
    ['PATCH', '/api/v1/nodes/gpu-a/labels', { set: { ok: 'has space' } }, 400, /label value/],
    ['PATCH', '/api/v1/nodes/gpu-a/labels', { remove: 'team' }, 400, /remove/],
    ['POST', '/api/v1/nodes/gpu-a/cordon', { reason: 5 }, 400, /reason/],
    ['GET', '/api/v1/nodes?limit=abc', undefined, 400, /limit/],
    ['GET', '/api/v1/nodes?status=ASLEEP', undefined, 400, /status/],
    ['GET', `/api/v1/nodes?selector=${encodeURIComponent('a in (b')}`, undefined, 400, /bad label selector/],
    ['GET', '/api/v1/nodes?sort=name', undefined, 400, /sort|Unrecognized|unrecognized/],
    ['GET', '/api/v1/gpus?selector=%21', undefined, 400, /bad label selector/],
    ['GET', '/api/v1/nodes/gpu-a/metrics?since=yesterday', undefined, 400, /since/],
    ['GET', '/api/v1/audit?limit=0', undefined, 400, /limit/],
    ['POST', '/api/v1/enroll', { tokenId: 'x' }, 400, /secret|nodeId|host/],
    ['DELETE', '/api/v1/join-tokens/doesnotexist', undefined, 404, /no active join token/],
    ['GET', '/api/v1/nothing-here', undefined, 404, /no route/],
  ])('%s %s with garbage -> 4xx naming the problem', async (method, path, body, status, message) => {
    const res = await t.api(method, path, body);
    expect(res.status).toBe(status);
    expect(res.body.error.message).toMatch(message);
    expect(['invalid_argument', 'not_found']).toContain(res.body.error.code);
  });

  it('refuses an oversize body with 413 and keeps serving', async () => {
    const res = await t.api('POST', '/api/v1/join-tokens', { description: 'x'.repeat(2 * 1024 * 1024) });
    expectError(res, 413, 'payload_too_large');
    expect((await t.api('GET', '/healthz')).status).toBe(200);
  });

  it('refuses a non-JSON content type', async () => {
    const res = await fetch(`${t.url}/api/v1/join-tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.adminToken}`, 'content-type': 'application/xml' },
      body: '<a/>',
    });
    expect(res.status).toBe(415);
    expect((await res.json()).error.code).toBe('invalid_argument');
  });

  it('summarises the fleet', async () => {
    const s = (await t.api('GET', '/api/v1/fleet/summary')).body;
    expect(s.nodes.total).toBe(2);
    expect(s.gpus.total).toBe(4);
    expect(s.gpus.byModel).toEqual({ H100: 4 });
  });
});
