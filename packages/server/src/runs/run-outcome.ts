import { RUN_TARGET_STATES, type RunResultData, type RunTargetState } from '@gpufleet/protocol';
import type { z } from 'zod';
import type { RunState } from '../store/store.js';

/** States a target never leaves (except `unreachable`, which a late result from the host may replace). */
export const FINAL_STATES: ReadonlySet<RunTargetState> = new Set(['succeeded', 'failed', 'timed_out', 'canceled', 'unreachable', 'refused']);

/** States that count against a run's failure threshold: everything final but success and cancel. */
export const FAILING_STATES: ReadonlySet<RunTargetState> = new Set(['failed', 'timed_out', 'unreachable', 'refused']);

/** States of a target the host is working on (they take a slot of maxParallel). */
export const IN_FLIGHT_STATES: ReadonlySet<RunTargetState> = new Set(['sent', 'running']);

export type TargetCounts = Record<RunTargetState, number>;

export function emptyCounts(): TargetCounts {
  return Object.fromEntries(RUN_TARGET_STATES.map((s) => [s, 0])) as TargetCounts;
}

/** Counts with the zero entries left out (what is stored and shown). */
export function compactCounts(counts: TargetCounts): Partial<TargetCounts> {
  return Object.fromEntries(Object.entries(counts).filter(([, n]) => n > 0)) as Partial<TargetCounts>;
}

/** A host's final report turned into the target's state and a reason a person can read. */
export function resultOutcome(r: z.infer<typeof RunResultData>): { state: RunTargetState; reason: string | null } {
  if (r.canceled) return { state: 'canceled', reason: 'canceled on the host' };
  if (r.timedOut) return { state: 'timed_out', reason: `killed after the ${Math.round(r.durationMs / 1000)} s timeout${r.signal ? ` (${r.signal})` : ''}` };
  if (r.exitCode === 0) return { state: 'succeeded', reason: null };
  if (r.exitCode !== null) return { state: 'failed', reason: `exit code ${r.exitCode}` };
  return { state: 'failed', reason: r.signal ? `killed by ${r.signal}` : 'ended without an exit code' };
}

/**
 * The run's state once every target is final: canceled when an operator canceled it, succeeded
 * when every host did, failed when none did, partial otherwise. Running while any target is not final.
 */
export function runStateOf(counts: TargetCounts, total: number, canceled: boolean): RunState {
  let open = 0;
  for (const s of RUN_TARGET_STATES) if (!FINAL_STATES.has(s)) open += counts[s];
  if (open > 0) return 'running';
  if (canceled) return 'canceled';
  if (counts.succeeded === total) return 'succeeded';
  if (counts.succeeded === 0) return 'failed';
  return 'partial';
}
