import { RunOutputData, RunRefusedData, RunResultData, RunStartedData } from '@gpufleet/protocol';
import type { z } from 'zod';
import type { AgentEventRecord, RunTargetRecord } from '../store/store.js';
import type { EventHub } from '../events/event-hub.js';
import type { ActiveRun } from './active-run.js';
import { FINAL_STATES, resultOutcome } from './run-outcome.js';
import type { RunScheduler } from './run-scheduler.js';
import type { RunWriter } from './run-writer.js';

export interface ReportDeps {
  scheduler: RunScheduler;
  writer: RunWriter;
  hub: EventHub;
  /** Output kept per host per run; beyond it one truncation marker (default 1 MiB). */
  outputLimitBytes: number;
  log: { warn(obj: object, msg: string): void };
}

const SCHEMAS = { 'run-started': RunStartedData, 'run-output': RunOutputData, 'run-result': RunResultData, 'run-refused': RunRefusedData } as const;
export type RunEventKind = keyof typeof SCHEMAS;

export function isRunEventKind(kind: string): kind is RunEventKind {
  return Object.hasOwn(SCHEMAS, kind);
}

/** The runId an agent event is about, or null when it carries none. */
export function runIdOf(event: AgentEventRecord): string | null {
  const id = (event.data as { runId?: unknown }).runId;
  return typeof id === 'string' ? id : null;
}

/**
 * Applies what a host reported about a run (started, output, result, refused) to its target. Host
 * events arrive in the host's outbox order, possibly again after a reconnect: a repeat changes
 * nothing, a final target stays final (except `unreachable`, which the host's real result replaces).
 */
export function applyHostReport(d: ReportDeps, run: ActiveRun, t: RunTargetRecord, event: AgentEventRecord & { kind: RunEventKind }): void {
  const parsed = SCHEMAS[event.kind].safeParse(event.data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    d.log.warn(
      { runId: run.id, nodeId: t.nodeId, kind: event.kind, problem: `${issue?.path.join('.') || '(root)'}: ${issue?.message}` },
      'ignored a malformed run report from a host',
    );
    return;
  }
  const at = event.receivedAt;
  switch (event.kind) {
    case 'run-started':
      return started(d, run, t, at);
    case 'run-output':
      return output(d, run, t, parsed.data as z.infer<typeof RunOutputData>, at);
    case 'run-result':
      return result(d, run, t, parsed.data as z.infer<typeof RunResultData>, at);
    case 'run-refused':
      return refused(d, run, t, parsed.data as z.infer<typeof RunRefusedData>, at);
  }
}

function started(d: ReportDeps, run: ActiveRun, t: RunTargetRecord, at: number): void {
  if (t.state !== 'queued' && t.state !== 'sent') return;
  run.setState(t, 'running');
  t.startedAt = at;
  d.scheduler.changed(run, t);
}

function output(d: ReportDeps, run: ActiveRun, t: RunTargetRecord, o: z.infer<typeof RunOutputData>, at: number): void {
  const key = `${t.nodeId}\u0000${o.stream}`;
  if (o.chunk <= (run.lastChunk.get(key) ?? -1)) return;
  run.lastChunk.set(key, o.chunk);
  // Output means the command runs, even if its run-started was lost on the way.
  if (t.state === 'queued' || t.state === 'sent') started(d, run, t, at);
  const bytes = Buffer.byteLength(o.data, 'utf8');
  t.outputBytes += bytes;
  if (o.truncated) t.truncated = true;
  const kept = run.stored.get(t.nodeId) ?? 0;
  if (kept >= d.outputLimitBytes) return;
  let data = o.data;
  let over = false;
  if (kept + bytes > d.outputLimitBytes) {
    // Cut at the limit; a character split in two is dropped rather than stored as U+FFFD.
    data = Buffer.from(o.data, 'utf8')
      .subarray(0, d.outputLimitBytes - kept)
      .toString('utf8')
      .replace(/\uFFFD$/, '');
    over = true;
  }
  run.stored.set(t.nodeId, over ? d.outputLimitBytes : kept + bytes);
  store(d, run, { runId: run.id, nodeId: t.nodeId, stream: o.stream, chunk: o.chunk, data, at });
  if (over) {
    t.truncated = true;
    store(d, run, {
      runId: run.id,
      nodeId: t.nodeId,
      stream: 'truncated',
      chunk: 0,
      data: `output truncated: this host sent more than ${d.outputLimitBytes} bytes; the rest is counted, not kept`,
      at,
    });
    d.scheduler.changed(run, t);
  }
}

function store(d: ReportDeps, run: ActiveRun, chunk: Parameters<RunWriter['chunk']>[0]): void {
  d.writer.chunk(chunk);
  d.hub.publish({ type: 'run', runId: run.id, nodeId: chunk.nodeId, change: 'output', output: chunk });
}

/** Whether a report may still change this target: it is open, or it was only given up on. */
function canFinish(t: RunTargetRecord): boolean {
  return !FINAL_STATES.has(t.state) || t.state === 'unreachable';
}

function result(d: ReportDeps, run: ActiveRun, t: RunTargetRecord, r: z.infer<typeof RunResultData>, at: number): void {
  if (!canFinish(t)) return;
  const { state, reason } = resultOutcome(r);
  run.setState(t, state);
  t.exitCode = r.exitCode;
  t.signal = r.signal;
  t.reason = reason;
  t.durationMs = r.durationMs;
  t.startedAt ??= Math.max(at - r.durationMs, t.sentAt ?? 0);
  t.finishedAt = at;
  t.outputBytes = Math.max(t.outputBytes, r.outputBytes);
  if (r.truncated) t.truncated = true;
  d.scheduler.changed(run, t);
  d.scheduler.afterFinal(run);
}

function refused(d: ReportDeps, run: ActiveRun, t: RunTargetRecord, r: z.infer<typeof RunRefusedData>, at: number): void {
  if (!canFinish(t)) return;
  // Sent again after a reconnect: the host already has this command (and reports on it itself).
  if (r.reason === 'replayed_nonce' && run.resent.has(t.nodeId)) return;
  // A host that refused because it holds a signed cancel did what the operator asked.
  run.setState(t, r.reason === 'canceled' ? 'canceled' : 'refused');
  t.reason = `${r.reason}: ${r.message}`;
  t.finishedAt = at;
  d.scheduler.changed(run, t);
  d.scheduler.afterFinal(run);
}
