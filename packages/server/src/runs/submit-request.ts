import { z } from 'zod';
import { FleetError, SignedCommand } from '@gpufleet/protocol';
import { BatchOptions } from './batch-policy.js';

/** POST /api/v1/runs body: an operator-signed command and how to roll it out. */
export const SubmitRunRequest = z.strictObject({ command: SignedCommand, batch: BatchOptions.optional() });
export type SubmitRunRequest = z.infer<typeof SubmitRunRequest>;

/** Parses a submission from any caller (REST validates first; other callers rely on this). */
export function parseSubmitRequest(input: unknown): SubmitRunRequest {
  const parsed = SubmitRunRequest.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const where = issue?.path.length ? `field '${issue.path.join('.')}'` : 'body';
  throw new FleetError('invalid_argument', `invalid run request ${where}: ${issue?.message ?? 'bad value'}`, {
    details: parsed.error.issues.slice(0, 10).map((i) => ({ path: i.path.join('.'), message: i.message })),
  });
}
