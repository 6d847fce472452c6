import { z } from 'zod';
import { ALLOC_ID, ALLOC_STATUSES } from '@gpufleet/protocol';
import type { App } from '../http/app.js';
import type { EventHub } from '../events/event-hub.js';
import { resolveSseLimits } from '../streams/sse-stream.js';
import { followAllocLogs } from '../workloads/alloc-log-follow.js';
import type { WorkloadReads } from '../workloads/workload-reads.js';
import { JobName } from './job-routes.js';
import { openSseStream } from './stream-routes.js';

const AllocId = z.string().regex(ALLOC_ID, 'an allocation id is 8 to 64 letters, digits, _ and -');
const IdParams = z.strictObject({ id: AllocId });
const JobAllocParams = z.strictObject({
  name: JobName,
  /** A name (`web-0`) or an allocation id. */
  alloc: z
    .string()
    .min(1)
    .max(96)
    .regex(/^[A-Za-z0-9_-]+$/, 'an allocation is named like web-0, or by its id'),
});
const ListQuery = z.strictObject({
  job: JobName.optional(),
  node: z.string().min(1).max(200).optional(),
  selector: z.string().max(4096).optional(),
  status: z.enum(ALLOC_STATUSES, { error: `status must be one of ${ALLOC_STATUSES.join(', ')}` }).optional(),
  active: z.enum(['true', 'false'], { error: 'active is true or false' }).optional(),
  limit: z.coerce.number({ error: 'limit must be a whole number' }).int('limit must be a whole number').min(1).max(100_000).optional(),
});
const after = z.coerce.number({ error: 'after must be an item id' }).int('after must be an item id').min(0).max(Number.MAX_SAFE_INTEGER);
const LogsQuery = z.strictObject({
  after: after.optional(),
  limit: z.coerce.number({ error: 'limit must be a whole number' }).int('limit must be a whole number').min(1).max(10_000).optional(),
});
const StreamQuery = z.strictObject({ after: after.optional(), access_token: z.string().optional() });

export interface AllocationRouteDeps {
  workloadReads: WorkloadReads;
  hub: EventHub;
}

/** Allocations over REST: list (by job, node, node labels, status), read, their output, and a live output stream. */
export function registerAllocationRoutes(app: App, ctx: AllocationRouteDeps): void {
  app.get(
    '/api/v1/allocations',
    {
      config: { auth: 'viewer' },
      schema: {
        tags: ['allocations'],
        summary: 'Allocations, oldest first: of a job, on a node, on nodes a label selector picks, by status; active=true: those wanted or not yet ended',
        querystring: ListQuery,
      },
    },
    async (req) => {
      const q = req.query;
      const items = await ctx.workloadReads.allocations({
        ...(q.job === undefined ? {} : { job: q.job }),
        ...(q.node === undefined ? {} : { node: q.node }),
        ...(q.selector === undefined ? {} : { selector: q.selector }),
        ...(q.status === undefined ? {} : { status: q.status }),
        ...(q.active === undefined ? {} : { active: q.active === 'true' }),
        ...(q.limit === undefined ? {} : { limit: q.limit }),
      });
      return { items };
    },
  );

  app.get(
    '/api/v1/allocations/:id',
    { config: { auth: 'viewer' }, schema: { tags: ['allocations'], summary: 'One allocation: node, GPUs, state, health, restarts', params: IdParams } },
    async (req) => ctx.workloadReads.allocation(req.params.id),
  );

  app.get(
    '/api/v1/jobs/:name/allocations/:alloc',
    {
      config: { auth: 'viewer' },
      schema: {
        tags: ['allocations'],
        summary: 'An allocation of a job by name (web-0: the newest with that name, a live one first) or by id',
        params: JobAllocParams,
      },
    },
    async (req) => ctx.workloadReads.jobAllocation(req.params.name, req.params.alloc),
  );

  app.get(
    '/api/v1/allocations/:id/logs',
    {
      config: { auth: 'viewer' },
      schema: {
        tags: ['allocations'],
        summary: 'Stored output of an allocation in arrival order (its newest 1 MiB); page with `after` (the `next` of the previous page)',
        params: IdParams,
        querystring: LogsQuery,
      },
    },
    async (req) => ctx.workloadReads.output(req.params.id, req.query),
  );

  app.get(
    '/api/v1/allocations/:id/logs/stream',
    {
      config: { auth: 'viewer', sse: true },
      schema: {
        tags: ['allocations', 'streams'],
        summary: 'SSE: `output` (one stored item, history after `after` then live), then `end` (the allocation) once it has ended',
        params: IdParams,
        querystring: StreamQuery,
      },
    },
    async (req, reply) => {
      // Unknown allocations are a plain 404, before the stream opens.
      await ctx.workloadReads.allocation(req.params.id);
      let stop = () => {};
      let closed = false;
      const stream = openSseStream(reply, 'lossless', resolveSseLimits(), () => {
        closed = true;
        stop();
      });
      stop = followAllocLogs({ reads: ctx.workloadReads, hub: ctx.hub }, req.params.id, req.query.after ?? 0, {
        send: (event, data) => stream.send(event, data),
        end: () => stream.end(),
        ready: () => stream.ready(),
      });
      if (closed) stop();
    },
  );
}
