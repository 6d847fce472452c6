import {
  FleetError,
  POOL_EVENT_KINDS,
  POOL_MEMBER_STATES,
  POOL_NAME,
  POOL_OP_KINDS,
  POOL_OP_STAGES,
  PoolSpec,
  PROVIDER_NAME,
  ProviderSpec,
} from '@gpufleet/protocol';
import type { Selectable, Updateable } from 'kysely';
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
import type {
  PoolConfigsTable,
  PoolEventsTable,
  PoolMembersTable,
  PoolOperationsTable,
  PoolProvidersTable,
  PoolSizeSamplesTable,
  PoolStatesTable,
} from './pool-schema.js';
import {
  checkArray,
  checkId,
  checkInt,
  checkIntOrNull,
  checkObject,
  checkOneOf,
  checkText,
  checkTextOrNull,
  dbInt,
  dbIntOrNull,
  fromJson,
  toJson,
} from './store-checks.js';

/** Conversions between pool records and rows, both ways, for both dialects (0008_pools). */

export const DESIRED_SOURCES: readonly PoolStateRecord['desiredSource'][] = ['min', 'manual', 'autoscale'];
/** Stages an operation never leaves: it is no longer active. */
export const FINAL_POOL_OP_STAGES: readonly PoolOperationRecord['stage'][] = ['done', 'failed'];

/** Zones an operation may have tried: a pool names at most 32, with room for retries. */
const MAX_ZONES_TRIED = 1024;

function bad(field: string, what: string): never {
  throw new FleetError('invalid_argument', `store: ${field} must be ${what}`);
}

function checkNonNegative(field: string, value: unknown): number {
  const n = checkInt(field, value);
  if (n < 0) bad(field, `not negative, got ${n}`);
  return n;
}

function checkName(field: string, value: unknown, pattern: RegExp): string {
  const name = checkId(field, value);
  if (!pattern.test(name)) bad(field, `lowercase letters, digits and dashes, got ${JSON.stringify(name.slice(0, 64))}`);
  return name;
}

/** $/h: a finite non-negative number (fractions allowed) or null. */
function checkPriceOrNull(field: string, value: unknown): number | null {
  if (value === null) return null;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) bad(field, 'a non-negative number or null');
  return value;
}

/**
 * A spec checked by its protocol schema, so what is stored is a spec the pool manager can trust
 * when it reads it back. The first issue names the field inside the spec.
 */
function checkSpec<T>(field: string, value: unknown, schema: SpecSchema<T>): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  // An unknown key is reported on the object holding it: name the key itself.
  const path = [...(issue?.path ?? []), ...(issue?.code === 'unrecognized_keys' ? (issue.keys ?? []).slice(0, 1) : [])];
  const where = path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
  throw new FleetError('invalid_argument', `store: ${field}${where}: ${issue?.message ?? 'invalid'}`);
}

/** What checkSpec needs of a zod schema. */
interface SpecSchema<T> {
  safeParse(
    v: unknown,
  ):
    | { success: true; data: T }
    | { success: false; error: { issues: ReadonlyArray<{ code?: string; keys?: string[]; path: PropertyKey[]; message: string }> } };
}

// ---- applied configuration ----

export function providerConfigToRow(p: ProviderConfigRecord, i: number): PoolProvidersTable {
  const f = (name: string) => `providers[${i}].${name}`;
  checkObject(`providers[${i}]`, p);
  const spec = checkSpec(f('spec'), p.spec, ProviderSpec);
  return {
    name: checkName(f('name'), p.name, PROVIDER_NAME),
    spec: toJson(f('spec'), spec),
    base_dir: checkId(f('baseDir'), p.baseDir),
    applied_at: checkInt(f('appliedAt'), p.appliedAt),
    applied_by: checkText(f('appliedBy'), p.appliedBy),
  };
}

export function rowToProviderConfig(row: Selectable<PoolProvidersTable>): ProviderConfigRecord {
  return {
    name: row.name,
    spec: fromJson(`pool_providers.spec of ${row.name}`, row.spec) as ProviderConfigRecord['spec'],
    baseDir: row.base_dir,
    appliedAt: dbInt(row.applied_at),
    appliedBy: row.applied_by,
  };
}

export function poolConfigToRow(p: PoolConfigRecord, i: number): PoolConfigsTable {
  const f = (name: string) => `pools[${i}].${name}`;
  checkObject(`pools[${i}]`, p);
  const name = checkName(f('name'), p.name, POOL_NAME);
  const spec = checkSpec(f('spec'), p.spec, PoolSpec);
  if (spec.name !== name) bad(f('spec.name'), `the pool's name ${name}, got ${spec.name}`);
  return {
    name,
    spec: toJson(f('spec'), spec),
    applied_at: checkInt(f('appliedAt'), p.appliedAt),
    applied_by: checkText(f('appliedBy'), p.appliedBy),
  };
}

export function rowToPoolConfig(row: Selectable<PoolConfigsTable>): PoolConfigRecord {
  return {
    name: row.name,
    spec: fromJson(`pool_configs.spec of ${row.name}`, row.spec) as PoolConfigRecord['spec'],
    appliedAt: dbInt(row.applied_at),
    appliedBy: row.applied_by,
  };
}

// ---- desired size ----

export function poolStateToRow(s: PoolStateRecord): PoolStatesTable {
  checkObject('state', s);
  return {
    pool: checkId('state.pool', s.pool),
    desired: checkNonNegative('state.desired', s.desired),
    desired_source: checkOneOf('state.desiredSource', s.desiredSource, DESIRED_SOURCES),
    manual_reason: checkTextOrNull('state.manualReason', s.manualReason),
    last_scale_up_at: checkIntOrNull('state.lastScaleUpAt', s.lastScaleUpAt),
    last_scale_down_at: checkIntOrNull('state.lastScaleDownAt', s.lastScaleDownAt),
    updated_at: checkInt('state.updatedAt', s.updatedAt),
  };
}

export function rowToPoolState(row: Selectable<PoolStatesTable>): PoolStateRecord {
  return {
    pool: row.pool,
    desired: dbInt(row.desired),
    desiredSource: row.desired_source as PoolStateRecord['desiredSource'],
    manualReason: row.manual_reason,
    lastScaleUpAt: dbIntOrNull(row.last_scale_up_at),
    lastScaleDownAt: dbIntOrNull(row.last_scale_down_at),
    updatedAt: dbInt(row.updated_at),
  };
}

// ---- members ----

export function poolMemberToRow(m: PoolMemberRecord): PoolMembersTable {
  checkObject('member', m);
  return {
    instance_id: checkId('member.instanceId', m.instanceId),
    pool: checkId('member.pool', m.pool),
    provider: checkId('member.provider', m.provider),
    operation_id: checkId('member.operationId', m.operationId),
    join_token_id: checkId('member.joinTokenId', m.joinTokenId),
    node_id: m.nodeId === null ? null : checkId('member.nodeId', m.nodeId),
    instance_type: checkId('member.instanceType', m.instanceType),
    zone: m.zone === null ? null : checkId('member.zone', m.zone),
    state: checkOneOf('member.state', m.state, POOL_MEMBER_STATES),
    price_per_hour: checkPriceOrNull('member.pricePerHour', m.pricePerHour),
    provisioned_at: checkInt('member.provisionedAt', m.provisionedAt),
    joined_at: checkIntOrNull('member.joinedAt', m.joinedAt),
    terminated_at: checkIntOrNull('member.terminatedAt', m.terminatedAt),
    idle_since: checkIntOrNull('member.idleSince', m.idleSince),
  };
}

export function rowToPoolMember(row: Selectable<PoolMembersTable>): PoolMemberRecord {
  return {
    instanceId: row.instance_id,
    pool: row.pool,
    provider: row.provider,
    operationId: row.operation_id,
    joinTokenId: row.join_token_id,
    nodeId: row.node_id,
    instanceType: row.instance_type,
    zone: row.zone,
    state: row.state as PoolMemberRecord['state'],
    // float8 comes back as a number from both drivers; Number() covers a numeric string.
    pricePerHour: row.price_per_hour === null ? null : Number(row.price_per_hour),
    provisionedAt: dbInt(row.provisioned_at),
    joinedAt: dbIntOrNull(row.joined_at),
    terminatedAt: dbIntOrNull(row.terminated_at),
    idleSince: dbIntOrNull(row.idle_since),
  };
}

// ---- operations ----

function checkZonesTried(field: string, value: unknown): string {
  const zones = checkArray(field, value);
  if (zones.length > MAX_ZONES_TRIED) bad(field, `at most ${MAX_ZONES_TRIED} zones`);
  return toJson(
    field,
    zones.map((z, i) => checkId(`${field}[${i}]`, z)),
  );
}

const idOrNull = (field: string, v: unknown) => (v === null ? null : checkId(field, v));

/** How each patchable field becomes a column value; also the list of allowed patch keys. */
const operationColumns: { [K in keyof PoolOperationPatch]-?: (v: unknown) => Partial<PoolOperationsTable> } = {
  stage: (v) => ({ stage: checkOneOf('stage', v, POOL_OP_STAGES) }),
  reason: (v) => ({ reason: checkText('reason', v) }),
  oldNodeId: (v) => ({ old_node_id: idOrNull('oldNodeId', v) }),
  instanceId: (v) => ({ instance_id: idOrNull('instanceId', v) }),
  joinTokenId: (v) => ({ join_token_id: idOrNull('joinTokenId', v) }),
  newNodeId: (v) => ({ new_node_id: idOrNull('newNodeId', v) }),
  zone: (v) => ({ zone: idOrNull('zone', v) }),
  zonesTried: (v) => ({ zones_tried: checkZonesTried('zonesTried', v) }),
  attempts: (v) => ({ attempts: checkNonNegative('attempts', v) }),
  error: (v) => ({ error: checkTextOrNull('error', v) }),
  updatedAt: (v) => ({ updated_at: checkInt('updatedAt', v) }),
  deadlineAt: (v) => ({ deadline_at: checkIntOrNull('deadlineAt', v) }),
  notBefore: (v) => ({ not_before: checkIntOrNull('notBefore', v) }),
};

export function poolOperationToRow(op: PoolOperationRecord): PoolOperationsTable {
  checkObject('operation', op);
  const row: PoolOperationsTable = {
    id: checkId('operation.id', op.id),
    pool: checkId('operation.pool', op.pool),
    kind: checkOneOf('operation.kind', op.kind, POOL_OP_KINDS),
    started_at: checkInt('operation.startedAt', op.startedAt),
    ...poolOperationPatchToRow(
      {
        stage: op.stage,
        reason: op.reason,
        oldNodeId: op.oldNodeId,
        instanceId: op.instanceId,
        joinTokenId: op.joinTokenId,
        newNodeId: op.newNodeId,
        zone: op.zone,
        zonesTried: op.zonesTried,
        attempts: op.attempts,
        error: op.error,
        updatedAt: op.updatedAt,
        deadlineAt: op.deadlineAt,
        notBefore: op.notBefore,
      },
      'operation',
      true,
    ),
  } as PoolOperationsTable;
  return row;
}

/**
 * Only the keys present in the patch are written (an `undefined` value counts as absent); keys that
 * cannot change (id, pool, kind, startedAt) and unknown ones are refused. `whole`: every field must
 * be there (a full record being inserted).
 */
export function poolOperationPatchToRow(patch: PoolOperationPatch, where = 'patch', whole = false): Updateable<PoolOperationsTable> {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) bad(where, 'an object');
  const row: Updateable<PoolOperationsTable> = {};
  const columns = operationColumns as Record<string, (v: unknown) => Partial<PoolOperationsTable>>;
  for (const key of whole ? Object.keys(columns) : Object.keys(patch)) {
    const value = (patch as Record<string, unknown>)[key];
    if (value === undefined && !whole) continue;
    if (!Object.hasOwn(columns, key)) throw new FleetError('invalid_argument', `store: ${where}: operation field '${key}' cannot be patched`);
    try {
      Object.assign(row, columns[key]!(value));
    } catch (err) {
      if (err instanceof FleetError && err.code === 'invalid_argument') {
        throw new FleetError('invalid_argument', err.message.replace(/^store: /, `store: ${where}.`), { cause: err });
      }
      throw err;
    }
  }
  return row;
}

export function rowToPoolOperation(row: Selectable<PoolOperationsTable>): PoolOperationRecord {
  return {
    id: row.id,
    pool: row.pool,
    kind: row.kind as PoolOperationRecord['kind'],
    stage: row.stage as PoolOperationRecord['stage'],
    reason: row.reason,
    oldNodeId: row.old_node_id,
    instanceId: row.instance_id,
    joinTokenId: row.join_token_id,
    newNodeId: row.new_node_id,
    zone: row.zone,
    zonesTried: fromJson(`pool_operations.zones_tried of ${row.id}`, row.zones_tried) as string[],
    attempts: dbInt(row.attempts),
    error: row.error,
    startedAt: dbInt(row.started_at),
    updatedAt: dbInt(row.updated_at),
    deadlineAt: dbIntOrNull(row.deadline_at),
    notBefore: dbIntOrNull(row.not_before),
  };
}

// ---- events and size samples ----

export function poolEventToRow(e: Omit<PoolEventRecord, 'id'>, i: number): Omit<PoolEventsTable, 'id'> {
  const f = (name: string) => `events[${i}].${name}`;
  checkObject(`events[${i}]`, e);
  return {
    pool: checkId(f('pool'), e.pool),
    at: checkInt(f('at'), e.at),
    kind: checkOneOf(f('kind'), e.kind, POOL_EVENT_KINDS),
    message: checkText(f('message'), e.message),
    operation_id: idOrNull(f('operationId'), e.operationId),
    node_id: idOrNull(f('nodeId'), e.nodeId),
    instance_id: idOrNull(f('instanceId'), e.instanceId),
  };
}

export function rowToPoolEvent(row: Selectable<PoolEventsTable>): PoolEventRecord {
  return {
    id: dbInt(row.id),
    pool: row.pool,
    at: dbInt(row.at),
    kind: row.kind as PoolEventRecord['kind'],
    message: row.message,
    operationId: row.operation_id,
    nodeId: row.node_id,
    instanceId: row.instance_id,
  };
}

export function poolSizeSampleToRow(s: PoolSizeSample): PoolSizeSamplesTable {
  checkObject('sample', s);
  return {
    pool: checkId('sample.pool', s.pool),
    at: checkInt('sample.at', s.at),
    ready: checkNonNegative('sample.ready', s.ready),
    desired: checkNonNegative('sample.desired', s.desired),
  };
}

export function rowToPoolSizeSample(row: Selectable<PoolSizeSamplesTable>): PoolSizeSample {
  return { pool: row.pool, at: dbInt(row.at), ready: dbInt(row.ready), desired: dbInt(row.desired) };
}
