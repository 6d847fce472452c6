import { z } from 'zod';
import { JOB_FILE_MAX_BYTES, JOB_NAME, PlanJobRequest, StopJobRequest, SubmitJobRequest, capabilityId, jobSpecHash } from '@gpufleet/protocol';
import type { App } from '../http/app.js';
import type { WorkloadReads } from '../workloads/workload-reads.js';
import type { WorkloadService } from '../workloads/workload-service.js';
import { audited } from './request-audit.js';
import { requestActor } from './request-actor.js';

/** A job name in a path, checked like the spec checks it. */
export const JobName = z
  .string()
  .max(63)
  .regex(JOB_NAME, 'a job name is lowercase letters, digits and -, at most 63, starting and ending with a letter or digit');
const JobParams = z.strictObject({ name: JobName });
const ParseBody = z.strictObject({ source: z.string().min(1).max(JOB_FILE_MAX_BYTES) });
/** A stop's body may be empty. */
const StopBody = StopJobRequest.nullish();

/**
 * Bodies of job submissions and plans: a signed job (itself at most an agent frame, 1 MiB) and
 * the job file it came from (at most 1 MiB, more once JSON-escaped), whatever the server's
 * general body limit.
 */
export const JOB_BODY_LIMIT = 3 * 1024 * 1024;

/** What the job routes need (a ServerContext fits). */
export interface JobRouteDeps {
  workloads: WorkloadService;
  workloadReads: WorkloadReads;
}

/** Workload jobs over REST: submit a signed job, plan or parse a job file, list, read, stop. */
export function registerJobRoutes(app: App, ctx: JobRouteDeps): void {
  app.post(
    '/api/v1/jobs',
    {
      bodyLimit: JOB_BODY_LIMIT,
      config: { auth: 'operator' },
      schema: {
        tags: ['jobs'],
        summary:
          'Submit an operator-signed job: a new version when its spec changed (201), nothing new when it did not (200); places what it needs now and answers with the job and what was placed',
        body: SubmitJobRequest,
      },
    },
    async (req, reply) => {
      const p = req.body.signed.payload;
      const details = { invoker: p.invoker, capabilityId: p.capability ? capabilityId(p.capability) : null, specHash: jobSpecHash(p.job) };
      req.auditNote = { action: 'job.submit', target: p.job.name, details };
      try {
        const res = await ctx.workloads.submit(req.body, requestActor(req));
        const job = await ctx.workloadReads.job(p.job.name);
        req.auditNote.details = {
          ...details,
          version: res.version,
          created: res.created,
          placed: res.plan.placements.length,
          unplaced: res.plan.failures.reduce((n, f) => n + f.unplaced, 0),
        };
        return reply.status(res.created ? 201 : 200).send({ job, created: res.created, plan: res.plan });
      } catch (err) {
        req.auditNote.details = { ...details, error: err instanceof Error ? err.message : String(err) };
        throw err;
      }
    },
  );

  app.post(
    '/api/v1/jobs/plan',
    {
      bodyLimit: JOB_BODY_LIMIT,
      config: { auth: 'viewer' },
      schema: {
        tags: ['jobs'],
        summary: 'Dry run of a job file: where each allocation would go, or why it cannot, and which would stop; nothing is stored',
        body: PlanJobRequest,
      },
    },
    async (req) => {
      req.auditNote = { action: 'job.plan', target: null };
      return ctx.workloads.plan(req.body.source);
    },
  );

  app.post(
    '/api/v1/jobs/parse',
    {
      bodyLimit: JOB_BODY_LIMIT,
      config: { auth: 'viewer' },
      schema: {
        tags: ['jobs'],
        summary: 'Read a job file into the normalized spec that is signed, and its hash (400 names the line and field of each problem)',
        body: ParseBody,
      },
    },
    async (req) => {
      req.auditNote = { action: 'job.parse', target: null };
      return ctx.workloads.parse(req.body.source);
    },
  );

  app.get(
    '/api/v1/jobs',
    { config: { auth: 'viewer' }, schema: { tags: ['jobs'], summary: 'Jobs by name: status, version, allocations running of those wanted, GPUs held' } },
    async () => ({ items: await ctx.workloadReads.listJobs() }),
  );

  app.get(
    '/api/v1/jobs/:name',
    {
      config: { auth: 'viewer' },
      schema: {
        tags: ['jobs'],
        summary: 'One job: its spec and file, versions, allocations (node, GPUs, state, restarts), deployment, and why allocations could not be placed',
        params: JobParams,
      },
    },
    async (req) => ctx.workloadReads.job(req.params.name),
  );

  app.post(
    '/api/v1/jobs/:name/stop',
    {
      config: { auth: 'operator' },
      schema: {
        tags: ['jobs'],
        summary: 'Stop every allocation of a job (200, the job); with purge, also forget it (204)',
        params: JobParams,
        body: StopBody,
      },
    },
    async (req, reply) => {
      const name = req.params.name;
      const purge = req.body?.purge === true;
      return audited(req, purge ? 'job.purge' : 'job.stop', name, async (audit) => {
        const reason = req.body?.reason;
        const done = await ctx.workloads.stopJob(name, { purge, ...(reason === undefined ? {} : { reason }) }, audit.actor);
        await audit.note({ action: purge ? 'job.purge' : 'job.stop', target: name, result: 'ok', details: { reason: reason ?? null } });
        if (done.purged) return reply.status(204).send();
        return ctx.workloadReads.job(name);
      });
    },
  );
}
