import { FleetError } from '@gpufleet/protocol';
import type { Kysely } from 'kysely';
import type { Database } from './schema.js';
import { ADMIN_STATES, findingToRow, gpuKeyToColumn, healthEventToRow, rowToFinding, rowToHealthEvent, rowToStateMark, stateMarkToRow } from './row-mappers.js';
import { checkId, checkIdList, checkInt, checkLimit, checkOneOf, checkTextOrNull } from './store-checks.js';
import type { FindingsChange, HealthEventInput, HealthEventRecord, HealthFindingRecord, ListHealthEventsQuery, StateChange, StateMarkRecord } from './store.js';

/**
 * The SQL of health state: node/GPU state marks, findings and the health timeline, kept out of
 * kysely-store.ts (which delegates here), like run-queries.ts for runs.
 */

/** Rows per statement: health events have 10 columns, so 500 rows stay under both engines' limits. */
const BATCH_ROWS = 500;

export async function applyStateChange(db: Kysely<Database>, change: StateChange): Promise<number> {
  if (typeof change !== 'object' || change === null) throw new FleetError('invalid_argument', 'store: state change must be an object');
  const nodeId = checkId('nodeId', change.nodeId);
  const gpuKey = gpuKeyToColumn('gpuKey', change.gpuKey);
  const node =
    change.node === undefined
      ? undefined
      : {
          admin_state: checkOneOf('node.adminState', change.node?.adminState, ADMIN_STATES),
          cordon_reason: checkTextOrNull('node.cordonReason', change.node?.cordonReason),
        };
  const mark = change.mark === null ? null : stateMarkToRow(change.mark);
  if (mark !== null && (mark.node_id !== nodeId || mark.gpu_key !== gpuKey))
    throw new FleetError('invalid_argument', 'store: the mark must be for the node and GPU of the change');
  const event = healthEventToRow(change.event, 0);
  // Everything is checked before the transaction opens: a bad change writes nothing.
  return db.transaction().execute(async (trx) => {
    if (node !== undefined) {
      const r = await trx.updateTable('nodes').set(node).where('id', '=', nodeId).executeTakeFirst();
      if (Number(r.numUpdatedRows) === 0) throw new FleetError('not_found', `node ${nodeId} not found`);
    }
    if (mark === null) {
      await trx.deleteFrom('state_marks').where('node_id', '=', nodeId).where('gpu_key', '=', gpuKey).execute();
    } else {
      const { node_id: _n, gpu_key: _g, ...rest } = mark;
      await trx
        .insertInto('state_marks')
        .values(mark)
        .onConflict((oc) => oc.columns(['node_id', 'gpu_key']).doUpdateSet(rest))
        .execute();
    }
    const r = await trx.insertInto('health_events').values(event).returning('id').executeTakeFirstOrThrow();
    return Number(r.id);
  });
}

export async function listStateMarks(db: Kysely<Database>): Promise<StateMarkRecord[]> {
  const rows = await db.selectFrom('state_marks').selectAll().orderBy('node_id').orderBy('gpu_key').execute();
  return rows.map(rowToStateMark);
}

export async function saveFindings(db: Kysely<Database>, change: FindingsChange): Promise<void> {
  if (typeof change !== 'object' || change === null) throw new FleetError('invalid_argument', 'store: findings change must be an object');
  if (!Array.isArray(change.upsert) || !Array.isArray(change.remove) || !Array.isArray(change.events)) {
    throw new FleetError('invalid_argument', 'store: findings change wants upsert, remove and events arrays');
  }
  const upserts = change.upsert.map(findingToRow);
  const removals = change.remove.map((r, i) => {
    if (typeof r !== 'object' || r === null) throw new FleetError('invalid_argument', `store: remove[${i}] must be an object`);
    return {
      node_id: checkId(`remove[${i}].nodeId`, r.nodeId),
      gpu_key: gpuKeyToColumn(`remove[${i}].gpuKey`, r.gpuKey),
      rule: checkId(`remove[${i}].rule`, r.rule),
    };
  });
  const events = change.events.map(healthEventToRow);
  if (upserts.length + removals.length + events.length === 0) return;
  await db.transaction().execute(async (trx) => {
    for (const r of removals) {
      await trx.deleteFrom('health_findings').where('node_id', '=', r.node_id).where('gpu_key', '=', r.gpu_key).where('rule', '=', r.rule).execute();
    }
    for (const row of upserts) {
      const { node_id: _n, gpu_key: _g, rule: _r, ...rest } = row;
      await trx
        .insertInto('health_findings')
        .values(row)
        .onConflict((oc) => oc.columns(['node_id', 'gpu_key', 'rule']).doUpdateSet(rest))
        .execute();
    }
    for (let i = 0; i < events.length; i += BATCH_ROWS)
      await trx
        .insertInto('health_events')
        .values(events.slice(i, i + BATCH_ROWS))
        .execute();
  });
}

export async function listFindings(db: Kysely<Database>): Promise<HealthFindingRecord[]> {
  const rows = await db.selectFrom('health_findings').selectAll().orderBy('node_id').orderBy('gpu_key').orderBy('rule').execute();
  return rows.map(rowToFinding);
}

export async function appendHealthEvents(db: Kysely<Database>, events: ReadonlyArray<HealthEventInput>): Promise<void> {
  if (!Array.isArray(events)) throw new FleetError('invalid_argument', 'store: appendHealthEvents wants an array');
  const rows = events.map(healthEventToRow);
  if (rows.length === 0) return;
  await db.transaction().execute(async (trx) => {
    for (let i = 0; i < rows.length; i += BATCH_ROWS)
      await trx
        .insertInto('health_events')
        .values(rows.slice(i, i + BATCH_ROWS))
        .execute();
  });
}

export async function listHealthEvents(db: Kysely<Database>, query: ListHealthEventsQuery): Promise<HealthEventRecord[]> {
  const q = query ?? {};
  let select = db.selectFrom('health_events').selectAll();
  if (q.nodeId !== undefined) select = select.where('node_id', '=', checkId('nodeId', q.nodeId));
  if (q.nodeIds !== undefined) select = select.where('node_id', 'in', checkIdList('nodeIds', q.nodeIds));
  if (q.gpuKeys !== undefined) select = select.where('gpu_key', 'in', checkIdList('gpuKeys', q.gpuKeys));
  if (q.type !== undefined) select = select.where('type', '=', checkOneOf('type', q.type, ['verdict', 'transition', 'match'] as const));
  if (q.since !== undefined) select = select.where('at', '>=', checkInt('since', q.since));
  const rows = await select.orderBy('at', 'desc').orderBy('id', 'desc').limit(checkLimit(q.limit)).execute();
  return rows.map(rowToHealthEvent);
}
