import { z } from 'zod';
import { RELEASE_KINDS } from './release-views.js';
import { REFUSAL_REASONS } from './remote-ops.js';
import { SignedRollout } from './signed-rollout.js';

/**
 * Releases on the wire (issue 14). Server -> agent: an `update` frame asks the host to apply a
 * signed rollout's release, or to go back to what it ran before. Agent -> server: `update-state`
 * events through the outbox (a host that restarts into a new build, or comes back after a
 * rollback, still reports), and `bundle-drift` events when a bundle's containers were changed by
 * hand.
 *
 * Applying is idempotent: a host that already runs the rollout's release reports `healthy` again.
 * Rollback is not signed: it can only restore the release this host ran before, which it had
 * verified when it installed it.
 */

export const ROLLOUT_ID = /^[A-Za-z0-9_-]{8,64}$/;

export const UpdateApplyBody = z.strictObject({ op: z.literal('apply'), rolloutId: z.string().regex(ROLLOUT_ID), rollout: SignedRollout });
export const UpdateRollbackBody = z.strictObject({
  op: z.literal('rollback'),
  rolloutId: z.string().regex(ROLLOUT_ID),
  kind: z.enum(RELEASE_KINDS),
  /** gpufleet-agent, or the bundle's name. */
  name: z.string().max(64),
  /** Why (shown in the host's report): the rollout failed, was aborted... */
  reason: z.string().max(500),
});
export const UpdateFrame = z.object({ t: z.literal('update'), body: z.discriminatedUnion('op', [UpdateApplyBody, UpdateRollbackBody]) });
export type UpdateFrame = z.infer<typeof UpdateFrame>;

/**
 * What a host says of a release it was asked to apply (or side-loaded: rolloutId null).
 * verifying: checking the rollout and fetching the target through TUF; installing: unpacking
 * next to the running version (agent) or pulling images and writing files (bundle); restarting:
 * the agent is about to exec the new build; healthy: the new version runs and passed its
 * self-check (agent) or health checks (bundle); failed: it did not, and the host went back
 * (`rolledBack` true) or could not; rolled-back: went back on an order; refused: never applied
 * (reason and message say why: a bad signature, a TUF refusal, another target).
 */
export const UPDATE_HOST_STATES = ['verifying', 'installing', 'restarting', 'healthy', 'failed', 'rolled-back', 'refused'] as const;
export const UpdateHostState = z.enum(UPDATE_HOST_STATES);
export type UpdateHostState = z.infer<typeof UpdateHostState>;

/** Data of an `update-state` agent event. */
export const UpdateStateData = z.object({
  rolloutId: z.string().max(64).nullable(),
  kind: z.enum(RELEASE_KINDS),
  name: z.string().max(64),
  /** The release version this report is about. */
  version: z.string().max(64),
  /** What the host ran before (null when nothing of this name was installed). */
  fromVersion: z.string().max(64).nullable(),
  /** What the host runs now, after this step. */
  runningVersion: z.string().max(64).nullable(),
  state: UpdateHostState,
  /** On failed: whether the previous version is back and running. */
  rolledBack: z.boolean(),
  reason: z.enum(REFUSAL_REASONS).nullable(),
  message: z.string().max(4096),
});
export type UpdateStateData = z.infer<typeof UpdateStateData>;

/** One container of a bundle that differs from the bundle's desired state. */
export const DriftItem = z.object({
  container: z.string().max(128),
  /** image-changed, missing, stopped, config-changed, file-changed */
  kind: z.enum(['image-changed', 'missing', 'stopped', 'config-changed', 'file-changed']),
  expected: z.string().max(512),
  actual: z.string().max(512),
});
export type DriftItem = z.infer<typeof DriftItem>;

/** Data of a `bundle-drift` agent event: sent when drift appears or changes, and with an empty list when it is gone. */
export const BundleDriftData = z.object({
  name: z.string().max(64),
  version: z.string().max(64),
  items: z.array(DriftItem).max(256),
});
export type BundleDriftData = z.infer<typeof BundleDriftData>;
