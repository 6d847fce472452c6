import { FleetError } from '@gpufleet/protocol';
import type { Kysely, Selectable, Transaction } from 'kysely';
import type { Database } from './schema.js';
import type { NodeGroupsTable, VariablesTable } from './group-schema.js';
import { VAR_RECORD_SCOPES, type GroupPatch, type GroupRecord, type VarRecord, type VarRecordScope, type VarsChange } from './group-records.js';
import { checkId, checkIdList, checkInt, checkObject, checkOneOf, checkText, checkTextOrNull, dbInt, fromJson, toJson } from './store-checks.js';

/** The SQL of node groups and variables (0010_groups); every input is checked before a transaction opens. */

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function checkIds(field: string, ids: unknown): string[] {
  if (ids === undefined) return [];
  if (!Array.isArray(ids)) throw new FleetError('invalid_argument', `store: ${field} must be an array`);
  return [...new Set(ids.map((id, i) => checkId(`${field}[${i}]`, id)))];
}

function groupToRow(g: GroupRecord): NodeGroupsTable {
  if (typeof g !== 'object' || g === null) throw new FleetError('invalid_argument', 'store: group must be an object');
  return {
    name: checkId('name', g.name),
    description: checkText('description', g.description),
    priority: checkInt('priority', g.priority),
    selector: checkTextOrNull('selector', g.selector),
    created_at: checkInt('createdAt', g.createdAt),
    updated_at: checkInt('updatedAt', g.updatedAt),
    created_by: checkText('createdBy', g.createdBy),
  };
}

function patchToRow(patch: GroupPatch): Partial<NodeGroupsTable> {
  if (typeof patch !== 'object' || patch === null) throw new FleetError('invalid_argument', 'store: group patch must be an object');
  const row: Partial<NodeGroupsTable> = {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    if (key === 'description') row.description = checkText('description', value);
    else if (key === 'priority') row.priority = checkInt('priority', value);
    else if (key === 'selector') row.selector = checkTextOrNull('selector', value);
    else if (key === 'updatedAt') row.updated_at = checkInt('updatedAt', value);
    else throw new FleetError('invalid_argument', `store: group field '${key}' cannot be patched`);
  }
  return row;
}

function rowToGroup(row: Selectable<NodeGroupsTable>, members: string[]): GroupRecord {
  return {
    name: row.name,
    description: row.description,
    priority: dbInt(row.priority),
    selector: row.selector,
    members,
    createdAt: dbInt(row.created_at),
    updatedAt: dbInt(row.updated_at),
    createdBy: row.created_by,
  };
}

async function membersByGroup(db: Kysely<Database>, name?: string): Promise<Map<string, string[]>> {
  let q = db.selectFrom('node_group_members').select(['group_name', 'node_id']);
  if (name !== undefined) q = q.where('group_name', '=', name);
  // Sorted here, not in SQL: PostgreSQL's collation would order text unlike SQLite's.
  const rows = (await q.execute()).sort((a, b) => cmp(a.group_name, b.group_name) || cmp(a.node_id, b.node_id));
  const byGroup = new Map<string, string[]>();
  for (const r of rows) {
    const list = byGroup.get(r.group_name) ?? [];
    list.push(r.node_id);
    byGroup.set(r.group_name, list);
  }
  return byGroup;
}

async function addMembers(trx: Transaction<Database>, name: string, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await trx
    .insertInto('node_group_members')
    .values(ids.map((node_id) => ({ group_name: name, node_id })))
    .onConflict((oc) => oc.columns(['group_name', 'node_id']).doNothing())
    .execute();
}

export async function insertGroup(db: Kysely<Database>, group: GroupRecord): Promise<void> {
  const row = groupToRow(group);
  const members = checkIds('members', group.members);
  await db.transaction().execute(async (trx) => {
    const r = await trx
      .insertInto('node_groups')
      .values(row)
      .onConflict((oc) => oc.column('name').doNothing())
      .executeTakeFirst();
    if (Number(r.numInsertedOrUpdatedRows ?? 0) === 0) throw new FleetError('already_exists', `group '${row.name}' already exists`);
    await addMembers(trx, row.name, members);
  });
}

export async function getGroup(db: Kysely<Database>, name: string): Promise<GroupRecord | undefined> {
  const row = await db.selectFrom('node_groups').selectAll().where('name', '=', checkId('name', name)).executeTakeFirst();
  if (!row) return undefined;
  return rowToGroup(row, (await membersByGroup(db, name)).get(name) ?? []);
}

export async function listGroups(db: Kysely<Database>): Promise<GroupRecord[]> {
  const rows = (await db.selectFrom('node_groups').selectAll().execute()).sort((a, b) => cmp(a.name, b.name));
  const members = await membersByGroup(db);
  return rows.map((row) => rowToGroup(row, members.get(row.name) ?? []));
}

export async function updateGroup(
  db: Kysely<Database>,
  name: string,
  patch: GroupPatch,
  members: { add?: readonly string[]; remove?: readonly string[] } = {},
): Promise<void> {
  checkId('name', name);
  const row = patchToRow(patch);
  if (typeof members !== 'object' || members === null) throw new FleetError('invalid_argument', 'store: members must be an object');
  const add = checkIds('members.add', members.add);
  const remove = checkIds('members.remove', members.remove);
  await db.transaction().execute(async (trx) => {
    const found = await trx.selectFrom('node_groups').select('name').where('name', '=', name).executeTakeFirst();
    if (!found) throw new FleetError('not_found', `no group '${name}'`);
    if (Object.keys(row).length > 0) await trx.updateTable('node_groups').set(row).where('name', '=', name).execute();
    if (remove.length > 0) {
      await trx.deleteFrom('node_group_members').where('group_name', '=', name).where('node_id', 'in', checkIdList('members.remove', remove)).execute();
    }
    await addMembers(trx, name, add);
  });
}

export async function deleteGroup(db: Kysely<Database>, name: string): Promise<boolean> {
  checkId('name', name);
  return db.transaction().execute(async (trx) => {
    await trx.deleteFrom('node_group_members').where('group_name', '=', name).execute();
    await trx.deleteFrom('variables').where('scope', '=', 'group').where('target', '=', name).execute();
    const r = await trx.deleteFrom('node_groups').where('name', '=', name).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  });
}

function checkTarget(scope: VarRecordScope, target: unknown): string {
  if (scope === 'global') {
    if (target !== '') throw new FleetError('invalid_argument', "store: target of a global variable must be ''");
    return '';
  }
  return checkId('target', target);
}

export async function changeVars(db: Kysely<Database>, change: VarsChange): Promise<void> {
  if (typeof change !== 'object' || change === null) throw new FleetError('invalid_argument', 'store: vars change must be an object');
  const scope = checkOneOf('scope', change.scope, VAR_RECORD_SCOPES);
  const target = checkTarget(scope, change.target);
  const at = checkInt('at', change.at);
  const by = checkText('by', change.by);
  const rows: VariablesTable[] = Object.entries(checkObject('set', change.set)).map(([name, value]) => ({
    scope,
    target,
    name: checkId('set key', name),
    value: toJson(`set.${name}`, value),
    updated_at: at,
    updated_by: by,
  }));
  const remove = checkIds('remove', change.remove);
  await db.transaction().execute(async (trx) => {
    if (remove.length > 0) {
      await trx.deleteFrom('variables').where('scope', '=', scope).where('target', '=', target).where('name', 'in', remove).execute();
    }
    if (rows.length > 0) {
      await trx
        .insertInto('variables')
        .values(rows)
        .onConflict((oc) => oc.columns(['scope', 'target', 'name']).doUpdateSet((eb) => ({ value: eb.ref('excluded.value'), updated_at: at, updated_by: by })))
        .execute();
    }
  });
}

export async function listVars(db: Kysely<Database>, query: { scope?: VarRecordScope; target?: string } = {}): Promise<VarRecord[]> {
  let q = db.selectFrom('variables').selectAll();
  if (query.scope !== undefined) q = q.where('scope', '=', checkOneOf('scope', query.scope, VAR_RECORD_SCOPES));
  if (query.target !== undefined) q = q.where('target', '=', checkText('target', query.target));
  const rows = (await q.execute()).sort((a, b) => cmp(a.scope, b.scope) || cmp(a.target, b.target) || cmp(a.name, b.name));
  return rows.map((r) => ({
    scope: r.scope as VarRecordScope,
    target: r.target,
    name: r.name,
    value: fromJson(`variables ${r.scope}/${r.target}/${r.name}`, r.value),
    updatedAt: dbInt(r.updated_at),
    updatedBy: r.updated_by,
  }));
}

export async function forgetNodeInGroups(db: Kysely<Database>, nodeId: string): Promise<void> {
  checkId('nodeId', nodeId);
  await db.transaction().execute(async (trx) => {
    await trx.deleteFrom('node_group_members').where('node_id', '=', nodeId).execute();
    await trx.deleteFrom('variables').where('scope', '=', 'node').where('target', '=', nodeId).execute();
  });
}
