import { FleetError, ROLLOUT_HOST_STATES, ROLLOUT_STATES, type RolloutHostState, type RolloutState } from '@gpufleet/protocol';
import type { Kysely, Selectable } from 'kysely';
import type { Database } from './schema.js';
import type { RolloutHostsTable, RolloutsTable } from './rollout-schema.js';
import type {
  RolloutEventInput,
  RolloutEventRecord,
  RolloutHostPatch,
  RolloutHostRecord,
  RolloutHostRollback,
  RolloutPatch,
  RolloutRecord,
} from './rollout-records.js';
import {
  BATCH_ROWS,
  checkArray,
  checkId,
  checkInt,
  checkIntOrNull,
  checkLimit,
  checkObject,
  checkOneOf,
  checkText,
  checkTextOrNull,
  dbInt,
  dbIntOrNull,
  fromJson,
  toJson,
} from './store-checks.js';

/** The SQL of rollouts (0013_rollouts), kept out of kysely-store.ts; every input is checked first. */

const ROLLBACKS: readonly RolloutHostRollback[] = ['none', 'by-host', 'sent'];
const KINDS = ['agent', 'bundle'] as const;

function rolloutToRow(r: RolloutRecord): RolloutsTable {
  checkObject('rollout', r);
  return {
    id: checkId('id', r.id),
    kind: checkOneOf('kind', r.kind, KINDS),
    name: checkId('name', r.name),
    version: checkId('version', r.version),
    target_path: checkId('targetPath', r.targetPath),
    target_sha256: checkId('targetSha256', r.targetSha256),
    selector: checkText('selector', r.selector),
    plan: toJson('plan', checkObject('plan', r.plan)),
    signed: toJson('signed', checkObject('signed', r.signed)),
    state: checkOneOf('state', r.state, ROLLOUT_STATES),
    step: checkInt('step', r.step),
    steps: toJson('steps', checkArray('steps', r.steps)),
    forgiven_failures: checkInt('forgivenFailures', r.forgivenFailures),
    message: checkTextOrNull('message', r.message),
    created_by: checkId('createdBy', r.createdBy),
    created_at: checkInt('createdAt', r.createdAt),
    updated_at: checkInt('updatedAt', r.updatedAt),
  };
}

function hostToRow(h: RolloutHostRecord): RolloutHostsTable {
  checkObject('host', h);
  return {
    rollout_id: checkId('rolloutId', h.rolloutId),
    node_id: checkId('nodeId', h.nodeId),
    hostname: checkId('hostname', h.hostname),
    step: checkInt('step', h.step),
    position: checkInt('position', h.position),
    ...hostPatchToRow(h),
    updated_at: checkInt('updatedAt', h.updatedAt),
  } as RolloutHostsTable;
}

/** Only the fields given; each checked. */
function hostPatchToRow(p: RolloutHostPatch): Partial<RolloutHostsTable> {
  checkObject('patch', p);
  const row: Partial<RolloutHostsTable> = {};
  if (p.state !== undefined) row.state = checkOneOf('state', p.state, ROLLOUT_HOST_STATES);
  if (p.fromVersion !== undefined) row.from_version = checkTextOrNull('fromVersion', p.fromVersion);
  if (p.runningVersion !== undefined) row.running_version = checkTextOrNull('runningVersion', p.runningVersion);
  if (p.healthySince !== undefined) row.healthy_since = checkIntOrNull('healthySince', p.healthySince);
  if (p.failedAt !== undefined) row.failed_at = checkIntOrNull('failedAt', p.failedAt);
  if (p.rollback !== undefined) row.rollback = checkOneOf('rollback', p.rollback, ROLLBACKS);
  if (p.message !== undefined) row.message = checkTextOrNull('message', p.message);
  if (p.updatedAt !== undefined) row.updated_at = checkInt('updatedAt', p.updatedAt);
  return row;
}

function rowToRollout(r: Selectable<RolloutsTable>): RolloutRecord {
  const where = `rollout ${r.id}`;
  return {
    id: r.id,
    kind: r.kind as RolloutRecord['kind'],
    name: r.name,
    version: r.version,
    targetPath: r.target_path,
    targetSha256: r.target_sha256,
    selector: r.selector,
    plan: fromJson(`${where} plan`, r.plan) as RolloutRecord['plan'],
    signed: fromJson(`${where} signed`, r.signed) as RolloutRecord['signed'],
    state: r.state as RolloutState,
    step: dbInt(r.step),
    steps: fromJson(`${where} steps`, r.steps) as RolloutRecord['steps'],
    forgivenFailures: dbInt(r.forgiven_failures),
    message: r.message,
    createdBy: r.created_by,
    createdAt: dbInt(r.created_at),
    updatedAt: dbInt(r.updated_at),
  };
}

function rowToHost(r: Selectable<RolloutHostsTable>): RolloutHostRecord {
  return {
    rolloutId: r.rollout_id,
    nodeId: r.node_id,
    hostname: r.hostname,
    step: dbInt(r.step),
    position: dbInt(r.position),
    state: r.state as RolloutHostState,
    fromVersion: r.from_version,
    runningVersion: r.running_version,
    healthySince: dbIntOrNull(r.healthy_since),
    failedAt: dbIntOrNull(r.failed_at),
    rollback: r.rollback as RolloutHostRollback,
    message: r.message,
    updatedAt: dbInt(r.updated_at),
  };
}

export async function insertRollout(db: Kysely<Database>, rollout: RolloutRecord, hosts: ReadonlyArray<RolloutHostRecord>): Promise<void> {
  const row = rolloutToRow(rollout);
  const rows = checkArray('hosts', hosts).map((h) => hostToRow(h as RolloutHostRecord));
  for (const h of rows)
    if (h.rollout_id !== row.id) throw new FleetError('invalid_argument', `store: host ${h.node_id} belongs to rollout ${h.rollout_id}, not ${row.id}`);
  await db.transaction().execute(async (trx) => {
    const r = await trx
      .insertInto('rollouts')
      .values(row)
      .onConflict((oc) => oc.column('id').doNothing())
      .executeTakeFirst();
    if (Number(r.numInsertedOrUpdatedRows ?? 0n) === 0) throw new FleetError('already_exists', `rollout ${row.id} exists already`);
    for (let i = 0; i < rows.length; i += BATCH_ROWS)
      await trx
        .insertInto('rollout_hosts')
        .values(rows.slice(i, i + BATCH_ROWS))
        .execute();
  });
}

export async function getRollout(db: Kysely<Database>, id: string): Promise<RolloutRecord | undefined> {
  const row = await db.selectFrom('rollouts').selectAll().where('id', '=', checkId('id', id)).executeTakeFirst();
  return row ? rowToRollout(row) : undefined;
}

export async function listRollouts(db: Kysely<Database>, query: { states?: ReadonlyArray<RolloutState>; limit?: number } = {}): Promise<RolloutRecord[]> {
  checkObject('query', query);
  let q = db.selectFrom('rollouts').selectAll();
  if (query.states !== undefined) {
    const states = checkArray('states', query.states).map((s) => checkOneOf('states[]', s, ROLLOUT_STATES));
    if (states.length === 0) return [];
    q = q.where('state', 'in', states);
  }
  const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(checkLimit(query.limit)).execute();
  return rows.map(rowToRollout);
}

export async function updateRollout(db: Kysely<Database>, id: string, patch: RolloutPatch): Promise<void> {
  checkObject('patch', patch);
  const row: Partial<RolloutsTable> = {};
  if (patch.state !== undefined) row.state = checkOneOf('state', patch.state, ROLLOUT_STATES);
  if (patch.step !== undefined) row.step = checkInt('step', patch.step);
  if (patch.steps !== undefined) row.steps = toJson('steps', checkArray('steps', patch.steps));
  if (patch.forgivenFailures !== undefined) row.forgiven_failures = checkInt('forgivenFailures', patch.forgivenFailures);
  if (patch.message !== undefined) row.message = checkTextOrNull('message', patch.message);
  if (patch.updatedAt !== undefined) row.updated_at = checkInt('updatedAt', patch.updatedAt);
  const checkedId = checkId('id', id);
  if (Object.keys(row).length === 0) {
    if (!(await getRollout(db, checkedId))) throw new FleetError('not_found', `no rollout '${checkedId}'`);
    return;
  }
  const r = await db.updateTable('rollouts').set(row).where('id', '=', checkedId).executeTakeFirst();
  if (Number(r.numUpdatedRows) === 0) throw new FleetError('not_found', `no rollout '${checkedId}'`);
}

export async function listRolloutHosts(db: Kysely<Database>, rolloutId: string): Promise<RolloutHostRecord[]> {
  const rows = await db.selectFrom('rollout_hosts').selectAll().where('rollout_id', '=', checkId('rolloutId', rolloutId)).orderBy('position').execute();
  return rows.map(rowToHost);
}

export async function updateRolloutHosts(
  db: Kysely<Database>,
  rolloutId: string,
  changes: ReadonlyArray<{ nodeId: string; patch: RolloutHostPatch }>,
): Promise<void> {
  const id = checkId('rolloutId', rolloutId);
  const rows = checkArray('changes', changes).map((c) => {
    const change = checkObject('change', c);
    return { nodeId: checkId('nodeId', change.nodeId), row: hostPatchToRow(change.patch as RolloutHostPatch) };
  });
  if (rows.length === 0) return;
  await db.transaction().execute(async (trx) => {
    for (const { nodeId, row } of rows) {
      if (Object.keys(row).length === 0) continue;
      await trx.updateTable('rollout_hosts').set(row).where('rollout_id', '=', id).where('node_id', '=', nodeId).execute();
    }
  });
}

export async function rolloutHostsOfNode(db: Kysely<Database>, nodeId: string, states: ReadonlyArray<RolloutHostState>): Promise<RolloutHostRecord[]> {
  const list = checkArray('states', states).map((s) => checkOneOf('states[]', s, ROLLOUT_HOST_STATES));
  if (list.length === 0) return [];
  const rows = await db
    .selectFrom('rollout_hosts')
    .selectAll()
    .where('node_id', '=', checkId('nodeId', nodeId))
    .where('state', 'in', list)
    .orderBy('rollout_id')
    .execute();
  return rows.map(rowToHost);
}

export async function appendRolloutEvents(db: Kysely<Database>, events: ReadonlyArray<RolloutEventInput>): Promise<void> {
  const rows = checkArray('events', events).map((e) => {
    const ev = checkObject('event', e) as unknown as RolloutEventInput;
    return {
      rollout_id: checkId('rolloutId', ev.rolloutId),
      at: checkInt('at', ev.at),
      kind: checkId('kind', ev.kind),
      node_id: ev.nodeId === null ? null : checkId('nodeId', ev.nodeId),
      message: checkText('message', ev.message),
    };
  });
  for (let i = 0; i < rows.length; i += BATCH_ROWS)
    await db
      .insertInto('rollout_events')
      .values(rows.slice(i, i + BATCH_ROWS))
      .execute();
}

export async function listRolloutEvents(db: Kysely<Database>, rolloutId: string, after = 0, limit?: number): Promise<RolloutEventRecord[]> {
  const rows = await db
    .selectFrom('rollout_events')
    .selectAll()
    .where('rollout_id', '=', checkId('rolloutId', rolloutId))
    .where('id', '>', checkInt('after', after))
    .orderBy('id')
    .limit(checkLimit(limit))
    .execute();
  return rows.map((r) => ({ id: dbInt(r.id), rolloutId: r.rollout_id, at: dbInt(r.at), kind: r.kind, nodeId: r.node_id, message: r.message }));
}
