import { FleetError } from '@gpufleet/protocol';
import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.js';
import { checkId, checkInt, checkLimit } from './store-checks.js';
import { allocOutputToRow, rowToAllocOutput } from './workload-rows.js';
import type { AllocOutputInput, AllocOutputRecord } from './workload-records.js';

/** The SQL of allocation output (0007_workloads), kept out of kysely-store.ts like run-queries.ts. */

/** Rows per statement: 5 columns x 500 rows stays well under both engines' parameter limits. */
const BATCH_ROWS = 500;

/** Appends chunks in one transaction; a chunk stored already (same allocation, stream and chunk number) is skipped. */
export async function appendAllocOutput(db: Kysely<Database>, chunks: ReadonlyArray<AllocOutputInput>): Promise<void> {
  if (!Array.isArray(chunks)) throw new FleetError('invalid_argument', 'store: appendAllocOutput wants an array');
  const rows = chunks.map((c, i) => allocOutputToRow(c, i));
  if (rows.length === 0) return;
  await db.transaction().execute(async (trx) => {
    for (let i = 0; i < rows.length; i += BATCH_ROWS) {
      await trx
        .insertInto('alloc_output')
        .values(rows.slice(i, i + BATCH_ROWS))
        .onConflict((oc) => oc.columns(['alloc_id', 'stream', 'chunk']).doNothing())
        .execute();
    }
  });
}

/** Oldest first, ids above afterId (0: from the start); at most `limit` (default 100, capped at 10,000). */
export async function listAllocOutput(db: Kysely<Database>, allocId: string, afterId: number, limit: number): Promise<AllocOutputRecord[]> {
  const rows = await db
    .selectFrom('alloc_output')
    .selectAll()
    .where('alloc_id', '=', checkId('allocId', allocId))
    .where('id', '>', checkInt('afterId', afterId))
    .orderBy('id')
    .limit(checkLimit(limit))
    .execute();
  return rows.map(rowToAllocOutput);
}

/**
 * Keeps the newest chunks whose data adds up to at most `keepBytes` characters and deletes the
 * older ones, in one statement: a running total over the allocation's chunks, newest first, finds
 * the newest chunk past the budget; it and everything older go.
 */
export async function trimAllocOutput(db: Kysely<Database>, allocId: string, keepBytes: number): Promise<number> {
  checkId('allocId', allocId);
  const keep = checkInt('keepBytes', keepBytes);
  if (keep < 0) throw new FleetError('invalid_argument', `store: keepBytes must not be negative, got ${keep}`);
  // The cast keeps PostgreSQL from comparing a bigint sum with an untyped text parameter.
  const r = await db
    .deleteFrom('alloc_output')
    .where('alloc_id', '=', allocId)
    .where(
      'id',
      '<=',
      sql<number>`(select max(id) from (
        select id, sum(length(data)) over (order by id desc) as kept from alloc_output where alloc_id = ${allocId}
      ) newest_first where kept > cast(${keep} as bigint))`,
    )
    .executeTakeFirst();
  return Number(r.numDeletedRows);
}
