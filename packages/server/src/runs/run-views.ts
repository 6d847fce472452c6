import type { RunCommandView, RunOutputView, RunTargetView, RunView, SignedCommand } from '@gpufleet/protocol';

export type { RunCommandView, RunOutputView, RunTargetView, RunView };

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
import type { RunOutputRecord, RunRecord, RunTargetRecord } from '../store/store.js';

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
    ...(typeof payload?.nonce === 'string' ? { nonce: payload.nonce } : {}),
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
