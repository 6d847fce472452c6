import { z } from 'zod';
import { REFUSAL_REASONS } from './remote-ops.js';
import { ALLOC_ID, AllocPlacement } from './signed-job.js';

/**
 * Workloads on the wire (issue 10). Server -> agent: an `alloc` frame starts or stops one
 * allocation. Agent -> server: `alloc-state` and `alloc-output` events through the outbox, so a
 * crash handled while the host is cut off still reaches the server.
 *
 * Starting is idempotent: a host handed an allocation it already runs (same id, same spec hash)
 * reports its state again. Stopping names the spec hash: a host stops only an allocation of the
 * version the order is for. The stop frame is not signed: it can only stop work.
 */

const specHash = z.string().regex(/^[0-9a-f]{64}$/);

export const AllocStartBody = z.strictObject({ op: z.literal('start'), placement: AllocPlacement });
export const AllocStopBody = z.strictObject({
  op: z.literal('stop'),
  allocId: z.string().regex(ALLOC_ID),
  specHash,
  /** Why (shown in the host's report): job stopped, replaced after the node was lost, drained, updated... */
  reason: z.string().max(500),
});
export const AllocFrame = z.object({ t: z.literal('alloc'), body: z.discriminatedUnion('op', [AllocStartBody, AllocStopBody]) });
export type AllocFrame = z.infer<typeof AllocFrame>;

/**
 * What a host says of an allocation. starting: verified, being created (image pull, process
 * spawn); running: started (healthy says whether its check passes; null without a check);
 * restarting: exited or unhealthy, waiting out the restart delay; failed: out of restarts;
 * complete: a batch allocation exited 0; stopped: stopped on an order; refused: never started
 * (reason and message say why).
 */
export const ALLOC_HOST_STATES = ['starting', 'running', 'restarting', 'failed', 'complete', 'stopped', 'refused'] as const;
export const AllocHostState = z.enum(ALLOC_HOST_STATES);
export type AllocHostState = z.infer<typeof AllocHostState>;

/** Data of an `alloc-state` agent event. */
export const AllocStateData = z.object({
  allocId: z.string().max(64),
  /** The spec hash of the version this host runs (or was asked to, when refused); null when the placement could not be read. */
  specHash: z.string().max(64).nullable(),
  state: AllocHostState,
  healthy: z.boolean().nullable(),
  restarts: z.number().int().nonnegative(),
  exitCode: z.number().int().nullable(),
  reason: z.enum(REFUSAL_REASONS).nullable(),
  message: z.string().max(4096),
});
export type AllocStateData = z.infer<typeof AllocStateData>;

/** Data of an `alloc-output` agent event: a chunk of the allocation's stdout or stderr. */
export const AllocOutputData = z.object({
  allocId: z.string().max(64),
  stream: z.enum(['stdout', 'stderr']),
  chunk: z.number().int().nonnegative(),
  data: z.string().max(65_536),
});
export type AllocOutputData = z.infer<typeof AllocOutputData>;
