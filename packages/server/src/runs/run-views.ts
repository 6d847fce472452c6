import type { RunTargetState, SignedCommand } from '@gpufleet/protocol';
import type { RunOutputRecord, RunRecord, RunState, RunTargetRecord } from '../store/store.js';

/** REST shape of one host of a run (times ISO 8601). */
export interface RunTargetView {
  nodeId: string;
  hostname: string;
  batch: number;
  state: RunTargetState;
  exitCode: number | null;
  signal: string | null;
  reason: string | null;
  sentAt: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
  outputBytes: number;
  truncated: boolean;
}

/** What the command asks for, without the signature and the capability chain. */
export interface RunCommandView {
  kind: string;
  summary: string;
  timeoutMs: number;
  cwd: string | null;
  runAs: string | null;
  /** Names only: values may be secrets. */
  env: string[];
  issuedAt: string;
}

/** REST shape of a run; `targets` only on GET /api/v1/runs/{id}. */
export interface RunView {
  id: string;
  state: RunState;
  createdBy: string;
  invoker: string;
  capabilityId: string | null;
  ability: string;
  selector: string;
  command: RunCommandView;
  batch: unknown;
  reason: string | null;
  canceledBy: string | null;
  createdAt: string;
  finishedAt: string | null;
  deadline: string;
  total: number;
  counts: Partial<Record<RunTargetState, number>>;
  targets?: RunTargetView[];
}

export interface RunOutputView {
  id: number;
  nodeId: string;
  stream: RunOutputRecord['stream'];
  chunk: number;
  data: string;
  at: string;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function targetView(t: Readonly<RunTargetRecord>): RunTargetView {
  return {
    nodeId: t.nodeId,
    hostname: t.hostname,
    batch: t.batch,
    state: t.state,
    exitCode: t.exitCode,
    signal: t.signal,
    reason: t.reason,
    sentAt: iso(t.sentAt),
    startedAt: iso(t.startedAt),
    finishedAt: iso(t.finishedAt),
    durationMs: t.durationMs,
    outputBytes: t.outputBytes,
    truncated: t.truncated,
  };
}

function commandView(r: RunRecord): RunCommandView {
  const payload = (r.command as Partial<SignedCommand> | null)?.payload;
  return {
    kind: payload?.command?.kind ?? 'unknown',
    summary: r.summary,
    timeoutMs: payload?.timeoutMs ?? 0,
    cwd: payload?.cwd ?? null,
    runAs: payload?.runAs ?? null,
    env: Object.keys(payload?.env ?? {}).sort(),
    issuedAt: iso(payload?.issuedAt ?? r.createdAt)!,
  };
}

export function runView(r: RunRecord, targets?: ReadonlyArray<Readonly<RunTargetRecord>>): RunView {
  const total = Object.values(r.counts).reduce((n, c) => n + (c ?? 0), 0);
  return {
    id: r.id,
    state: r.state,
    createdBy: r.createdBy,
    invoker: r.invoker,
    capabilityId: r.capabilityId,
    ability: r.ability,
    selector: r.selector,
    command: commandView(r),
    batch: r.batch,
    reason: r.reason,
    canceledBy: r.canceledBy,
    createdAt: iso(r.createdAt)!,
    finishedAt: iso(r.finishedAt),
    deadline: iso(r.deadline)!,
    total,
    counts: r.counts,
    ...(targets ? { targets: targets.map(targetView) } : {}),
  };
}

export function outputView(o: RunOutputRecord): RunOutputView {
  return { id: o.id, nodeId: o.nodeId, stream: o.stream, chunk: o.chunk, data: o.data, at: new Date(o.at).toISOString() };
}
