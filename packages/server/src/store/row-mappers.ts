import { FleetError, NODE_MODES, ROLES, type GpuInfo, type HostFacts, type NodeMode, type Role, type ToolFailure } from '@gpufleet/protocol';
import type { Selectable, Updateable } from 'kysely';
import type {
  AgentEventsTable,
  ApiTokensTable,
  AuditLogTable,
  HealthEventsTable,
  HealthFindingsTable,
  JoinTokensTable,
  NodesTable,
  StateMarksTable,
} from './schema.js';
import type {
  AdminState,
  HealthEventInput,
  HealthEventRecord,
  HealthEventType,
  HealthFindingRecord,
  StateMarkRecord,
  AgentEventRecord,
  ApiTokenRecord,
  AuditEntry,
  AuditInput,
  JoinTokenRecord,
  NodePatch,
  NodeRecord,
} from './store.js';
import {
  checkArray,
  checkBool,
  checkId,
  checkInt,
  checkIntOrNull,
  checkObject,
  checkOneOf,
  checkStringMap,
  checkText,
  checkTextOrNull,
  dbInt,
  dbIntOrNull,
  fromJson,
  toJson,
} from './store-checks.js';

/** The conversions between records and rows, both ways, for both dialects. */

export const ADMIN_STATES: readonly AdminState[] = ['pending', 'active', 'cordoned', 'draining', 'drained', 'unhealthy', 'decommissioned'];
const AUDIT_RESULTS = ['ok', 'error'] as const;

/** How each patchable NodeRecord field becomes a column value; also the list of allowed patch keys. */
const nodeColumns: { [K in keyof NodePatch]-?: (v: unknown) => Partial<NodesTable> } = {
  hostname: (v) => ({ hostname: checkText('hostname', v) }),
  adminState: (v) => ({ admin_state: checkOneOf('adminState', v, ADMIN_STATES) }),
  tokenLabels: (v) => ({ token_labels: toJson('tokenLabels', checkStringMap('tokenLabels', v)) }),
  userLabels: (v) => ({ user_labels: toJson('userLabels', checkStringMap('userLabels', v)) }),
  facts: (v) => ({ facts: toJson('facts', checkObject('facts', v)) }),
  gpus: (v) => ({ gpus: toJson('gpus', checkArray('gpus', v)) }),
  toolFailures: (v) => ({ tool_failures: toJson('toolFailures', checkArray('toolFailures', v)) }),
  agentVersion: (v) => ({ agent_version: checkText('agentVersion', v) }),
  simulated: (v) => ({ simulated: checkBool('simulated', v) }),
  joinTokenId: (v) => ({ join_token_id: checkTextOrNull('joinTokenId', v) }),
  lastSeenAt: (v) => ({ last_seen_at: checkIntOrNull('lastSeenAt', v) }),
  ackedSeq: (v) => ({ acked_seq: checkInt('ackedSeq', v) }),
  cordonReason: (v) => ({ cordon_reason: checkTextOrNull('cordonReason', v) }),
  mode: (v) => ({ mode: checkOneOf('mode', v, NODE_MODES) }),
};

export function nodeToRow(node: NodeRecord): NodesTable {
  if (typeof node !== 'object' || node === null) throw new FleetError('invalid_argument', 'store: node must be an object');
  const row: Partial<NodesTable> = { id: checkId('id', node.id), enrolled_at: checkInt('enrolledAt', node.enrolledAt) };
  for (const [key, toColumn] of Object.entries(nodeColumns)) Object.assign(row, toColumn(node[key as keyof NodePatch]));
  return row as NodesTable;
}

/**
 * Only the keys present in the patch are written (an `undefined` value counts as absent); unknown
 * keys, `id` and `enrolledAt` are refused rather than silently dropped, since they mean a bug.
 */
export function nodePatchToRow(patch: NodePatch): Updateable<NodesTable> {
  if (typeof patch !== 'object' || patch === null) throw new FleetError('invalid_argument', 'store: node patch must be an object');
  const row: Updateable<NodesTable> = {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    const toColumn = (nodeColumns as Record<string, (v: unknown) => Partial<NodesTable>>)[key];
    if (toColumn === undefined || !Object.hasOwn(nodeColumns, key)) {
      throw new FleetError('invalid_argument', `store: node field '${key}' cannot be patched`);
    }
    Object.assign(row, toColumn(value));
  }
  return row;
}

export function rowToNode(row: Selectable<NodesTable>): NodeRecord {
  const at = (column: string) => `nodes.${column} of ${row.id}`;
  return {
    id: row.id,
    hostname: row.hostname,
    adminState: row.admin_state as AdminState,
    tokenLabels: fromJson(at('token_labels'), row.token_labels) as Record<string, string>,
    userLabels: fromJson(at('user_labels'), row.user_labels) as Record<string, string>,
    facts: fromJson(at('facts'), row.facts) as HostFacts,
    gpus: fromJson(at('gpus'), row.gpus) as GpuInfo[],
    toolFailures: fromJson(at('tool_failures'), row.tool_failures) as ToolFailure[],
    agentVersion: row.agent_version,
    simulated: dbInt(row.simulated) === 1,
    joinTokenId: row.join_token_id,
    enrolledAt: dbInt(row.enrolled_at),
    lastSeenAt: dbIntOrNull(row.last_seen_at),
    ackedSeq: dbInt(row.acked_seq),
    cordonReason: row.cordon_reason,
    mode: row.mode as NodeMode,
  };
}

export function joinTokenToRow(t: JoinTokenRecord): JoinTokensTable {
  if (typeof t !== 'object' || t === null) throw new FleetError('invalid_argument', 'store: join token must be an object');
  return {
    id: checkId('id', t.id),
    secret_hash: checkText('secretHash', t.secretHash),
    description: checkText('description', t.description),
    labels: toJson('labels', checkStringMap('labels', t.labels)),
    reusable: checkBool('reusable', t.reusable),
    needs_approval: checkBool('needsApproval', t.needsApproval),
    created_at: checkInt('createdAt', t.createdAt),
    expires_at: checkIntOrNull('expiresAt', t.expiresAt),
    revoked_at: checkIntOrNull('revokedAt', t.revokedAt),
    uses: checkInt('uses', t.uses),
    created_by: checkText('createdBy', t.createdBy),
  };
}

export function rowToJoinToken(row: Selectable<JoinTokensTable>): JoinTokenRecord {
  return {
    id: row.id,
    secretHash: row.secret_hash,
    description: row.description,
    labels: fromJson(`join_tokens.labels of ${row.id}`, row.labels) as Record<string, string>,
    reusable: dbInt(row.reusable) === 1,
    needsApproval: dbInt(row.needs_approval) === 1,
    createdAt: dbInt(row.created_at),
    expiresAt: dbIntOrNull(row.expires_at),
    revokedAt: dbIntOrNull(row.revoked_at),
    uses: dbInt(row.uses),
    createdBy: row.created_by,
  };
}

export function apiTokenToRow(t: ApiTokenRecord): ApiTokensTable {
  if (typeof t !== 'object' || t === null) throw new FleetError('invalid_argument', 'store: api token must be an object');
  return {
    id: checkId('id', t.id),
    secret_hash: checkText('secretHash', t.secretHash),
    name: checkText('name', t.name),
    role: checkOneOf<Role>('role', t.role, ROLES),
    created_at: checkInt('createdAt', t.createdAt),
    last_used_at: checkIntOrNull('lastUsedAt', t.lastUsedAt),
    revoked_at: checkIntOrNull('revokedAt', t.revokedAt),
  };
}

export function rowToApiToken(row: Selectable<ApiTokensTable>): ApiTokenRecord {
  return {
    id: row.id,
    secretHash: row.secret_hash,
    name: row.name,
    role: row.role as Role,
    createdAt: dbInt(row.created_at),
    lastUsedAt: dbIntOrNull(row.last_used_at),
    revokedAt: dbIntOrNull(row.revoked_at),
  };
}

export function agentEventToRow(e: AgentEventRecord, i: number): AgentEventsTable {
  if (typeof e !== 'object' || e === null) throw new FleetError('invalid_argument', `store: event ${i} must be an object`);
  const f = (name: string) => `events[${i}].${name}`;
  return {
    node_id: checkId(f('nodeId'), e.nodeId),
    seq: checkInt(f('seq'), e.seq),
    id: checkText(f('id'), e.id),
    ts: checkInt(f('ts'), e.ts),
    kind: checkText(f('kind'), e.kind),
    gpu_uuid: checkTextOrNull(f('gpuUuid'), e.gpuUuid),
    pci_bus_id: checkTextOrNull(f('pciBusId'), e.pciBusId),
    message: checkText(f('message'), e.message),
    data: toJson(f('data'), checkObject(f('data'), e.data)),
    received_at: checkInt(f('receivedAt'), e.receivedAt),
  };
}

export function rowToAgentEvent(row: Selectable<AgentEventsTable>): AgentEventRecord {
  return {
    nodeId: row.node_id,
    seq: dbInt(row.seq),
    id: row.id,
    ts: dbInt(row.ts),
    kind: row.kind,
    gpuUuid: row.gpu_uuid,
    pciBusId: row.pci_bus_id,
    message: row.message,
    data: fromJson(`agent_events.data of ${row.node_id}#${row.seq}`, row.data) as Record<string, unknown>,
    receivedAt: dbInt(row.received_at),
  };
}

export function auditToRow(a: AuditInput): Omit<AuditLogTable, 'id'> {
  if (typeof a !== 'object' || a === null) throw new FleetError('invalid_argument', 'store: audit entry must be an object');
  return {
    at: checkInt('at', a.at),
    actor: checkText('actor', a.actor),
    action: checkText('action', a.action),
    target: checkTextOrNull('target', a.target),
    result: checkOneOf('result', a.result, AUDIT_RESULTS),
    details: toJson('details', a.details),
  };
}

export function rowToAudit(row: Selectable<AuditLogTable>): AuditEntry {
  return {
    id: dbInt(row.id),
    at: dbInt(row.at),
    actor: row.actor,
    action: row.action,
    target: row.target,
    result: row.result as AuditEntry['result'],
    details: fromJson(`audit_log.details of ${row.id}`, row.details),
  };
}

// ---- health (0002_health) ----

const HEALTH_EVENT_TYPES: readonly HealthEventType[] = ['verdict', 'transition', 'match'];
const FINDING_VERDICTS = ['degraded', 'unhealthy'] as const;

/** The node itself is stored under gpu_key '' (primary key columns cannot be null in PostgreSQL). */
export function gpuKeyToColumn(field: string, key: unknown): string {
  return key === null ? '' : checkId(field, key);
}

function columnToGpuKey(column: string): string | null {
  return column === '' ? null : column;
}

export function stateMarkToRow(m: StateMarkRecord): StateMarksTable {
  if (typeof m !== 'object' || m === null) throw new FleetError('invalid_argument', 'store: state mark must be an object');
  return {
    node_id: checkId('mark.nodeId', m.nodeId),
    gpu_key: gpuKeyToColumn('mark.gpuKey', m.gpuKey),
    state: checkId('mark.state', m.state),
    actor: checkId('mark.actor', m.actor),
    reason: checkTextOrNull('mark.reason', m.reason),
    since: checkInt('mark.since', m.since),
    deadline: checkIntOrNull('mark.deadline', m.deadline),
  };
}

export function rowToStateMark(row: Selectable<StateMarksTable>): StateMarkRecord {
  return {
    nodeId: row.node_id,
    gpuKey: columnToGpuKey(row.gpu_key),
    state: row.state,
    actor: row.actor,
    reason: row.reason,
    since: dbInt(row.since),
    deadline: dbIntOrNull(row.deadline),
  };
}

export function findingToRow(f: HealthFindingRecord, i: number): HealthFindingsTable {
  if (typeof f !== 'object' || f === null) throw new FleetError('invalid_argument', `store: finding ${i} must be an object`);
  const n = (name: string) => `findings[${i}].${name}`;
  return {
    node_id: checkId(n('nodeId'), f.nodeId),
    gpu_key: gpuKeyToColumn(n('gpuKey'), f.gpuKey),
    rule: checkId(n('rule'), f.rule),
    verdict: checkOneOf(n('verdict'), f.verdict, FINDING_VERDICTS),
    cause: checkText(n('cause'), f.cause),
    evidence: toJson(n('evidence'), f.evidence),
    since: checkInt(n('since'), f.since),
    last_match_at: checkInt(n('lastMatchAt'), f.lastMatchAt),
  };
}

export function rowToFinding(row: Selectable<HealthFindingsTable>): HealthFindingRecord {
  return {
    nodeId: row.node_id,
    gpuKey: columnToGpuKey(row.gpu_key),
    rule: row.rule,
    verdict: row.verdict as HealthFindingRecord['verdict'],
    cause: row.cause,
    evidence: fromJson(`health_findings.evidence of ${row.node_id}/${row.rule}`, row.evidence),
    since: dbInt(row.since),
    lastMatchAt: dbInt(row.last_match_at),
  };
}

export function healthEventToRow(e: HealthEventInput, i: number): Omit<HealthEventsTable, 'id'> {
  if (typeof e !== 'object' || e === null) throw new FleetError('invalid_argument', `store: health event ${i} must be an object`);
  const n = (name: string) => `healthEvents[${i}].${name}`;
  return {
    at: checkInt(n('at'), e.at),
    node_id: checkId(n('nodeId'), e.nodeId),
    gpu_key: e.gpuKey === null ? null : checkId(n('gpuKey'), e.gpuKey),
    type: checkOneOf(n('type'), e.type, HEALTH_EVENT_TYPES),
    rule: checkTextOrNull(n('rule'), e.rule),
    op: checkTextOrNull(n('op'), e.op),
    from_state: checkTextOrNull(n('from'), e.from),
    to_state: checkTextOrNull(n('to'), e.to),
    actor: checkId(n('actor'), e.actor),
    reason: checkText(n('reason'), e.reason),
    evidence: toJson(n('evidence'), e.evidence),
  };
}

export function rowToHealthEvent(row: Selectable<HealthEventsTable>): HealthEventRecord {
  return {
    id: dbInt(row.id),
    at: dbInt(row.at),
    nodeId: row.node_id,
    gpuKey: row.gpu_key,
    type: row.type as HealthEventType,
    rule: row.rule,
    op: row.op,
    from: row.from_state,
    to: row.to_state,
    actor: row.actor,
    reason: row.reason,
    evidence: fromJson(`health_events.evidence of ${row.id}`, row.evidence),
  };
}
