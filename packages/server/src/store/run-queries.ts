import { FleetError } from '@gpufleet/protocol';
import type { Kysely } from 'kysely';
import type { Database } from './schema.js';
import type { ListRunOutputQuery, ListRunsQuery, RunOutputRecord, RunProgress, RunRecord, RunTargetRecord } from './run-records.js';
import { rowToRun, rowToRunOutput, rowToRunTarget, runOutputToRow, runTargetToRow, runToRow } from './run-rows.js';
import { checkId, checkInt, checkLimit } from './store-checks.js';

/**
 * The SQL of runs, kept out of kysely-store.ts (which delegates here). Portable between SQLite and
 * PostgreSQL: `on conflict ... do update/nothing` with `excluded`, integer booleans, bigint times.
 */

/** Rows per statement: 15 columns x 400 rows stays well under both engines' parameter limits. */
const BATCH_ROWS = 400;

/** `{ col: excluded.col }` for every column but the key: an upsert that replaces the whole row. */
function replaceAll(columns: readonly string[]) {
  return (eb: { ref(name: string): unknown }) => Object.fromEntries(columns.map((c) => [c, eb.ref(`excluded.${c}`)])) as never;
}

const RUN_COLUMNS = [
  'created_at',
  'created_by',
  'invoker',
  'capability_id',
  'ability',
  'selector',
  'summary',
  'command',
  'batch',
  'state',
  'counts',
  'reason',
  'deadline',
  'finished_at',
  'canceled_by',
] as const;
const TARGET_COLUMNS = [
  'hostname',
  'batch',
  'state',
  'exit_code',
  'signal',
  'reason',
  'sent_at',
  'started_at',
  'finished_at',
  'duration_ms',
  'output_bytes',
  'truncated',
] as const;

function checkArrayOf(field: string, value: unknown): unknown[] {
  if (!Array.isArray(value)) throw new FleetError('invalid_argument', `store: ${field} must be an array`);
  return value;
}

/** Inserts a run and its targets atomically; already_exists when the run id is taken. */
export async function insertRun(db: Kysely<Database>, run: RunRecord, targets: ReadonlyArray<RunTargetRecord>): Promise<void> {
  const row = runToRow(run);
  const rows = checkArrayOf('targets', targets).map((t, i) => runTargetToRow(t as RunTargetRecord, i));
  if (rows.some((t) => t.run_id !== row.id)) throw new FleetError('invalid_argument', `store: every target must belong to run ${row.id}`);
  await db.transaction().execute(async (trx) => {
    const r = await trx
      .insertInto('runs')
      .values(row)
      .onConflict((oc) => oc.column('id').doNothing())
      .executeTakeFirst();
    if (Number(r.numInsertedOrUpdatedRows ?? 0n) === 0) throw new FleetError('already_exists', `run ${row.id} already exists`);
    for (let i = 0; i < rows.length; i += BATCH_ROWS)
      await trx
        .insertInto('run_targets')
        .values(rows.slice(i, i + BATCH_ROWS))
        .execute();
  });
}

/**
 * Writes one tick of progress in one transaction: runs and targets as whole rows (inserted or
 * replaced), output chunks appended with re-sent ones skipped. Returns how many chunks were new.
 */
export async function saveRunProgress(db: Kysely<Database>, progress: RunProgress): Promise<number> {
  if (typeof progress !== 'object' || progress === null) throw new FleetError('invalid_argument', 'store: run progress must be an object');
  // Everything is checked before the transaction opens: a bad item writes nothing.
  const runs = checkArrayOf('runs', progress.runs).map((r) => runToRow(r as RunRecord));
  const targets = checkArrayOf('targets', progress.targets).map((t, i) => runTargetToRow(t as RunTargetRecord, i));
  const output = checkArrayOf('output', progress.output).map((o, i) => runOutputToRow(o as never, i));
  if (runs.length + targets.length + output.length === 0) return 0;
  return db.transaction().execute(async (trx) => {
    for (const row of runs)
      await trx
        .insertInto('runs')
        .values(row)
        .onConflict((oc) => oc.column('id').doUpdateSet(replaceAll(RUN_COLUMNS)))
        .execute();
    for (let i = 0; i < targets.length; i += BATCH_ROWS) {
      await trx
        .insertInto('run_targets')
        .values(targets.slice(i, i + BATCH_ROWS))
        .onConflict((oc) => oc.columns(['run_id', 'node_id']).doUpdateSet(replaceAll(TARGET_COLUMNS)))
        .execute();
    }
    let inserted = 0;
    for (let i = 0; i < output.length; i += BATCH_ROWS) {
      const r = await trx
        .insertInto('run_output')
        .values(output.slice(i, i + BATCH_ROWS))
        .onConflict((oc) => oc.columns(['run_id', 'node_id', 'stream', 'chunk']).doNothing())
        .executeTakeFirst();
      inserted += Number(r.numInsertedOrUpdatedRows ?? 0n);
    }
    return inserted;
  });
}

export async function getRun(db: Kysely<Database>, id: string): Promise<RunRecord | undefined> {
  const row = await db.selectFrom('runs').selectAll().where('id', '=', checkId('id', id)).executeTakeFirst();
  return row === undefined ? undefined : rowToRun(row);
}

/** Newest first (by createdAt, then id descending). */
export async function listRuns(db: Kysely<Database>, query: ListRunsQuery): Promise<RunRecord[]> {
  const q = query ?? {};
  let select = db.selectFrom('runs').selectAll();
  if (q.active !== undefined) {
    if (typeof q.active !== 'boolean') throw new FleetError('invalid_argument', 'store: active must be a boolean');
    select = q.active ? select.where('state', '=', 'running') : select.where('state', '!=', 'running');
  }
  if (q.before !== undefined) select = select.where('created_at', '<', checkInt('before', q.before));
  const rows = await select.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(checkLimit(q.limit)).execute();
  return rows.map(rowToRun);
}

/** Every target of a run, by batch, then hostname, then node id. */
export async function listRunTargets(db: Kysely<Database>, runId: string): Promise<RunTargetRecord[]> {
  const rows = await db
    .selectFrom('run_targets')
    .selectAll()
    .where('run_id', '=', checkId('runId', runId))
    .orderBy('batch')
    .orderBy('hostname')
    .orderBy('node_id')
    .execute();
  return rows.map(rowToRunTarget);
}

/** Output chunks in arrival order, after an exclusive id cursor. */
export async function listRunOutput(db: Kysely<Database>, query: ListRunOutputQuery): Promise<RunOutputRecord[]> {
  if (typeof query !== 'object' || query === null) throw new FleetError('invalid_argument', 'store: output query must be an object');
  let select = db.selectFrom('run_output').selectAll().where('run_id', '=', checkId('runId', query.runId));
  if (query.nodeId !== undefined) select = select.where('node_id', '=', checkId('nodeId', query.nodeId));
  if (query.after !== undefined) select = select.where('id', '>', checkInt('after', query.after));
  const rows = await select.orderBy('id').limit(checkLimit(query.limit)).execute();
  return rows.map(rowToRunOutput);
}
