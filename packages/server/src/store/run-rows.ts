import { FleetError, RUN_TARGET_STATES, type RunTargetState } from '@gpufleet/protocol';
import type { Selectable } from 'kysely';
import type { RunOutputTable, RunsTable, RunTargetsTable } from './schema.js';
import {
  RUN_OUTPUT_STREAMS,
  RUN_STATES,
  type RunOutputInput,
  type RunOutputRecord,
  type RunOutputStream,
  type RunRecord,
  type RunState,
  type RunTargetRecord,
} from './run-records.js';
import { checkBool, checkId, checkInt, checkIntOrNull, checkOneOf, checkText, checkTextOrNull, dbInt, dbIntOrNull, fromJson, toJson } from './store-checks.js';

/** Conversions between run records and rows, both ways, for both dialects (0003_runs). */

function object(what: string, value: unknown): void {
  if (typeof value !== 'object' || value === null) throw new FleetError('invalid_argument', `store: ${what} must be an object`);
}

/** Target counts by state: known states only, each a non-negative integer. */
function checkCounts(value: unknown): RunRecord['counts'] {
  object('run.counts', value);
  for (const [state, n] of Object.entries(value as object)) {
    checkOneOf('run.counts key', state, RUN_TARGET_STATES);
    if (checkInt(`run.counts.${state}`, n) < 0) throw new FleetError('invalid_argument', `store: run.counts.${state} must not be negative`);
  }
  return value as RunRecord['counts'];
}

export function runToRow(r: RunRecord): RunsTable {
  object('run', r);
  return {
    id: checkId('run.id', r.id),
    created_at: checkInt('run.createdAt', r.createdAt),
    created_by: checkText('run.createdBy', r.createdBy),
    invoker: checkText('run.invoker', r.invoker),
    capability_id: checkTextOrNull('run.capabilityId', r.capabilityId),
    ability: checkText('run.ability', r.ability),
    selector: checkText('run.selector', r.selector),
    summary: checkText('run.summary', r.summary),
    command: toJson('run.command', r.command),
    batch: toJson('run.batch', r.batch),
    state: checkOneOf('run.state', r.state, RUN_STATES),
    counts: toJson('run.counts', checkCounts(r.counts)),
    reason: checkTextOrNull('run.reason', r.reason),
    deadline: checkInt('run.deadline', r.deadline),
    finished_at: checkIntOrNull('run.finishedAt', r.finishedAt),
    canceled_by: checkTextOrNull('run.canceledBy', r.canceledBy),
  };
}

export function rowToRun(row: Selectable<RunsTable>): RunRecord {
  return {
    id: row.id,
    createdAt: dbInt(row.created_at),
    createdBy: row.created_by,
    invoker: row.invoker,
    capabilityId: row.capability_id,
    ability: row.ability,
    selector: row.selector,
    summary: row.summary,
    command: fromJson(`runs.command of ${row.id}`, row.command),
    batch: fromJson(`runs.batch of ${row.id}`, row.batch),
    state: row.state as RunState,
    counts: fromJson(`runs.counts of ${row.id}`, row.counts) as RunRecord['counts'],
    reason: row.reason,
    deadline: dbInt(row.deadline),
    finishedAt: dbIntOrNull(row.finished_at),
    canceledBy: row.canceled_by,
  };
}

export function runTargetToRow(t: RunTargetRecord, i = 0): RunTargetsTable {
  object(`targets[${i}]`, t);
  const f = (name: string) => `targets[${i}].${name}`;
  const outputBytes = checkInt(f('outputBytes'), t.outputBytes);
  if (outputBytes < 0) throw new FleetError('invalid_argument', `store: ${f('outputBytes')} must not be negative`);
  return {
    run_id: checkId(f('runId'), t.runId),
    node_id: checkId(f('nodeId'), t.nodeId),
    hostname: checkText(f('hostname'), t.hostname),
    batch: checkInt(f('batch'), t.batch),
    state: checkOneOf(f('state'), t.state, RUN_TARGET_STATES),
    exit_code: checkIntOrNull(f('exitCode'), t.exitCode),
    signal: checkTextOrNull(f('signal'), t.signal),
    reason: checkTextOrNull(f('reason'), t.reason),
    sent_at: checkIntOrNull(f('sentAt'), t.sentAt),
    started_at: checkIntOrNull(f('startedAt'), t.startedAt),
    finished_at: checkIntOrNull(f('finishedAt'), t.finishedAt),
    duration_ms: checkIntOrNull(f('durationMs'), t.durationMs),
    output_bytes: outputBytes,
    truncated: checkBool(f('truncated'), t.truncated),
  };
}

export function rowToRunTarget(row: Selectable<RunTargetsTable>): RunTargetRecord {
  return {
    runId: row.run_id,
    nodeId: row.node_id,
    hostname: row.hostname,
    batch: dbInt(row.batch),
    state: row.state as RunTargetState,
    exitCode: dbIntOrNull(row.exit_code),
    signal: row.signal,
    reason: row.reason,
    sentAt: dbIntOrNull(row.sent_at),
    startedAt: dbIntOrNull(row.started_at),
    finishedAt: dbIntOrNull(row.finished_at),
    durationMs: dbIntOrNull(row.duration_ms),
    outputBytes: dbInt(row.output_bytes),
    truncated: dbInt(row.truncated) === 1,
  };
}

export function runOutputToRow(o: RunOutputInput, i = 0): Omit<RunOutputTable, 'id'> {
  object(`output[${i}]`, o);
  const f = (name: string) => `output[${i}].${name}`;
  const chunk = checkInt(f('chunk'), o.chunk);
  if (chunk < 0) throw new FleetError('invalid_argument', `store: ${f('chunk')} must not be negative`);
  return {
    run_id: checkId(f('runId'), o.runId),
    node_id: checkId(f('nodeId'), o.nodeId),
    stream: checkOneOf(f('stream'), o.stream, RUN_OUTPUT_STREAMS),
    chunk,
    data: checkText(f('data'), o.data),
    at: checkInt(f('at'), o.at),
  };
}

export function rowToRunOutput(row: Selectable<RunOutputTable>): RunOutputRecord {
  return {
    id: dbInt(row.id),
    runId: row.run_id,
    nodeId: row.node_id,
    stream: row.stream as RunOutputStream,
    chunk: dbInt(row.chunk),
    data: row.data,
    at: dbInt(row.at),
  };
}
