import { FleetError } from '@gpufleet/protocol';
import type { Kysely } from 'kysely';
import { apiTokenToRow, joinTokenToRow, rowToApiToken, rowToJoinToken } from './row-mappers.js';
import type { Database } from './schema.js';
import { checkId, checkInt } from './store-checks.js';
import type { ApiTokenRecord, JoinTokenRecord } from './store.js';

/**
 * The SQL of join tokens and API tokens, kept out of kysely-store.ts like health-queries.ts.
 * Both tables share their shape (id, created_at, revoked_at), so insert, list and revoke are
 * one statement each for either table.
 */

type TokenTable = 'join_tokens' | 'api_tokens';

async function insertUnique(db: Kysely<Database>, table: TokenTable, row: Database[TokenTable], what: string): Promise<void> {
  const r = await db
    .insertInto(table)
    .values(row as never)
    .onConflict((oc) => oc.column('id').doNothing())
    .executeTakeFirst();
  if (Number(r.numInsertedOrUpdatedRows ?? 0n) === 0) throw new FleetError('already_exists', `${what} ${row.id} already exists`);
}

async function revoke(db: Kysely<Database>, table: TokenTable, id: string, at: number): Promise<boolean> {
  const r = await db
    .updateTable(table)
    .set({ revoked_at: checkInt('at', at) })
    .where('id', '=', checkId('id', id))
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export async function insertJoinToken(db: Kysely<Database>, token: JoinTokenRecord): Promise<void> {
  return insertUnique(db, 'join_tokens', joinTokenToRow(token), 'join token');
}

export async function getJoinToken(db: Kysely<Database>, id: string): Promise<JoinTokenRecord | undefined> {
  const row = await db.selectFrom('join_tokens').selectAll().where('id', '=', checkId('id', id)).executeTakeFirst();
  return row === undefined ? undefined : rowToJoinToken(row);
}

/** All join tokens, oldest first (ties by id). */
export async function listJoinTokens(db: Kysely<Database>): Promise<JoinTokenRecord[]> {
  const rows = await db.selectFrom('join_tokens').selectAll().orderBy('created_at').orderBy('id').execute();
  return rows.map(rowToJoinToken);
}

export async function revokeJoinToken(db: Kysely<Database>, id: string, at: number): Promise<boolean> {
  return revoke(db, 'join_tokens', id, at);
}

/**
 * One conditional UPDATE: the database decides, so concurrent consumers cannot both see uses = 0.
 * (PostgreSQL re-checks the WHERE after waiting on the row lock; SQLite runs writes one by one.)
 * Expiry is the caller's check: the store has no clock.
 */
export async function consumeJoinToken(db: Kysely<Database>, id: string): Promise<boolean> {
  const r = await db
    .updateTable('join_tokens')
    .set((eb) => ({ uses: eb('uses', '+', 1) }))
    .where('id', '=', checkId('id', id))
    .where('revoked_at', 'is', null)
    .where((eb) => eb.or([eb('reusable', '=', 1), eb('uses', '=', 0)]))
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export async function insertApiToken(db: Kysely<Database>, token: ApiTokenRecord): Promise<void> {
  return insertUnique(db, 'api_tokens', apiTokenToRow(token), 'api token');
}

export async function getApiToken(db: Kysely<Database>, id: string): Promise<ApiTokenRecord | undefined> {
  const row = await db.selectFrom('api_tokens').selectAll().where('id', '=', checkId('id', id)).executeTakeFirst();
  return row === undefined ? undefined : rowToApiToken(row);
}

/** All API tokens, oldest first (ties by id). */
export async function listApiTokens(db: Kysely<Database>): Promise<ApiTokenRecord[]> {
  const rows = await db.selectFrom('api_tokens').selectAll().orderBy('created_at').orderBy('id').execute();
  return rows.map(rowToApiToken);
}

export async function revokeApiToken(db: Kysely<Database>, id: string, at: number): Promise<boolean> {
  return revoke(db, 'api_tokens', id, at);
}

/** Sets lastUsedAt; an absent token is ignored (the caller just authenticated with it). */
export async function touchApiToken(db: Kysely<Database>, id: string, at: number): Promise<void> {
  await db
    .updateTable('api_tokens')
    .set({ last_used_at: checkInt('at', at) })
    .where('id', '=', checkId('id', id))
    .execute();
}
