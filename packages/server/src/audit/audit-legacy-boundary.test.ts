import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { canonicalJson, generateEd25519, signEd25519 } from '@gpufleet/protocol';
import { openSqliteStore } from '../store/sqlite-store.js';
import { InCodeMigrationProvider } from '../store/migrations.js';
import { AUDIT_CHAIN_START_SETTING } from '../store/migration-0004-trust.js';
import type { Store } from '../store/store.js';
import { AuditLog } from '../services/audit-log.js';
import { AUDIT_CHECKPOINT_SETTING, parseCheckpoint } from './audit-checkpoint.js';
import { AuditCheckpointer } from './audit-checkpointer.js';
import { verifyAuditChain } from './audit-verify.js';

/**
 * Nothing stored in the same database may switch the audit check off: not the legacy boundary
 * row, not removing the checkpoint, not both. An intruder here writes the SQLite file through a
 * second, raw connection and does not hold the control plane's key.
 */

let dir: string;
let path: string;
let store: Store;
let t = Date.UTC(2025, 5, 1);
const clock = { now: () => ++t };
const key = generateEd25519();
const signer = { did: key.did, sign: (m: string) => signEd25519(key.privateKeyPem, m) };
let warnings: string[];
let errors: string[];
const log = {
  info: () => undefined,
  warn: (_o: object, m: string) => void warnings.push(m),
  error: (o: object, m: string) => void errors.push(`${m} ${JSON.stringify(o)}`),
};

function tamper(sql: string, ...params: unknown[]): void {
  const db = new BetterSqlite3(path);
  try {
    db.prepare(sql).run(...params);
  } finally {
    db.close();
  }
}

/** A server start: a fresh checkpointer over the same store (it signs at start). */
async function boot(): Promise<AuditCheckpointer> {
  const c = new AuditCheckpointer({ store, clock, signer, log, delayMs: 5 });
  await c.start();
  return c;
}

async function fill(n: number, c: AuditCheckpointer): Promise<void> {
  const audit = new AuditLog(store, clock);
  for (let i = 1; i <= n; i++) await audit.record({ actor: `token:ops(${i})`, action: 'node.cordon', target: `n${i}`, result: 'ok', details: { i } });
  await c.flush();
}

const verify = () => verifyAuditChain(store, { serverDid: key.did });

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'audit-legacy-'));
  path = join(dir, 'gpufleet.db');
  warnings = [];
  errors = [];
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the legacy boundary and a missing checkpoint', () => {
  beforeEach(async () => {
    store = await openSqliteStore({ path });
    await store.migrate();
  });

  it('a raised legacy-until row exempts nothing: the signed boundary is used', async () => {
    const c = await boot();
    await fill(4, c);
    await c.close();
    tamper('update settings set value = ? where key = ?', '999', AUDIT_CHAIN_START_SETTING);
    tamper(`update audit_log set actor = 'token:intruder(0)' where id = 2`);
    const r = await verify();
    expect(r.ok).toBe(false);
    expect(r.legacy).toBe(0);
    expect(r.firstBroken).toEqual({ id: 2, reason: expect.stringMatching(/content was changed/) });
  });

  it('the row plus a removed checkpoint is reported as missing, never intact', async () => {
    const c = await boot();
    await fill(3, c);
    await c.close();
    tamper('update settings set value = ? where key = ?', '999', AUDIT_CHAIN_START_SETTING);
    tamper('delete from settings where key = ?', AUDIT_CHECKPOINT_SETTING);
    const r = await verify();
    expect(r.ok).toBe(false);
    expect(r.checkpoint).toMatchObject({ status: 'missing', reason: expect.stringMatching(/no signed checkpoint/) });
  });

  it('a removed checkpoint alone is missing while records exist, and none only on an empty log', async () => {
    tamper('delete from settings where key = ?', AUDIT_CHECKPOINT_SETTING);
    expect(await verify()).toMatchObject({ ok: true, checkpoint: { status: 'none' } });
    const c = await boot();
    await fill(1, c);
    await c.close();
    tamper('delete from settings where key = ?', AUDIT_CHECKPOINT_SETTING);
    expect(await verify()).toMatchObject({ ok: false, checkpoint: { status: 'missing' } });
  });

  it('a restart does not sign a boundary that was moved over chained records', async () => {
    const c = await boot();
    await fill(3, c);
    await c.close();
    tamper('update settings set value = ? where key = ?', '999', AUDIT_CHAIN_START_SETTING);
    tamper('delete from settings where key = ?', AUDIT_CHECKPOINT_SETTING);
    const again = await boot();
    expect(again.refusal).toMatch(/record 1: .*legacy boundary was moved/);
    expect(await store.getSetting(AUDIT_CHECKPOINT_SETTING)).toBeUndefined();
    expect((await verify()).ok).toBe(false);
    await again.close();
  });

  it('trust on first use is visible: a re-signed chain says when it was first signed, and the start warns', async () => {
    const c = await boot();
    await fill(2, c);
    await c.close();
    const before = await verify();
    expect(before.checkpoint?.first).toEqual({ at: expect.any(Number), id: 0 });
    tamper('delete from settings where key = ?', AUDIT_CHECKPOINT_SETTING);
    const again = await boot();
    expect(warnings.join('\n')).toMatch(/no signed audit checkpoint found although audit records exist/);
    const after = await verify();
    expect(after.ok).toBe(true);
    expect(after.checkpoint?.first).toEqual({ at: expect.any(Number), id: 2 });
    expect(after.checkpoint!.first!.at).toBeGreaterThan(before.checkpoint!.first!.at);
    await again.close();
  });

  it('a version 1 checkpoint (no signed boundary) fails verify until the server re-signs it as version 2', async () => {
    const c = await boot();
    await fill(2, c);
    await c.close();
    const v2 = parseCheckpoint((await store.getSetting(AUDIT_CHECKPOINT_SETTING))!);
    if (!('checkpoint' in v2)) throw new Error(v2.error);
    const unsigned = { v: 1 as const, id: v2.checkpoint.id, hash: v2.checkpoint.hash, at: v2.checkpoint.at, signer: key.did };
    const v1 = { ...unsigned, sig: signer.sign(canonicalJson({ domain: 'gpufleet/audit-checkpoint/v1', ...unsigned })) };
    await store.setSetting(AUDIT_CHECKPOINT_SETTING, JSON.stringify(v1));
    expect(await verify()).toMatchObject({ ok: false, checkpoint: { status: 'outdated' } });
    const again = await boot();
    expect(again.refusal).toBeNull();
    expect(await verify()).toMatchObject({ ok: true, checkpoint: { status: 'ok', id: 2, first: { id: 2 }, legacyUntil: 0 } });
    await again.close();
  });
});

describe('records from before the chain', () => {
  beforeEach(async () => {
    // A database at 0003_runs with three audit records, then migrated: they become legacy.
    const db = new Kysely<any>({ dialect: new SqliteDialect({ database: new BetterSqlite3(path) }) });
    const { error } = await new Migrator({ db, provider: new InCodeMigrationProvider('sqlite') }).migrateTo('0003_runs');
    expect(error).toBeUndefined();
    for (let i = 0; i < 3; i++)
      await db.insertInto('audit_log').values({ at: i, actor: 'old', action: 'x', target: null, result: 'ok', details: '{"n":1}' }).execute();
    await db.destroy();
    store = await openSqliteStore({ path });
    await store.migrate();
  });

  it('are covered by the checkpoint: editing, removing or adding one is a mismatch', async () => {
    const c = await boot();
    await fill(2, c);
    await c.close();
    expect(await verify()).toMatchObject({ ok: true, checked: 2, legacy: 3, checkpoint: { status: 'ok', legacyUntil: 3 } });

    tamper(`update audit_log set actor = 'someone-else' where id = 2`);
    expect(await verify()).toMatchObject({ ok: false, checkpoint: { status: 'mismatch', reason: expect.stringMatching(/records before the chain/) } });
    tamper(`update audit_log set actor = 'old' where id = 2`);
    expect((await verify()).ok).toBe(true);
    tamper('delete from audit_log where id = 1');
    expect(await verify()).toMatchObject({ ok: false, checkpoint: { status: 'mismatch' } });
  });

  it('the boundary cannot be lowered or raised by the settings row', async () => {
    const c = await boot();
    await fill(2, c);
    await c.close();
    tamper('update settings set value = ? where key = ?', '0', AUDIT_CHAIN_START_SETTING);
    expect(await verify()).toMatchObject({ ok: true, legacy: 3, checkpoint: { legacyUntil: 3 } });
    tamper('update settings set value = ? where key = ?', 'garbage', AUDIT_CHAIN_START_SETTING);
    expect(await verify()).toMatchObject({ ok: true, legacy: 3 });
    // Raised over chained records whose hashes were wiped: the signed boundary still calls them chained.
    tamper('update settings set value = ? where key = ?', '5', AUDIT_CHAIN_START_SETTING);
    tamper('update audit_log set hash = null, prev_hash = null where id > 3');
    expect(await verify()).toMatchObject({ ok: false, firstBroken: { id: 4, reason: expect.stringMatching(/carries no hash/) } });
  });
});
