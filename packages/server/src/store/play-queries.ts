import { FleetError } from '@gpufleet/protocol';
import type { Kysely, Selectable } from 'kysely';
import type { Database } from './schema.js';
import type { PlayEventsTable, PlayHostsTable, PlaysTable, PlayTemplatesTable } from './play-schema.js';
import type {
  ListPlaysQuery,
  PlayCondition,
  PlayEventRecord,
  PlayHostRecord,
  PlayPatch,
  PlayRecord,
  PlayRunner,
  PlayStateRecord,
  TemplateRecord,
} from './play-records.js';
import {
  checkBool,
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

/** The SQL of templates and plays (0011_plays), kept out of kysely-store.ts; every input is checked first. */

const PLAY_STATES: readonly PlayStateRecord[] = ['PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELED'];
const HOST_STATES = ['pending', 'running', 'ok', 'failed', 'unreachable'] as const;
const EVENT_KINDS = ['play', 'task', 'host', 'recap', 'output', 'state'] as const;
const EVENT_STATUSES = ['ok', 'changed', 'failed', 'unreachable', 'skipped'] as const;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

function templateToRow(t: TemplateRecord): PlayTemplatesTable {
  if (!isObject(t)) throw new FleetError('invalid_argument', 'store: template must be an object');
  const version = checkInt('version', t.version);
  if (version < 1) throw new FleetError('invalid_argument', `store: version must be at least 1, got ${version}`);
  return {
    name: checkId('name', t.name),
    version,
    description: checkText('description', t.description),
    category: checkId('category', t.category),
    builtin: checkBool('builtin', t.builtin),
    become: checkBool('become', t.become),
    timeout_ms: checkInt('timeoutMs', t.timeoutMs),
    vars: toJson('vars', checkObject('vars', t.vars)),
    playbook: checkText('playbook', t.playbook),
    sha256: checkId('sha256', t.sha256),
    created_at: checkInt('createdAt', t.createdAt),
    created_by: checkText('createdBy', t.createdBy),
  };
}

function rowToTemplate(r: Selectable<PlayTemplatesTable>): TemplateRecord {
  return {
    name: r.name,
    version: dbInt(r.version),
    description: r.description,
    category: r.category,
    builtin: dbInt(r.builtin) === 1,
    become: dbInt(r.become) === 1,
    timeoutMs: dbInt(r.timeout_ms),
    vars: fromJson(`template ${r.name} vars`, r.vars) as Record<string, unknown>,
    playbook: r.playbook,
    sha256: r.sha256,
    createdAt: dbInt(r.created_at),
    createdBy: r.created_by,
  };
}

function runnerToRow(r: PlayRunner | null): Pick<PlaysTable, 'runner_replica' | 'runner_instance'> {
  if (r === null) return { runner_replica: null, runner_instance: null };
  if (!isObject(r)) throw new FleetError('invalid_argument', 'store: runner must be an object or null');
  return { runner_replica: checkId('runner.replica', r.replica), runner_instance: checkId('runner.instance', r.instance) };
}

function playToRow(p: PlayRecord): PlaysTable {
  if (!isObject(p)) throw new FleetError('invalid_argument', 'store: play must be an object');
  return {
    ...runnerToRow(p.runner),
    id: checkId('id', p.id),
    template: checkId('template', p.template),
    template_version: checkInt('templateVersion', p.templateVersion),
    selector: checkText('selector', p.selector),
    serial: checkTextOrNull('serial', p.serial),
    max_fail_percentage: checkIntOrNull('maxFailPercentage', p.maxFailPercentage),
    check_mode: checkBool('check', p.check),
    extra_vars: toJson('extraVars', checkObject('extraVars', p.extraVars)),
    timeout_ms: checkInt('timeoutMs', p.timeoutMs),
    state: checkOneOf('state', p.state, PLAY_STATES),
    created_by: checkText('createdBy', p.createdBy),
    created_at: checkInt('createdAt', p.createdAt),
    started_at: checkIntOrNull('startedAt', p.startedAt),
    ended_at: checkIntOrNull('endedAt', p.endedAt),
    exit_code: checkIntOrNull('exitCode', p.exitCode),
    error: checkTextOrNull('error', p.error),
    reason: checkTextOrNull('reason', p.reason),
  };
}

function rowToPlay(r: Selectable<PlaysTable>): PlayRecord {
  return {
    id: r.id,
    template: r.template,
    templateVersion: dbInt(r.template_version),
    selector: r.selector,
    serial: r.serial,
    maxFailPercentage: dbIntOrNull(r.max_fail_percentage),
    check: dbInt(r.check_mode) === 1,
    extraVars: fromJson(`play ${r.id} extra_vars`, r.extra_vars) as Record<string, unknown>,
    timeoutMs: dbInt(r.timeout_ms),
    state: r.state as PlayStateRecord,
    createdBy: r.created_by,
    createdAt: dbInt(r.created_at),
    startedAt: dbIntOrNull(r.started_at),
    endedAt: dbIntOrNull(r.ended_at),
    exitCode: dbIntOrNull(r.exit_code),
    error: r.error,
    reason: r.reason,
    runner: r.runner_replica !== null && r.runner_instance !== null ? { replica: r.runner_replica, instance: r.runner_instance } : null,
  };
}

function hostToRow(h: PlayHostRecord): PlayHostsTable {
  if (!isObject(h)) throw new FleetError('invalid_argument', 'store: play host must be an object');
  return {
    play_id: checkId('playId', h.playId),
    node_id: checkId('nodeId', h.nodeId),
    hostname: checkText('hostname', h.hostname),
    ok: checkInt('ok', h.ok),
    changed: checkInt('changed', h.changed),
    failed: checkInt('failed', h.failed),
    unreachable: checkInt('unreachable', h.unreachable),
    skipped: checkInt('skipped', h.skipped),
    state: checkOneOf('state', h.state, HOST_STATES),
  };
}

function rowToHost(r: Selectable<PlayHostsTable>): PlayHostRecord {
  return {
    playId: r.play_id,
    nodeId: r.node_id,
    hostname: r.hostname,
    ok: dbInt(r.ok),
    changed: dbInt(r.changed),
    failed: dbInt(r.failed),
    unreachable: dbInt(r.unreachable),
    skipped: dbInt(r.skipped),
    state: r.state as PlayHostRecord['state'],
  };
}

function eventToRow(e: PlayEventRecord): PlayEventsTable {
  if (!isObject(e)) throw new FleetError('invalid_argument', 'store: play event must be an object');
  return {
    play_id: checkId('playId', e.playId),
    seq: checkInt('seq', e.seq),
    at: checkInt('at', e.at),
    kind: checkOneOf('kind', e.kind, EVENT_KINDS),
    host: checkTextOrNull('host', e.host),
    task: checkTextOrNull('task', e.task),
    status: e.status === null ? null : checkOneOf('status', e.status, EVENT_STATUSES),
    message: checkText('message', e.message),
  };
}

function rowToEvent(r: Selectable<PlayEventsTable>): PlayEventRecord {
  return {
    playId: r.play_id,
    seq: dbInt(r.seq),
    at: dbInt(r.at),
    kind: r.kind as PlayEventRecord['kind'],
    host: r.host,
    task: r.task,
    status: r.status as PlayEventRecord['status'],
    message: r.message,
  };
}

export async function insertTemplate(db: Kysely<Database>, template: TemplateRecord): Promise<void> {
  const row = templateToRow(template);
  await db.transaction().execute(async (trx) => {
    const found = await trx.selectFrom('play_templates').select('name').where('name', '=', row.name).where('version', '=', row.version).executeTakeFirst();
    if (found) throw new FleetError('already_exists', `template ${row.name} version ${row.version} exists`);
    await trx.insertInto('play_templates').values(row).execute();
  });
}

export async function getTemplate(db: Kysely<Database>, name: string, version?: number): Promise<TemplateRecord | undefined> {
  let q = db.selectFrom('play_templates').selectAll().where('name', '=', checkId('name', name));
  if (version !== undefined) q = q.where('version', '=', checkInt('version', version));
  const row = await q.orderBy('version', 'desc').limit(1).executeTakeFirst();
  return row === undefined ? undefined : rowToTemplate(row);
}

export async function listTemplates(db: Kysely<Database>): Promise<TemplateRecord[]> {
  const rows = await db
    .selectFrom('play_templates as t')
    .selectAll('t')
    .where(({ eb, selectFrom }) =>
      eb(
        't.version',
        '=',
        selectFrom('play_templates as n')
          .select((e) => e.fn.max('n.version').as('v'))
          .whereRef('n.name', '=', 't.name'),
      ),
    )
    .orderBy('t.name')
    .execute();
  return rows.map(rowToTemplate);
}

export async function listTemplateVersions(db: Kysely<Database>, name: string): Promise<number[]> {
  const rows = await db.selectFrom('play_templates').select('version').where('name', '=', checkId('name', name)).orderBy('version').execute();
  return rows.map((r) => dbInt(r.version));
}

export async function insertPlay(db: Kysely<Database>, play: PlayRecord, hosts: ReadonlyArray<PlayHostRecord>): Promise<void> {
  const row = playToRow(play);
  if (!Array.isArray(hosts)) throw new FleetError('invalid_argument', 'store: hosts must be an array');
  const hostRows = hosts.map(hostToRow);
  const foreign = hostRows.find((h) => h.play_id !== row.id);
  if (foreign) throw new FleetError('invalid_argument', `store: host ${foreign.node_id} belongs to play ${foreign.play_id}, not ${row.id}`);
  await db.transaction().execute(async (trx) => {
    const found = await trx.selectFrom('plays').select('id').where('id', '=', row.id).executeTakeFirst();
    if (found) throw new FleetError('already_exists', `play ${row.id} exists`);
    await trx.insertInto('plays').values(row).execute();
    if (hostRows.length > 0) await trx.insertInto('play_hosts').values(hostRows).execute();
  });
}

export async function getPlay(db: Kysely<Database>, id: string): Promise<PlayRecord | undefined> {
  const row = await db.selectFrom('plays').selectAll().where('id', '=', checkId('id', id)).executeTakeFirst();
  return row === undefined ? undefined : rowToPlay(row);
}

export async function listPlays(db: Kysely<Database>, query: ListPlaysQuery = {}): Promise<PlayRecord[]> {
  let q = db.selectFrom('plays').selectAll();
  if (query.state !== undefined) q = q.where('state', '=', checkOneOf('state', query.state, PLAY_STATES));
  const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(checkLimit(query.limit)).execute();
  return rows.map(rowToPlay);
}

function patchToRow(patch: PlayPatch): Partial<PlaysTable> {
  if (!isObject(patch)) throw new FleetError('invalid_argument', 'store: play patch must be an object');
  const row: Partial<PlaysTable> = {};
  for (const [field, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    if (field === 'state') row.state = checkOneOf('state', value, PLAY_STATES);
    else if (field === 'startedAt') row.started_at = checkIntOrNull('startedAt', value);
    else if (field === 'endedAt') row.ended_at = checkIntOrNull('endedAt', value);
    else if (field === 'exitCode') row.exit_code = checkIntOrNull('exitCode', value);
    else if (field === 'error') row.error = checkTextOrNull('error', value);
    else throw new FleetError('invalid_argument', `store: play field '${field}' cannot be patched`);
  }
  return row;
}

export async function updatePlay(db: Kysely<Database>, id: string, patch: PlayPatch): Promise<void> {
  const key = checkId('id', id);
  const row = patchToRow(patch);
  if (Object.keys(row).length === 0) {
    if (!(await getPlay(db, key))) throw new FleetError('not_found', `no play ${key}`);
    return;
  }
  const result = await db.updateTable('plays').set(row).where('id', '=', key).executeTakeFirst();
  if (Number(result.numUpdatedRows) === 0) throw new FleetError('not_found', `no play ${key}`);
}

export async function updatePlayWhile(db: Kysely<Database>, id: string, when: PlayCondition, patch: PlayPatch): Promise<boolean> {
  const key = checkId('id', id);
  if (!isObject(when) || !Array.isArray(when.states) || when.states.length === 0)
    throw new FleetError('invalid_argument', 'store: a play condition needs a non-empty list of states');
  const states = when.states.map((st) => checkOneOf('when.states', st, PLAY_STATES));
  const runner = when.runnerInstance === null ? null : checkId('when.runnerInstance', when.runnerInstance);
  const row = patchToRow(patch);
  if (Object.keys(row).length === 0) throw new FleetError('invalid_argument', 'store: a conditional play patch must change something');
  let q = db.updateTable('plays').set(row).where('id', '=', key).where('state', 'in', states);
  q = runner === null ? q.where('runner_instance', 'is', null) : q.where('runner_instance', '=', runner);
  const result = await q.executeTakeFirst();
  if (Number(result.numUpdatedRows) > 0) return true;
  if (!(await getPlay(db, key))) throw new FleetError('not_found', `no play ${key}`);
  return false;
}

export async function listPlayHosts(db: Kysely<Database>, playId: string): Promise<PlayHostRecord[]> {
  const rows = await db.selectFrom('play_hosts').selectAll().where('play_id', '=', checkId('playId', playId)).orderBy('hostname').execute();
  return rows.map(rowToHost);
}

export async function updatePlayHost(db: Kysely<Database>, host: PlayHostRecord): Promise<void> {
  const { play_id, node_id, ...rest } = hostToRow(host);
  const result = await db.updateTable('play_hosts').set(rest).where('play_id', '=', play_id).where('node_id', '=', node_id).executeTakeFirst();
  if (Number(result.numUpdatedRows) === 0) throw new FleetError('not_found', `play ${play_id} has no host ${node_id}`);
}

export async function appendPlayEvents(db: Kysely<Database>, events: ReadonlyArray<PlayEventRecord>): Promise<void> {
  if (!Array.isArray(events)) throw new FleetError('invalid_argument', 'store: events must be an array');
  const rows = events.map(eventToRow);
  if (rows.length === 0) return;
  await db
    .insertInto('play_events')
    .values(rows)
    .onConflict((oc) => oc.columns(['play_id', 'seq']).doNothing())
    .execute();
}

export async function listPlayEvents(db: Kysely<Database>, playId: string, after: number, limit = 1000): Promise<PlayEventRecord[]> {
  const rows = await db
    .selectFrom('play_events')
    .selectAll()
    .where('play_id', '=', checkId('playId', playId))
    .where('seq', '>', checkInt('after', after))
    .orderBy('seq')
    .limit(checkLimit(limit))
    .execute();
  return rows.map(rowToEvent);
}
