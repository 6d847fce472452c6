import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateEd25519 } from '@gpufleet/protocol';
import { SQLITE_FILE_NAME } from '../store/open-store.js';
import { expectError, startTrustKit, type TrustKit } from '../trust/__tests__/trust-kit.js';

let kit: TrustKit;
beforeAll(async () => {
  kit = await startTrustKit();
});
afterAll(() => kit.close());

describe('GET /api/v1/audit/verify', () => {
  it('reports an intact chain, then names the record edited in the database', async () => {
    // Each mutating call leaves one record, written by the app's audit hook.
    await kit.call('POST', '/api/v1/roots/init', kit.admin, { did: generateEd25519().did });
    await kit.call('POST', '/api/v1/roots/init', kit.admin, { did: 'garbage' });
    // The app's audit hook runs after the reply is sent: wait for its records.
    for (let i = 0; i < 100 && (await kit.store.listAudit({})).length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    await kit.checkpointer.flush();
    const ok = await kit.call('GET', '/api/v1/audit/verify', kit.admin);
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({
      ok: true,
      checked: 2,
      legacy: 0,
      checkpoint: { status: 'ok', id: 2, at: expect.any(Number), unsigned: 0, first: { at: expect.any(Number), id: 0 }, legacyUntil: 0 },
    });

    const raw = new BetterSqlite3(join(kit.dataDir, SQLITE_FILE_NAME));
    raw.prepare(`update audit_log set result = 'ok' where id = 2`).run();
    raw.close();
    const broken = await kit.call('GET', '/api/v1/audit/verify', kit.admin);
    expect(broken.body).toMatchObject({ ok: false, checked: 2, legacy: 0, firstBroken: { id: 2, reason: expect.stringMatching(/content was changed/) } });
  });

  it('cannot be switched off by the legacy boundary row and a deleted checkpoint', async () => {
    const raw = new BetterSqlite3(join(kit.dataDir, SQLITE_FILE_NAME));
    raw.prepare(`update settings set value = '1000000' where key = 'audit.chain.legacy-until'`).run();
    raw.prepare(`delete from settings where key = 'audit.checkpoint'`).run();
    raw.close();
    const r = await kit.call('GET', '/api/v1/audit/verify', kit.admin);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ ok: false, checkpoint: { status: 'missing' } });
  });

  it('is for admins only', async () => {
    expectError(await kit.call('GET', '/api/v1/audit/verify', kit.operator), 403, 'permission_denied', /admin role/);
    expectError(await kit.call('GET', '/api/v1/audit/verify', null), 401, 'unauthenticated', /token/);
  });
});
