import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveServerConfig } from '../config/server-config.js';
import { ApiTokenService } from '../auth/api-tokens.js';
import { AuditLog } from '../services/audit-log.js';
import { buildApp, type App } from '../http/app.js';
import { startReleaseKit, type ReleaseKit } from '../releases/__tests__/release-kit.js';
import { generateTufKey, signWith, type TufSigningKey } from '../releases/tuf-keys.js';
import { parseMetadata } from '../releases/tuf-metadata.js';
import { registerReleaseRoutes } from './release-routes.js';
import { registerTufRoutes } from './tuf-routes.js';
import { expectError, injectJson } from './__tests__/inject-json.js';

/** The team routes on a real app (auth, validation, error mapping, audit hook) over a real SQLite store. */

let kit: ReleaseKit;
let app: App;
let admin: string;
let operator: string;
let viewer: string;
let ml: TufSigningKey;

beforeAll(async () => {
  kit = await startReleaseKit();
  const config = resolveServerConfig({ flags: { dataDir: kit.dir, logLevel: 'silent' } });
  const apiTokens = new ApiTokenService(kit.store, kit.clock);
  const audit = new AuditLog(kit.store, kit.clock);
  app = await buildApp({ config, apiTokens, audit } as never, { logger: false });
  registerReleaseRoutes(app, { releases: kit.repo, publishBodyLimit: 64 * 1024 });
  registerTufRoutes(app, { store: kit.store, releases: kit.repo });
  await app.ready();
  admin = (await apiTokens.create('admin', 'admin')).token;
  operator = (await apiTokens.create('team-ml-ci', 'operator')).token;
  viewer = (await apiTokens.create('watcher', 'viewer')).token;
  ml = generateTufKey();
  await kit.repo.uploadKeys(kit.uploadRequest(), kit.audit);
  await kit.repo.publish(await kit.publishRequest('0.3.0'), kit.audit);
});
afterAll(async () => {
  await app.close();
  await kit.close();
});

function call(method: string, url: string, token: string | null, body?: unknown) {
  return injectJson(app, method, url, token, body);
}

describe('release team routes', () => {
  it('refuse garbage and the wrong roles before anything is stored', async () => {
    const add = await kit.teamsRequest({ add: { team: 'ml', keys: [ml], threshold: 1 } });
    expectError(await call('POST', '/api/v1/releases/teams', operator, add), 403, 'permission_denied', /admin role/);
    expectError(await call('POST', '/api/v1/releases/teams', null, add), 401, 'unauthenticated');
    expectError(await call('POST', '/api/v1/releases/teams', admin, { targets: [] }), 400, 'invalid_argument', /targets/);
    expectError(await call('POST', '/api/v1/releases/teams', admin, { ...add, extra: 1 }), 400, 'invalid_argument', /extra|unrecognized/i);
    expectError(await call('POST', '/api/v1/releases/teams', admin, '{"targets":'), 400, 'invalid_argument', /not valid JSON/);
    expectError(await call('POST', '/api/v1/releases/teams/ml/publish', operator, { metadata: {}, files: [] }), 404, 'not_found', /there is no team ml/);
    expectError(await call('POST', '/api/v1/releases/teams/ml/publish', viewer, { metadata: {}, files: [] }), 403, 'permission_denied');
    expectError(await call('POST', '/api/v1/releases/teams/ML/publish', operator, { metadata: {}, files: [] }), 400, 'invalid_argument', /not a team name/);
    expectError(await call('POST', `/api/v1/releases/teams/${'a'.repeat(65)}/publish`, operator, { metadata: {}, files: [] }), 400, 'invalid_argument');
    expectError(await call('POST', '/api/v1/releases/teams/ml/publish', operator, { metadata: {}, files: 'x' }), 400, 'invalid_argument', /files/);
    expectError(await call('GET', '/api/v1/releases/teams', null), 401, 'unauthenticated');
    expect((await call('GET', '/api/v1/releases/teams', viewer)).body).toEqual({ targetsVersion: 1, items: [] });
  });

  it('add a team (admin), publish as the team (operator), list (viewer); each write is one audit record', async () => {
    const added = await call('POST', '/api/v1/releases/teams', admin, await kit.teamsRequest({ add: { team: 'ml', keys: [ml], threshold: 1 } }));
    expect(added.status, JSON.stringify(added.body)).toBe(201);
    expect(added.body.items).toEqual([expect.objectContaining({ name: 'ml', role: 'team-ml', keyIds: [ml.keyId], version: 0 })]);
    const pub = await call('POST', '/api/v1/releases/teams/ml/publish', operator, await kit.teamPublishRequest('ml', ml, 'ml-serving', '1'));
    expect(pub.status, JSON.stringify(pub.body)).toBe(201);
    expect(pub.body.items[0]).toMatchObject({ kind: 'bundle', name: 'ml-serving', version: '1', signedBy: 'team-ml' });
    expect((await call('GET', '/api/v1/releases', viewer)).body.items.map((i: { signedBy: string }) => i.signedBy)).toEqual(['team-ml', 'targets']);
    expect((await call('GET', '/api/v1/releases/teams', viewer)).body.items[0]).toMatchObject({ version: 1, releases: 1 });
    // Signed by a key the team does not hold: refused, nothing stored.
    const req = await kit.teamPublishRequest('ml', ml, 'ml-serving', '2');
    const md = parseMetadata('targets', req.metadata);
    md.signatures = {};
    signWith(md, generateTufKey());
    const forged = await call('POST', '/api/v1/releases/teams/ml/publish', operator, { ...req, metadata: md.toJSON() });
    expectError(forged, 400, 'invalid_argument', /team-ml version 2 is not signed by team ml's key/);
    expect((await call('GET', '/api/v1/releases/teams', viewer)).body.items[0]).toMatchObject({ version: 1 });
    const audit = (await kit.store.listAudit({})).map((a) => [a.action, a.target, a.result]);
    expect(audit).toContainEqual(['release.teams', 'targets v2', 'ok']);
    expect(audit).toContainEqual(['release.team-publish', 'team-ml v1', 'ok']);
    expect(audit).toContainEqual(['release.team-publish', 'ml', 'error']);
  });

  it("serves a team's metadata publicly and immutably; names that are no role's are 404", async () => {
    const md = await call('GET', '/tuf/metadata/1.team-ml.json', null);
    expect(md.status).toBe(200);
    expect(md.headers['cache-control']).toMatch(/immutable/);
    expect(md.body.signed._type).toBe('targets');
    for (const bad of [
      '/tuf/metadata/2.team-ml.json',
      '/tuf/metadata/1.team-.json',
      '/tuf/metadata/1.team-ML.json',
      '/tuf/metadata/team-ml.json',
      '/tuf/metadata/1.team-a-b.json',
    ]) {
      expectError(await call('GET', bad, null), 404, 'not_found');
    }
  });
});
