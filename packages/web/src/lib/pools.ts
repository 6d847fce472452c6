import { formatDuration } from './format.js';

// The REST shapes of pools: a plain-types file of the protocol, taken by its source path
// (the package index pulls in node:crypto and zod, which the browser does without).
import type { PoolEventView, PoolDetailView, PoolOperationView, PoolOpKind, PoolOpStage, PoolView } from '../../../protocol/src/pool-views.js';
export type {
  PoolDetailView,
  PoolEventKind,
  PoolEventView,
  PoolMemberView,
  PoolOperationView,
  PoolOpKind,
  PoolOpStage,
  PoolView,
  ReplaceNodeRequest,
  ScalePoolRequest,
} from '../../../protocol/src/pool-views.js';

/*
 * What the dashboard's pool pages need beyond the raw views: paths, the steps of an operation,
 * the scale form's check, and the few texts people read.
 */

/** The dashboard page of a pool. */
export function poolPagePath(name: string): string {
  return `/pools/${encodeURIComponent(name)}`;
}

/** The REST path of a pool. */
export function poolApiPath(name: string): string {
  return `/api/v1/pools/${encodeURIComponent(name)}`;
}

/** The steps each kind of operation goes through, in order (pool-views.ts POOL_OP_STAGES). */
export const OP_STEPS: Record<PoolOpKind, readonly PoolOpStage[]> = {
  provision: ['requested', 'provisioning', 'joining', 'done'],
  replace: ['requested', 'provisioning', 'joining', 'draining', 'terminating', 'done'],
  'scale-down': ['draining', 'terminating', 'done'],
};

export type StepState = 'done' | 'current' | 'todo';

/**
 * Each step of an operation with where it stands: the ones before its stage done, its stage
 * current (or done, at `done`), the rest to do. A failed operation has no step current: it
 * reads as failed beside them, with its error.
 */
export function opSteps(op: Pick<PoolOperationView, 'kind' | 'stage'>): Array<{ stage: PoolOpStage; state: StepState }> {
  const steps = OP_STEPS[op.kind] ?? [];
  const at = steps.indexOf(op.stage);
  return steps.map((stage, i) => ({
    stage,
    state: op.stage === 'done' ? 'done' : at < 0 ? 'todo' : i < at ? 'done' : i === at ? 'current' : 'todo',
  }));
}

/** Whether an operation is still under way. */
export function isInFlight(op: Pick<PoolOperationView, 'stage'>): boolean {
  return op.stage !== 'done' && op.stage !== 'failed';
}

/** Ready of desired with the bounds: `3/4 (2..10)`. */
export function sizeText(p: Pick<PoolView, 'ready' | 'desired' | 'minNodes' | 'maxNodes'>): string {
  return `${p.ready}/${p.desired} (${p.minNodes}..${p.maxNodes})`;
}

/** Dollars per hour: `$98.32/h`; unknown (a member without a price) reads as such. */
export function costText(perHour: number | null): string {
  if (perHour === null || !Number.isFinite(perHour)) return 'unknown';
  return `$${perHour.toFixed(2)}/h`;
}

/** Why the pool wants the size it wants, in words. */
export function desiredWhy(p: Pick<PoolDetailView, 'desiredSource' | 'manualReason' | 'minNodes'>): string {
  if (p.desiredSource === 'min') return `the pool's floor (min_nodes ${p.minNodes})`;
  if (p.desiredSource === 'manual') return p.manualReason ? `set by an operator: ${p.manualReason}` : 'set by an operator';
  return 'the autoscaler';
}

/** The autoscaling settings in one line, or that there is none. */
export function autoscalingText(a: PoolDetailView['autoscaling']): string {
  if (!a) return 'off: the pool stays at its floor or the size an operator sets';
  const parts: string[] = [];
  if (a.pendingAllocations) parts.push('grows for allocations that do not fit');
  if (a.scaleUpAtPct !== null) parts.push(`grows at ${a.scaleUpAtPct}% allocated`);
  if (a.scaleDownAtPct !== null) parts.push(`shrinks at ${a.scaleDownAtPct}% or less, nodes idle ${formatDuration(a.idleForMs)}`);
  return parts.length > 0 ? parts.join('; ') : 'on, with no trigger set';
}

/** The health settings in one line. */
export function healthText(h: PoolDetailView['health']): string {
  const n = h.maxParallelReplacements;
  return `replace after ${formatDuration(h.replaceAfterMs)} unhealthy; at most ${n} replacement${n === 1 ? '' : 's'} at once and ${h.maxUnavailable} unavailable; join within ${formatDuration(h.joinTimeoutMs)}`;
}

/** What the scale form makes of its input: the size to send, or why not. */
export type ScaleTarget = { ok: true; to: number } | { ok: false; message: string };

/**
 * Checks the "Scale to" input before anything is sent: a whole number of nodes within the
 * pool's min..max (the server checks again; its refusal is shown as well).
 */
export function parseScaleTarget(input: string, min: number, max: number): ScaleTarget {
  const text = input.trim();
  if (text === '') return { ok: false, message: 'Nodes: enter a number of nodes' };
  if (!/^\d+$/.test(text)) return { ok: false, message: `Nodes: "${text.slice(0, 20)}" is not a whole number of nodes` };
  const to = Number(text);
  if (!Number.isSafeInteger(to) || to < min || to > max) return { ok: false, message: `Nodes: must be between ${min} and ${max} (the pool's min..max)` };
  return { ok: true, to };
}

/** How many events the timeline keeps in memory. */
export const EVENTS_KEPT = 200;

/** Newer events merged into the ones held: each once, newest first, at most `keep`. */
export function mergeEvents(held: readonly PoolEventView[], more: readonly PoolEventView[], keep = EVENTS_KEPT): PoolEventView[] {
  const byId = new Map<number, PoolEventView>();
  for (const e of held) byId.set(e.id, e);
  for (const e of more) byId.set(e.id, e);
  return [...byId.values()].sort((a, b) => b.id - a.id).slice(0, keep);
}

/** The cursor to poll from: the newest id held, or null before the first page. */
export function eventsCursor(held: readonly PoolEventView[] | undefined): number | null {
  if (!held || held.length === 0) return null;
  return held.reduce((max, e) => Math.max(max, e.id), held[0]!.id);
}

/** A list answer of the events route, `{ items }`. */
export function eventItems(body: { items?: unknown } | null | undefined): PoolEventView[] {
  const items = body?.items;
  return Array.isArray(items) ? (items as PoolEventView[]) : [];
}

/** How an event reads: a failure red, a hold amber, a finished step green, a decision plain. */
export function eventTone(kind: string): 'good' | 'busy' | 'bad' | 'idle' {
  if (kind === 'provision-failed' || kind === 'replace-failed') return 'bad';
  if (kind === 'held') return 'busy';
  if (kind === 'joined' || kind === 'replace-done' || kind === 'provisioned') return 'good';
  return 'idle';
}
