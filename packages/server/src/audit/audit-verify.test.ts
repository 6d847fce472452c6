import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../store/sqlite-store.js';
import { InCodeMigrationProvider } from '../store/migrations.js';
import type { Store } from '../store/store.js';
import { AuditLog } from '../services/audit-log.js';
import { AUDIT_GENESIS, auditRecordHash } from './audit-hash.js';
import { verifyAuditChain } from './audit-verify.js';

/** The audit hash chain on a real SQLite file, tampered with through a second, raw connection. */

let dir: string;
let path: string;
let store: Store;
let audit: AuditLog;
let t = Date.UTC(2025, 5, 1);
const clock = { now: () => ++t };

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'audit-chain-'));
  path = join(dir, 'gpufleet.db');
  store = await openSqliteStore({ path });
  await store.migrate();
  audit = new AuditLog(store, clock);
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs SQL on the database file behind the store's back, as an intruder with file access would. */
function tamper(sql: string, ...params: unknown[]): void {
  const db = new BetterSqlite3(path);
  try {
    db.prepare(sql).run(...params);
  } finally {
    db.close();
  }
}

async function fill(n: number): Promise<void> {
  for (let i = 1; i <= n; i++) {
    await audit.record({
      actor: `token:ops(${i})`,
      action: 'script.add',
      target: i % 2 ? `s${i}` : null,
      result: i % 3 ? 'ok' : 'error',
      details: { signer: 'did:key:z6MkX', n: i, nested: { list: [1, 'two', null], skip: undefined } },
    });
  }
}

describe('audit hash chain', () => {
  it('links every record to the one before it, from the genesis hash', async () => {
    await fill(4);
    const chain = await store.listAuditChain();
    expect(chain.map((r) => r.id)).toEqual([1, 2, 3, 4]);
    expect(chain[0]!.prevHash).toBe(AUDIT_GENESIS);
    for (let i = 1; i < chain.length; i++) expect(chain[i]!.prevHash).toBe(chain[i - 1]!.hash);
    for (const r of chain) expect(r.hash).toBe(auditRecordHash(r.prevHash!, r));
    expect(await verifyAuditChain(store)).toEqual({ ok: true, checked: 4, legacy: 0 });
  });

  it('stays intact under concurrent appends, through the log and straight through the store', async () => {
    await Promise.all(Array.from({ length: 40 }, (_, i) => audit.record({ actor: 'a', action: 'x', target: String(i), result: 'ok' })));
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.appendAudit({ at: i, actor: 'b', action: 'y', target: null, result: 'ok', details: null })));
    expect(await verifyAuditChain(store)).toEqual({ ok: true, checked: 60, legacy: 0 });
  });

  it('names a record whose content was edited in the database', async () => {
    await fill(6);
    tamper(`update audit_log set details = '{"signer":"did:key:z6MkForged","n":4}' where id = 4`);
    const result = await verifyAuditChain(store);
    expect(result).toEqual({ ok: false, checked: 4, legacy: 0, firstBroken: { id: 4, reason: expect.stringMatching(/content was changed/) } });
  });

  it('names the first record of an edit even when its hash was recomputed: the next one no longer links', async () => {
    await fill(5);
    const row = (await store.listAuditChain()).find((r) => r.id === 2)!;
    const forged = { ...row, actor: 'token:someone-else(x)' };
    tamper('update audit_log set actor = ?, hash = ? where id = 2', forged.actor, auditRecordHash(row.prevHash!, forged));
    expect((await verifyAuditChain(store)).firstBroken).toEqual({ id: 3, reason: expect.stringMatching(/prev_hash does not match/) });
  });

  it('names the record after a deleted one, and the first one when the start was cut', async () => {
    await fill(5);
    tamper('delete from audit_log where id = 3');
    expect((await verifyAuditChain(store)).firstBroken).toEqual({ id: 4, reason: expect.stringMatching(/removed, reordered or rewritten/) });
    tamper('delete from audit_log where id in (1, 2)');
    expect((await verifyAuditChain(store)).firstBroken).toEqual({ id: 4, reason: expect.stringMatching(/does not start from the genesis hash/) });
  });

  it('names a record whose hash was wiped or whose details are no longer JSON', async () => {
    await fill(3);
    tamper('update audit_log set hash = null, prev_hash = null where id = 2');
    expect((await verifyAuditChain(store)).firstBroken).toEqual({ id: 2, reason: expect.stringMatching(/carries no hash/) });
    tamper(`update audit_log set details = '{broken' where id = 1`);
    expect((await verifyAuditChain(store)).firstBroken).toEqual({ id: 1, reason: expect.stringMatching(/not valid JSON/) });
  });

  it('continues across pages', async () => {
    for (let i = 0; i < 1005; i++) await store.appendAudit({ at: i, actor: 'a', action: 'x', target: null, result: 'ok', details: { i } });
    tamper(`update audit_log set result = 'error' where id = 1003`);
    expect(await verifyAuditChain(store)).toEqual({ ok: false, checked: 1003, legacy: 0, firstBroken: { id: 1003, reason: expect.any(String) } });
  });
});

describe('audit records written before the chain (migration 0004_trust)', () => {
  it('are legacy: not checked, and the chain starts after them', async () => {
    const legacyPath = join(dir, 'legacy.db');
    const db = new Kysely<any>({ dialect: new SqliteDialect({ database: new BetterSqlite3(legacyPath) }) });
    const { error } = await new Migrator({ db, provider: new InCodeMigrationProvider('sqlite') }).migrateTo('0003_runs');
    expect(error).toBeUndefined();
    for (let i = 0; i < 3; i++)
      await db.insertInto('audit_log').values({ at: i, actor: 'old', action: 'x', target: null, result: 'ok', details: 'null' }).execute();
    await db.destroy();

    const legacyStore = await openSqliteStore({ path: legacyPath });
    try {
      await legacyStore.migrate();
      await legacyStore.appendAudit({ at: 10, actor: 'new', action: 'y', target: null, result: 'ok', details: null });
      expect(await verifyAuditChain(legacyStore)).toEqual({ ok: true, checked: 1, legacy: 3 });
      const [first] = await legacyStore.listAuditChain({ afterId: 3 });
      expect(first!.prevHash).toBe(AUDIT_GENESIS);
      // Wiping the hash of a chained record does not make it pass as legacy.
      await legacyStore.appendAudit({ at: 11, actor: 'new', action: 'y', target: null, result: 'ok', details: null });
    } finally {
      await legacyStore.close();
    }
    const raw = new BetterSqlite3(legacyPath);
    raw.prepare('update audit_log set hash = null, prev_hash = null where id = 4').run();
    raw.close();
    const reopened = await openSqliteStore({ path: legacyPath });
    try {
      expect((await verifyAuditChain(reopened)).firstBroken).toEqual({ id: 4, reason: expect.stringMatching(/carries no hash/) });
    } finally {
      await reopened.close();
    }
  });
});
