import { z } from 'zod';
import { SignedJob } from './signed-job.js';

/** POST /api/v1/jobs: a signed job, and the job file it came from (kept for people to read). */
export const SubmitJobRequest = z.strictObject({
  signed: SignedJob,
  source: z.string().max(1_048_576).optional(),
});
export type SubmitJobRequest = z.infer<typeof SubmitJobRequest>;

/** POST /api/v1/jobs/plan: a dry run of a job file (unsigned: nothing is started). */
export const PlanJobRequest = z.strictObject({ source: z.string().min(1).max(1_048_576) });
export type PlanJobRequest = z.infer<typeof PlanJobRequest>;

/** POST /api/v1/jobs/{name}/stop: stop every allocation; purge also forgets the job. */
export const StopJobRequest = z.strictObject({ purge: z.boolean().optional(), reason: z.string().max(500).optional() });
export type StopJobRequest = z.infer<typeof StopJobRequest>;
