import { z } from 'zod';
import type { ReleaseRef } from './release-views.js';
import type { RolloutPlan } from './signed-rollout.js';
import { SignedRollout } from './signed-rollout.js';
import type { UpdateHostState } from './update-frames.js';

/**
 * Rollouts (issue 14): REST shapes shared by the server, the CLI and the dashboard.
 *
 *   POST /api/v1/rollouts              StartRolloutRequest → RolloutDetail (201)   (operator)
 *   GET  /api/v1/rollouts              → RolloutList                               (viewer)
 *   GET  /api/v1/rollouts/{id}         → RolloutDetail                             (viewer)
 *   POST /api/v1/rollouts/{id}/pause   RolloutActionRequest → RolloutDetail        (operator)
 *   POST /api/v1/rollouts/{id}/resume  RolloutActionRequest → RolloutDetail        (operator)
 *   POST /api/v1/rollouts/{id}/abort   AbortRolloutRequest → RolloutDetail         (operator)
 *   GET  /api/v1/rollouts/{id}/events  → RolloutEventList                          (viewer)
 *
 * The hosts are chosen when the rollout starts (the selector, the capability's reach is checked
 * again on each host) and split into steps: `canary` hosts first, then the waves, each a
 * cumulative share of the rest. A step starts when every host of the one before has been
 * healthy for `healthyForMs`. Cordoned, draining and offline hosts are skipped when their step
 * comes and listed; one that comes back later is brought to the target.
 */

export const StartRolloutRequest = z.strictObject({ rollout: SignedRollout });
export type StartRolloutRequest = z.infer<typeof StartRolloutRequest>;

export const RolloutActionRequest = z.strictObject({ reason: z.string().max(500).optional() });
export type RolloutActionRequest = z.infer<typeof RolloutActionRequest>;

export const AbortRolloutRequest = z.strictObject({
  reason: z.string().max(500).optional(),
  /** Roll the hosts that took the release back to what they ran before. Default true. */
  rollback: z.boolean().default(true),
});
export type AbortRolloutRequest = z.infer<typeof AbortRolloutRequest>;

/**
 * running: a step is in progress; paused: by an operator or by too many failures (`message`
 * says which); succeeded: every chosen host took the release (skipped hosts listed); aborted: by
 * an operator.
 */
export const ROLLOUT_STATES = ['running', 'paused', 'succeeded', 'aborted'] as const;
export type RolloutState = (typeof ROLLOUT_STATES)[number];

/**
 * A host's place in a rollout: pending (its step has not come), skipped (cordoned, draining or
 * offline when its step came; `message` says which), sent (the update frame went out), then the
 * host's own reports (UpdateHostState).
 */
export const ROLLOUT_HOST_STATES = [
  'pending',
  'skipped',
  'sent',
  'verifying',
  'installing',
  'restarting',
  'healthy',
  'failed',
  'rolled-back',
  'refused',
] as const;
export type RolloutHostState = (typeof ROLLOUT_HOST_STATES)[number];
// Every host report is a rollout host state.
export type _HostStatesCovered = UpdateHostState extends RolloutHostState ? true : never;

export interface RolloutStepView {
  index: number;
  /** canary, wave 1 (10%), ... */
  name: string;
  hosts: number;
  /** pending, running (hosts updating), settling (all healthy, waiting out healthy-for), done, failed */
  state: 'pending' | 'running' | 'settling' | 'done' | 'failed';
  startedAt: string | null;
  doneAt: string | null;
}

export interface RolloutCounts {
  pending: number;
  /** sent, verifying, installing or restarting */
  updating: number;
  healthy: number;
  failed: number;
  refused: number;
  rolledBack: number;
  skipped: number;
}

export interface RolloutView {
  id: string;
  release: ReleaseRef;
  target: { path: string; sha256: string };
  selector: string;
  plan: RolloutPlan;
  state: RolloutState;
  /** Index into steps of the step in progress (the last one once done). */
  step: number;
  steps: RolloutStepView[];
  counts: RolloutCounts;
  /** Why it is paused or aborted; null otherwise. */
  message: string | null;
  createdBy: string;
  createdAt: string;
  updatedAt: string;
}

export interface RolloutHostView {
  nodeId: string;
  hostname: string;
  step: number;
  state: RolloutHostState;
  fromVersion: string | null;
  runningVersion: string | null;
  /** ISO 8601 of the host's healthy report; null unless healthy. */
  healthySince: string | null;
  message: string | null;
  updatedAt: string;
}

export interface RolloutDetail extends RolloutView {
  hosts: RolloutHostView[];
}

export interface RolloutList {
  items: RolloutView[];
}

/**
 * One entry of a rollout's history, oldest first: created, step-started, hosts-skipped,
 * step-settling, step-unsettled, step-done, host-failed, host-refused, host-rolled-back,
 * host-returned, host-drift, paused, resumed, aborted, succeeded.
 */
export interface RolloutEventView {
  id: number;
  /** ISO 8601. */
  at: string;
  kind: string;
  /** The host it is about, if any. */
  nodeId: string | null;
  message: string;
}

export interface RolloutEventList {
  items: RolloutEventView[];
}
