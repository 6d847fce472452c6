import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateEd25519, signEd25519 } from '@gpufleet/protocol';
import { openSqliteStore } from '../store/sqlite-store.js';
import type { Store } from '../store/store.js';
import { AuditLog } from '../services/audit-log.js';
import { auditRecordHash } from './audit-hash.js';
import { AUDIT_CHECKPOINT_SETTING, parseCheckpoint, signCheckpoint } from './audit-checkpoint.js';
import { AuditCheckpointer } from './audit-checkpointer.js';
import { verifyAuditChain } from './audit-verify.js';

/**
 * The signed checkpoint on a real SQLite file, against an intruder who can write the database
 * (through a second, raw connection) but does not hold the control plane's key.
 */

let dir: string;
let path: string;
let store: Store;
let audit: AuditLog;
let checkpointer: AuditCheckpointer;
let logged: string[];
let t = Date.UTC(2025, 5, 1);
const clock = { now: () => ++t };
const key = generateEd25519();
const signer = { did: key.did, sign: (m: string) => signEd25519(key.privateKeyPem, m) };

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'audit-checkpoint-'));
  path = join(dir, 'gpufleet.db');
  store = await openSqliteStore({ path });
  await store.migrate();
  audit = new AuditLog(store, clock);
  logged = [];
  const log = {
    info: () => undefined,
    warn: (_o: object, m: string) => void logged.push(m),
    error: (o: object, m: string) => void logged.push(`${m} ${JSON.stringify(o)}`),
  };
  checkpointer = new AuditCheckpointer({ store, clock, signer, log, delayMs: 5 });
  await checkpointer.start();
  audit.onAppended(() => checkpointer.notify());
});
afterEach(async () => {
  await checkpointer.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

function tamper(sql: string, ...params: unknown[]): void {
  const db = new BetterSqlite3(path);
  try {
    db.prepare(sql).run(...params);
  } finally {
    db.close();
  }
}

async function fill(n: number): Promise<void> {
  for (let i = 1; i <= n; i++) await audit.record({ actor: `token:ops(${i})`, action: 'node.cordon', target: `n${i}`, result: 'ok', details: { i } });
  await checkpointer.flush();
}

/** Rewrites record `id`'s actor and recomputes every hash from there on: a chain consistent in itself. */
async function rewriteFrom(id: number, actor: string): Promise<void> {
  const rows = await store.listAuditChain();
  let prev = rows.find((r) => r.id === id)!.prevHash!;
  for (const r of rows.filter((x) => x.id >= id)) {
    const next = r.id === id ? { ...r, actor } : r;
    const hash = auditRecordHash(prev, next);
    tamper('update audit_log set actor = ?, prev_hash = ?, hash = ? where id = ?', next.actor, prev, hash, r.id);
    prev = hash;
  }
}

const verify = () => verifyAuditChain(store, { serverDid: key.did });
const storedCheckpoint = async () => {
  const parsed = parseCheckpoint((await store.getSetting(AUDIT_CHECKPOINT_SETTING)) ?? '');
  if ('error' in parsed) throw new Error(parsed.error);
  if (parsed.checkpoint.v !== 2) throw new Error('expected a version 2 checkpoint');
  return parsed.checkpoint;
};

describe('signed audit checkpoints', () => {
  it('signs the empty chain at start, then the head shortly after appends', async () => {
    const first = { at: expect.any(Number), id: 0 };
    expect(await verify()).toEqual({
      ok: true,
      checked: 0,
      legacy: 0,
      checkpoint: { status: 'ok', id: 0, at: expect.any(Number), unsigned: 0, first, legacyUntil: 0 },
    });
    await fill(4);
    expect(await verify()).toEqual({
      ok: true,
      checked: 4,
      legacy: 0,
      checkpoint: { status: 'ok', id: 4, at: expect.any(Number), unsigned: 0, first, legacyUntil: 0 },
    });
    await audit.record({ actor: 'a', action: 'x', target: null, result: 'ok' });
    // Appended but not yet signed: counted, not a failure.
    const before = await verify();
    expect(before.ok).toBe(true);
    expect(before.checkpoint?.unsigned ?? 0).toBeLessThanOrEqual(1);
    await checkpointer.flush();
    expect((await storedCheckpoint()).id).toBe(5);
  });

  it('catches a rewrite whose hashes were all recomputed, which the chain alone cannot see', async () => {
    await fill(5);
    await rewriteFrom(2, 'token:someone-else(x)');
    expect(await verifyAuditChain(store)).toEqual({ ok: true, checked: 5, legacy: 0 });
    const r = await verify();
    expect(r.ok).toBe(false);
    expect(r.checkpoint).toMatchObject({ status: 'mismatch', id: 5, reason: expect.stringMatching(/record 5 no longer has the signed hash/) });
  });

  it('never launders a rewrite: the next append does not get the forged chain signed', async () => {
    await fill(3);
    const signed = await storedCheckpoint();
    await rewriteFrom(1, 'token:intruder(0)');
    await audit.record({ actor: 'a', action: 'x', target: null, result: 'ok' });
    await checkpointer.flush();
    expect(await storedCheckpoint()).toEqual(signed);
    expect(checkpointer.refusal).toMatch(/record 3 no longer has the signed hash/);
    expect(logged.join('\n')).toMatch(/does not match its signed checkpoint/);
    expect((await verify()).checkpoint?.status).toBe('mismatch');
  });

  it('sees the newest records removed', async () => {
    await fill(5);
    tamper('delete from audit_log where id >= 4');
    const r = await verify();
    expect(r.ok).toBe(false);
    expect(r.checkpoint).toMatchObject({ status: 'truncated', reason: expect.stringMatching(/checkpoint names record 5, the log now ends at 3/) });
  });

  it('refuses a checkpoint that was removed, forged with another key, or garbled', async () => {
    await fill(2);
    const real = await storedCheckpoint();
    tamper('delete from settings where key = ?', AUDIT_CHECKPOINT_SETTING);
    expect((await verify()).checkpoint).toMatchObject({ status: 'missing' });
    // The running server remembers what it signed: a vanished checkpoint stops signing.
    await audit.record({ actor: 'a', action: 'x', target: null, result: 'ok' });
    await checkpointer.flush();
    expect(checkpointer.refusal).toMatch(/was removed from the store/);

    const other = generateEd25519();
    const forged = signCheckpoint(
      { id: real.id, hash: real.hash },
      real.at,
      { legacy: real.legacy, first: real.first },
      { did: other.did, sign: (m) => signEd25519(other.privateKeyPem, m) },
    );
    await store.setSetting(AUDIT_CHECKPOINT_SETTING, JSON.stringify(forged));
    expect((await verify()).checkpoint).toMatchObject({ status: 'bad_signature' });
    await store.setSetting(AUDIT_CHECKPOINT_SETTING, JSON.stringify({ ...real, sig: real.sig.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) }));
    expect((await verify()).checkpoint).toMatchObject({ status: 'bad_signature' });
    for (const garbage of ['{', '[]', JSON.stringify({ ...real, id: -1 }), JSON.stringify({ ...real, extra: 1 })]) {
      await store.setSetting(AUDIT_CHECKPOINT_SETTING, garbage);
      const r = await verify();
      expect(r.ok).toBe(false);
      expect(r.checkpoint?.status).toBe('malformed');
    }
  });

  it('without a checkpoint (a database from before them) signs the log only when it verifies whole', async () => {
    await fill(3);
    tamper('delete from settings where key = ?', AUDIT_CHECKPOINT_SETTING);
    const log = { info: () => undefined, warn: () => undefined, error: () => undefined };
    const upgraded = new AuditCheckpointer({ store, clock, signer, log });
    await upgraded.start();
    expect(upgraded.refusal).toBeNull();
    expect((await storedCheckpoint()).id).toBe(3);
    tamper('delete from settings where key = ?', AUDIT_CHECKPOINT_SETTING);
    tamper(`update audit_log set result = 'error' where id = 2`);
    const broken = new AuditCheckpointer({ store, clock, signer, log });
    await broken.start();
    expect(broken.refusal).toMatch(/record 2: .*content was changed/);
    expect(await store.getSetting(AUDIT_CHECKPOINT_SETTING)).toBeUndefined();
    await upgraded.close();
    await broken.close();
  });
});
