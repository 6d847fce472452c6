import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveServerConfig } from '../config/server-config.js';
import { ApiTokenService } from '../auth/api-tokens.js';
import { AuditLog } from '../services/audit-log.js';
import { buildApp, type App } from '../http/app.js';
import { startReleaseKit, type ReleaseKit } from '../releases/__tests__/release-kit.js';
import { registerReleaseRoutes } from './release-routes.js';
import { registerTufRoutes } from './tuf-routes.js';
import { expectError, injectJson } from './__tests__/inject-json.js';

/** The release routes on a real app (auth, validation, error mapping, audit hook) over a real SQLite store. */

let kit: ReleaseKit;
let app: App;
let admin: string;
let viewer: string;
const PUBLISH_LIMIT = 64 * 1024;

beforeAll(async () => {
  kit = await startReleaseKit();
  const config = resolveServerConfig({ flags: { dataDir: kit.dir, logLevel: 'silent' } });
  const apiTokens = new ApiTokenService(kit.store, kit.clock);
  const audit = new AuditLog(kit.store, kit.clock);
  app = await buildApp({ config, apiTokens, audit } as never, { logger: false });
  registerReleaseRoutes(app, { releases: kit.repo, publishBodyLimit: PUBLISH_LIMIT });
  registerTufRoutes(app, { store: kit.store, releases: kit.repo });
  await app.ready();
  admin = (await apiTokens.create('admin', 'admin')).token;
  viewer = (await apiTokens.create('watcher', 'viewer')).token;
});
afterAll(async () => {
  await app.close();
  await kit.close();
});

function call(method: string, url: string, token: string | null, body?: unknown) {
  return injectJson(app, method, url, token, body);
}

describe('release routes', () => {
  it('refuse garbage before anything is stored: bad JSON, wrong types, extra fields, other roles, no token', async () => {
    const good = kit.uploadRequest();
    expectError(await call('POST', '/api/v1/releases/keys', admin, '{"roots":'), 400, 'invalid_argument', /not valid JSON/);
    expectError(await call('POST', '/api/v1/releases/keys', admin, { ...good, roots: 'x' }), 400, 'invalid_argument', /roots/);
    expectError(await call('POST', '/api/v1/releases/keys', admin, { ...good, snapshotKey: 7 }), 400, 'invalid_argument', /snapshotKey/);
    expectError(await call('POST', '/api/v1/releases/keys', admin, { ...good, extra: true }), 400, 'invalid_argument', /extra|unrecognized/i);
    expectError(await call('POST', '/api/v1/releases/keys', admin, { ...good, roots: [[]] }), 400, 'invalid_argument', /roots/);
    expectError(await call('POST', '/api/v1/releases/keys', viewer, good), 403, 'permission_denied', /admin role/);
    expectError(await call('POST', '/api/v1/releases/keys', null, good), 401, 'unauthenticated');
    expectError(await call('POST', '/api/v1/releases/root', admin, {}), 400, 'invalid_argument', /root/);
    expectError(await call('POST', '/api/v1/releases/root', admin, { root: good.roots[0] }), 412, 'failed_precondition', /no root yet/);
    expectError(
      await call('POST', '/api/v1/releases/publish', admin, { targets: {}, files: [{ path: '../etc/passwd', data: '' }] }),
      400,
      'invalid_argument',
      /path/,
    );
    expectError(await call('POST', '/api/v1/releases/publish', admin, { targets: [], files: [] }), 400, 'invalid_argument', /targets/);
    expectError(await call('GET', '/api/v1/releases', null), 401, 'unauthenticated');
    expect((await call('GET', '/api/v1/releases', viewer)).body.repository.rootVersion).toBe(0);
    expectError(await call('GET', '/tuf/metadata/timestamp.json', null), 404, 'not_found', /nothing is published yet/);
  });

  it('upload keys, publish, list; every write is one audit record under its action', async () => {
    const up = await call('POST', '/api/v1/releases/keys', admin, kit.uploadRequest());
    expect(up.status, JSON.stringify(up.body)).toBe(201);
    expect(up.body).toMatchObject({ rootVersion: 1, onlineKeys: true });
    const pub = await call('POST', '/api/v1/releases/publish', admin, await kit.publishRequest('0.3.0'));
    expect(pub.status, JSON.stringify(pub.body)).toBe(201);
    expect(pub.body.items).toEqual([expect.objectContaining({ kind: 'agent', version: '0.3.0', length: 20 })]);
    const list = await call('GET', '/api/v1/releases', viewer);
    expect(list.body).toEqual(pub.body);
    const again = await call('POST', '/api/v1/releases/publish', admin, await kit.publishRequest('0.4.0').then((r) => ({ ...r, files: [] })));
    expectError(again, 412, 'failed_precondition', /were neither uploaded/);
    const audit = (await kit.store.listAudit({})).map((a) => [a.action, a.target, a.result]);
    expect(audit).toContainEqual(['release.keys', 'root v1', 'ok']);
    expect(audit).toContainEqual(['release.publish', 'targets v1', 'ok']);
    expect(audit).toContainEqual(['release.publish', null, 'error']);
    expect(audit.filter(([action]) => action === 'release.keys').length).toBeGreaterThanOrEqual(1);
  });

  it('serve TUF files publicly, timestamp uncached and versioned files immutable; unknown names are 404', async () => {
    const ts = await call('GET', '/tuf/metadata/timestamp.json', null);
    expect(ts.status).toBe(200);
    expect(ts.headers['content-type']).toMatch(/application\/json/);
    expect(ts.headers['cache-control']).toBe('no-store');
    expect(ts.body.signed._type).toBe('timestamp');
    const root = await call('GET', '/tuf/metadata/1.root.json', null);
    expect(root.headers['cache-control']).toMatch(/immutable/);
    const sha = createHash('sha256').update('gpufleet-agent 0.3.0').digest('hex');
    const target = await call('GET', `/tuf/targets/agent/${sha}.gpufleet-agent-0.3.0.tgz`, null);
    expect(target.status).toBe(200);
    expect(target.headers['content-type']).toBe('application/octet-stream');
    expect(target.raw.toString()).toBe('gpufleet-agent 0.3.0');
    for (const bad of [
      '/tuf/metadata/2.root.json',
      '/tuf/metadata/root.json',
      '/tuf/metadata/0.targets.json',
      '/tuf/metadata/99999999999.root.json',
      '/tuf/metadata/%2e%2e',
    ]) {
      expectError(await call('GET', bad, null), 404, 'not_found');
    }
    expectError(await call('GET', `/tuf/metadata/${'x'.repeat(65)}`, null), 400, 'invalid_argument');
    expectError(await call('GET', `/tuf/targets/agent/${'0'.repeat(64)}.gpufleet-agent-0.3.0.tgz`, null), 404, 'not_found');
    expectError(await call('GET', '/tuf/targets/agent/gpufleet-agent-0.3.0.tgz', null), 404, 'not_found');
    expectError(await call('GET', `/tuf/targets/../agent/${sha}.gpufleet-agent-0.3.0.tgz`, null), 404, 'not_found');
  });

  it('refuses a publish larger than its body limit with 413, storing nothing', async () => {
    const big = await kit.publishRequest('0.9.0', new Uint8Array(PUBLISH_LIMIT));
    expectError(await call('POST', '/api/v1/releases/publish', admin, big), 413, 'payload_too_large');
    const list = await call('GET', '/api/v1/releases', viewer);
    expect(list.body.items.map((i: { version: string }) => i.version)).toEqual(['0.3.0']);
  });
});
