import { FleetError, type PoolOpStage, POOL_OP_STAGES } from '@gpufleet/protocol';
import { sql, type Kysely, type Transaction } from 'kysely';
import type {
  PoolConfigRecord,
  PoolEventRecord,
  PoolMemberRecord,
  PoolOperationPatch,
  PoolOperationRecord,
  PoolSizeSample,
  PoolStateRecord,
  ProviderConfigRecord,
} from './pool-records.js';
import {
  FINAL_POOL_OP_STAGES,
  poolConfigToRow,
  poolEventToRow,
  poolMemberToRow,
  poolOperationPatchToRow,
  poolOperationToRow,
  poolSizeSampleToRow,
  poolStateToRow,
  providerConfigToRow,
  rowToPoolConfig,
  rowToPoolEvent,
  rowToPoolMember,
  rowToPoolOperation,
  rowToPoolSizeSample,
  rowToPoolState,
  rowToProviderConfig,
} from './pool-rows.js';
import type { Database } from './schema.js';
import { checkArray, checkBool, checkId, checkInt, checkLimit, checkObject, checkOneOf, fromJson, toJson } from './store-checks.js';
import type { StoreDialect } from './migrations.js';

/**
 * The SQL of pools (0008_pools), kept out of kysely-store.ts like job-queries.ts. Portable between
 * SQLite and PostgreSQL; every input is checked before a transaction opens, so garbage writes nothing.
 */

/** Rows per statement: pool events have 8 columns, so 500 rows stay under both engines' limits. */
const BATCH_ROWS = 500;

/**
 * Serializes writers of one kind across PostgreSQL connections and replicas (scoped to the schema,
 * so tenants do not wait on each other). SQLite needs none: the first write of a transaction takes
 * its database-wide write lock.
 */
async function lockOnPostgres(trx: Transaction<Database>, dialect: StoreDialect, what: string): Promise<void> {
  if (dialect === 'postgres') await sql`select pg_advisory_xact_lock(hashtext(current_schema() || ${`.gpufleet.${what}`}))`.execute(trx);
}

/**
 * Text order by code unit, the same on both engines: PostgreSQL's `order by` follows the database's
 * collation (which may skip dashes), SQLite's compares bytes.
 */
function codeUnitOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const byName = (a: { name: string }, b: { name: string }) => codeUnitOrder(a.name, b.name);

// ---- applied configuration ----

/**
 * Replaces both lists in one transaction. Names must be unique and every pool must name one of the
 * providers given. The lock keeps two concurrent applies from interleaving their deletes and
 * inserts (on PostgreSQL the second would otherwise fail on a primary key, or mix both files).
 */
export async function replacePoolsConfig(
  db: Kysely<Database>,
  dialect: StoreDialect,
  providers: ProviderConfigRecord[],
  pools: PoolConfigRecord[],
): Promise<void> {
  const providerRows = checkArray('providers', providers).map((p, i) => providerConfigToRow(p as ProviderConfigRecord, i));
  const poolRows = checkArray('pools', pools).map((p, i) => poolConfigToRow(p as PoolConfigRecord, i));
  const providerNames = new Set<string>();
  for (const [i, row] of providerRows.entries()) {
    if (providerNames.has(row.name)) throw new FleetError('invalid_argument', `store: providers[${i}].name: provider ${row.name} is listed twice`);
    providerNames.add(row.name);
  }
  const poolNames = new Set<string>();
  for (const [i, row] of poolRows.entries()) {
    if (poolNames.has(row.name)) throw new FleetError('invalid_argument', `store: pools[${i}].name: pool ${row.name} is listed twice`);
    poolNames.add(row.name);
    const provider = (pools[i] as PoolConfigRecord).spec.provider;
    if (!providerNames.has(provider)) throw new FleetError('invalid_argument', `store: pools[${i}].spec.provider: no provider ${provider} is given`);
  }
  await db.transaction().execute(async (trx) => {
    await lockOnPostgres(trx, dialect, 'pools_config');
    await trx.deleteFrom('pool_providers').execute();
    await trx.deleteFrom('pool_configs').execute();
    if (providerRows.length > 0) await trx.insertInto('pool_providers').values(providerRows).execute();
    for (let i = 0; i < poolRows.length; i += BATCH_ROWS) {
      await trx
        .insertInto('pool_configs')
        .values(poolRows.slice(i, i + BATCH_ROWS))
        .execute();
    }
  });
}

/** By name. */
export async function listProviderConfigs(db: Kysely<Database>): Promise<ProviderConfigRecord[]> {
  const rows = await db.selectFrom('pool_providers').selectAll().execute();
  return rows.map(rowToProviderConfig).sort(byName);
}

/** By name. */
export async function listPoolConfigs(db: Kysely<Database>): Promise<PoolConfigRecord[]> {
  const rows = await db.selectFrom('pool_configs').selectAll().execute();
  return rows.map(rowToPoolConfig).sort(byName);
}

// ---- desired size ----

export async function getPoolState(db: Kysely<Database>, pool: string): Promise<PoolStateRecord | undefined> {
  const row = await db.selectFrom('pool_states').selectAll().where('pool', '=', checkId('pool', pool)).executeTakeFirst();
  return row === undefined ? undefined : rowToPoolState(row);
}

/** Inserts or replaces the pool's state whole. */
export async function putPoolState(db: Kysely<Database>, state: PoolStateRecord): Promise<void> {
  const row = poolStateToRow(state);
  const { pool: _pool, ...rest } = row;
  await db
    .insertInto('pool_states')
    .values(row)
    .onConflict((oc) => oc.column('pool').doUpdateSet(rest))
    .execute();
}

// ---- members ----

export async function putPoolMember(db: Kysely<Database>, member: PoolMemberRecord): Promise<void> {
  const row = poolMemberToRow(member);
  const { instance_id: _id, ...rest } = row;
  await db
    .insertInto('pool_members')
    .values(row)
    .onConflict((oc) => oc.column('instance_id').doUpdateSet(rest))
    .execute();
}

/** Oldest first (by provisionedAt, then instanceId); terminated members only when asked. */
export async function listPoolMembers(db: Kysely<Database>, query: { pool?: string; includeTerminated?: boolean }): Promise<PoolMemberRecord[]> {
  const q = query ?? {};
  checkObject('query', q);
  let select = db.selectFrom('pool_members').selectAll();
  if (q.pool !== undefined) select = select.where('pool', '=', checkId('pool', q.pool));
  const withTerminated = q.includeTerminated !== undefined && checkBool('includeTerminated', q.includeTerminated) === 1;
  if (!withTerminated) select = select.where('state', '!=', 'terminated');
  const rows = await select.orderBy('provisioned_at').orderBy('instance_id').execute();
  return rows.map(rowToPoolMember);
}

// ---- operations ----

export async function insertPoolOperation(db: Kysely<Database>, op: PoolOperationRecord): Promise<void> {
  const row = poolOperationToRow(op);
  // `on conflict do nothing` + row count instead of catching each driver's unique-violation error.
  const r = await db
    .insertInto('pool_operations')
    .values(row)
    .onConflict((oc) => oc.column('id').doNothing())
    .executeTakeFirst();
  if (Number(r.numInsertedOrUpdatedRows ?? 0n) === 0) throw new FleetError('already_exists', `pool operation ${row.id} already exists`);
}

/**
 * One UPDATE ... WHERE id AND stage: SQLite runs it under its write lock; on PostgreSQL a second
 * update of the row waits for the first and re-checks the stage on the committed row, so it finds
 * the stage moved and changes nothing. An unknown id is not_found (a caller's bug, not a lost race).
 */
export async function updatePoolOperation(db: Kysely<Database>, id: string, expectedStage: PoolOpStage, patch: PoolOperationPatch): Promise<boolean> {
  checkId('id', id);
  const stage = checkOneOf('expectedStage', expectedStage, POOL_OP_STAGES);
  const row = poolOperationPatchToRow(patch);
  // An empty patch still answers whether the stage is the expected one: setting id to itself changes nothing.
  const set = Object.keys(row).length === 0 ? { id } : row;
  const r = await db.updateTable('pool_operations').set(set).where('id', '=', id).where('stage', '=', stage).executeTakeFirst();
  if (Number(r.numUpdatedRows) > 0) return true;
  const exists = await db.selectFrom('pool_operations').select('id').where('id', '=', id).executeTakeFirst();
  if (exists === undefined) throw new FleetError('not_found', `pool operation ${id} not found`);
  return false;
}

export async function getPoolOperation(db: Kysely<Database>, id: string): Promise<PoolOperationRecord | undefined> {
  const row = await db.selectFrom('pool_operations').selectAll().where('id', '=', checkId('id', id)).executeTakeFirst();
  return row === undefined ? undefined : rowToPoolOperation(row);
}

/**
 * Oldest first (by startedAt, then id). Without a limit every match comes back: a restarted
 * server reloads all active operations, and a cap would silently leave some behind.
 */
export async function listPoolOperations(db: Kysely<Database>, query: { pool?: string; active?: boolean; limit?: number }): Promise<PoolOperationRecord[]> {
  const q = query ?? {};
  checkObject('query', q);
  let select = db.selectFrom('pool_operations').selectAll();
  if (q.pool !== undefined) select = select.where('pool', '=', checkId('pool', q.pool));
  if (q.active !== undefined) {
    const final = [...FINAL_POOL_OP_STAGES];
    select = checkBool('active', q.active) === 1 ? select.where('stage', 'not in', final) : select.where('stage', 'in', final);
  }
  select = select.orderBy('started_at').orderBy('id');
  if (q.limit !== undefined) select = select.limit(checkLimit(q.limit));
  const rows = await select.execute();
  return rows.map(rowToPoolOperation);
}

// ---- events ----

/**
 * Appends in one transaction and returns the ids in the order of `events`. On PostgreSQL appends
 * take turns (an advisory lock held to commit): identity values are drawn before commit, so two
 * overlapping appends could otherwise commit out of id order, and a reader paging `after` the
 * higher id would skip the lower one for ever.
 */
export async function appendPoolEvents(db: Kysely<Database>, dialect: StoreDialect, events: ReadonlyArray<Omit<PoolEventRecord, 'id'>>): Promise<number[]> {
  const rows = checkArray('events', events).map((e, i) => poolEventToRow(e as Omit<PoolEventRecord, 'id'>, i));
  if (rows.length === 0) return [];
  return db.transaction().execute(async (trx) => {
    await lockOnPostgres(trx, dialect, 'pool_events');
    const ids: number[] = [];
    for (let i = 0; i < rows.length; i += BATCH_ROWS) {
      const stored = await trx
        .insertInto('pool_events')
        .values(rows.slice(i, i + BATCH_ROWS))
        .returning('id')
        .execute();
      // Both engines number the rows of one VALUES list in order; RETURNING's own order is not promised.
      ids.push(...stored.map((r) => Number(r.id)).sort((a, b) => a - b));
    }
    return ids;
  });
}

/**
 * Oldest first (by id) after the cursor `after`; `newest`: the newest `limit` of those, still
 * oldest first. Limit default 100, at most 10,000.
 */
export async function listPoolEvents(
  db: Kysely<Database>,
  query: { pool?: string; after?: number; limit?: number; newest?: boolean },
): Promise<PoolEventRecord[]> {
  const q = query ?? {};
  checkObject('query', q);
  let select = db.selectFrom('pool_events').selectAll();
  if (q.pool !== undefined) select = select.where('pool', '=', checkId('pool', q.pool));
  if (q.after !== undefined) select = select.where('id', '>', checkInt('after', q.after));
  const limit = checkLimit(q.limit);
  const newest = q.newest !== undefined && checkBool('newest', q.newest) === 1;
  const rows = await select
    .orderBy('id', newest ? 'desc' : 'asc')
    .limit(limit)
    .execute();
  if (newest) rows.reverse();
  return rows.map(rowToPoolEvent);
}

// ---- size samples ----

/** A second sample of the same pool at the same time replaces the first. */
export async function appendPoolSizeSample(db: Kysely<Database>, sample: PoolSizeSample): Promise<void> {
  const row = poolSizeSampleToRow(sample);
  await db
    .insertInto('pool_size_samples')
    .values(row)
    .onConflict((oc) => oc.columns(['pool', 'at']).doUpdateSet({ ready: row.ready, desired: row.desired }))
    .execute();
}

/** Oldest first, `at` >= since. */
export async function listPoolSizeSamples(db: Kysely<Database>, pool: string, since: number): Promise<PoolSizeSample[]> {
  const rows = await db
    .selectFrom('pool_size_samples')
    .selectAll()
    .where('pool', '=', checkId('pool', pool))
    .where('at', '>=', checkInt('since', since))
    .orderBy('at')
    .execute();
  return rows.map(rowToPoolSizeSample);
}

/** Deletes every sample (all pools) with `at` < before; returns how many. */
export async function prunePoolSizeSamples(db: Kysely<Database>, before: number): Promise<number> {
  const r = await db.deleteFrom('pool_size_samples').where('at', '<', checkInt('before', before)).executeTakeFirst();
  return Number(r.numDeletedRows);
}

// ---- provider state ----

export async function getProviderState(db: Kysely<Database>, provider: string, key: string): Promise<unknown | undefined> {
  const row = await db
    .selectFrom('provider_state')
    .select('value')
    .where('provider', '=', checkId('provider', provider))
    .where('key', '=', checkId('key', key))
    .executeTakeFirst();
  return row === undefined ? undefined : fromJson(`provider_state ${provider}/${key}`, row.value);
}

/** Provider state is small (host leases, ids): a value this big is a bug, refused before it fills the database. */
const MAX_PROVIDER_STATE_CHARS = 1_000_000;

/** `undefined` is refused: it would read back as null, not as absent (deleteProviderState removes). */
export async function putProviderState(db: Kysely<Database>, provider: string, key: string, value: unknown): Promise<void> {
  const row = { provider: checkId('provider', provider), key: checkId('key', key), value: '' };
  if (value === undefined)
    throw new FleetError('invalid_argument', 'store: value must be JSON-serializable, got undefined (deleteProviderState removes a key)');
  row.value = toJson('value', value);
  if (row.value.length > MAX_PROVIDER_STATE_CHARS) {
    throw new FleetError('invalid_argument', `store: value of ${row.key} is ${row.value.length} characters of JSON, more than ${MAX_PROVIDER_STATE_CHARS}`);
  }
  await db
    .insertInto('provider_state')
    .values(row)
    .onConflict((oc) => oc.columns(['provider', 'key']).doUpdateSet({ value: row.value }))
    .execute();
}

/** A key that is not stored is no error: deleting twice leaves the same nothing. */
export async function deleteProviderState(db: Kysely<Database>, provider: string, key: string): Promise<void> {
  await db.deleteFrom('provider_state').where('provider', '=', checkId('provider', provider)).where('key', '=', checkId('key', key)).execute();
}

/** By key. */
export async function listProviderState(db: Kysely<Database>, provider: string): Promise<Array<{ key: string; value: unknown }>> {
  const rows = await db.selectFrom('provider_state').select(['key', 'value']).where('provider', '=', checkId('provider', provider)).execute();
  return rows.sort((a, b) => codeUnitOrder(a.key, b.key)).map((r) => ({ key: r.key, value: fromJson(`provider_state ${provider}/${r.key}`, r.value) }));
}
