import { z } from 'zod';
import { JOB_NAME } from '@gpufleet/protocol';
import { SimDuration } from '../faults/fault-spec.js';

/** The `action` kinds of a scenario event, in the order of ActionSpec. */
export const ACTION_KINDS = ['submit', 'stop', 'drain'] as const;
export type ActionKind = (typeof ACTION_KINDS)[number];

const hostname = z.string({ error: 'expected a hostname such as sim-h100-001' }).min(1).max(253);

/**
 * What a scenario does through the control plane's REST API, as an operator would:
 *
 *   - {at: 0s, action: submit, job: web.job.yaml}     a job file (relative to the scenario), or
 *   - {at: 0s, action: submit, job: {name: web, allocations: {...}}}   one written inline;
 *     signed with the scenario's operator key (a fleet root of the scenario's server)
 *   - {at: 5s, action: stop, job: web}                  (purge: true also forgets it)
 *   - {at: 3s, action: drain, node: sim-h100-001, deadline: 5s}
 */
export const ActionSpec = z.discriminatedUnion(
  'action',
  [
    z.strictObject({
      action: z.literal('submit'),
      job: z.union(
        [
          z.string().min(1).max(4096),
          z.record(z.string(), z.unknown()).refine((m) => Object.keys(m).length > 0, 'an inline job file needs name and allocations'),
        ],
        { error: 'expected a job file path (relative to the scenario) or an inline job file' },
      ),
    }),
    z.strictObject({
      action: z.literal('stop'),
      job: z.string({ error: 'expected a job name such as web' }).regex(JOB_NAME, 'expected a job name such as web'),
      purge: z.boolean().optional(),
    }),
    z.strictObject({
      action: z.literal('drain'),
      node: hostname,
      /** How long the node's allocations have to move; then it is DRAINED anyway. Default: the server's. */
      deadline: SimDuration.refine((ms) => ms >= 1000 && ms <= 7 * 86_400_000, 'a drain deadline is from 1s to 7 days').optional(),
      reason: z.string().min(1).max(500).optional(),
    }),
  ],
  { error: (iss) => (iss.code === 'invalid_union' ? `action must be one of ${ACTION_KINDS.join(', ')}` : undefined) },
);
export type ActionSpec = z.infer<typeof ActionSpec>;
