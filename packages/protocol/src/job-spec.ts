import { z } from 'zod';
import { GpuVendor } from './gpu.js';
import { isLabelKey, parseSelector } from './selector.js';

/**
 * A workload job as it is signed and verified (issue 10): the job file (job-file.ts) with every
 * default filled in and every unit resolved (durations in ms, sizes in bytes), so the operator's
 * signature covers exactly what a host will start and no two readers can disagree about a
 * default. Every field is present; only the ones that are truly optional may be absent.
 */

const MAX_DURATION_MS = 30 * 86_400_000;
const durationMs = z.number().int().nonnegative().max(MAX_DURATION_MS);
const bytes = z
  .number()
  .int()
  .nonnegative()
  .max(2 ** 53 - 1);

/** Job and group names: DNS-label-like, so `job/group-index` stays unambiguous. */
export const JOB_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
export const GROUP_NAME = /^[a-z0-9]([a-z0-9_]{0,30}[a-z0-9])?$/;

export const JOB_KINDS = ['service', 'batch'] as const;
export const EXECUTORS = ['container', 'process'] as const;
export const STRATEGIES = ['binpack', 'spread'] as const;

/** `[host]:port[/path]` as a health check names its target; the host part defaults to 127.0.0.1. */
export const HEALTH_TARGET = /^([A-Za-z0-9.-]{0,253}|\[[0-9A-Fa-f:]+\]):(\d{1,5})(\/[\x21-\x7e]*)?$/;

export const HealthCheckSpec = z
  .strictObject({
    http: z.string().max(2048).regex(HEALTH_TARGET, 'an http check is [host]:port/path, e.g. :8000/health').optional(),
    tcp: z.string().max(300).regex(HEALTH_TARGET, 'a tcp check is [host]:port, e.g. :8000').optional(),
    command: z.array(z.string().max(4096)).min(1).max(64).optional(),
    /** Between two checks. */
    interval: durationMs.min(100),
    /** One check's limit. */
    timeout: durationMs.min(100),
    /** After a start, failures do not count for this long (a model loading its weights). */
    grace: durationMs,
    /** Consecutive failures that make the allocation unhealthy (then restarted, per its restart policy). */
    failures: z.number().int().min(1).max(100),
  })
  .refine((h) => [h.http, h.tcp, h.command].filter((x) => x !== undefined).length === 1, 'a health check has exactly one of http, tcp or command');
export type HealthCheckSpec = z.infer<typeof HealthCheckSpec>;

/** Restarts on the host, without the server: at most `attempts` within `within`, `delay` apart; then failed. */
export const RestartPolicy = z.strictObject({
  attempts: z.number().int().min(0).max(100),
  within: durationMs,
  delay: durationMs,
});
export type RestartPolicy = z.infer<typeof RestartPolicy>;

export const ResourceSpec = z.strictObject({
  gpus: z.number().int().min(0).max(64),
  /** Each assigned GPU has at least this much memory. */
  gpu_memory_min: bytes.optional(),
  /** Accepted GPU models: a GPU matches when its name contains one of these (case-insensitive, e.g. H100, A100-80GB). */
  gpu_model: z.array(z.string().min(1).max(128)).min(1).max(32).optional(),
  gpu_vendor: GpuVendor.optional(),
  /** CPU cores (fractions allowed). */
  cpu: z.number().positive().max(4096).optional(),
  memory: bytes.optional(),
});
export type ResourceSpec = z.infer<typeof ResourceSpec>;

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an env name is letters, digits and _');

export const GroupSpec = z
  .strictObject({
    count: z.number().int().min(1).max(10_000),
    executor: z.enum(EXECUTORS),
    /** container: the image to run (by tag or digest). */
    image: z.string().min(1).max(1024).optional(),
    /** process: argv of the program; container: the command (entrypoint arguments), when not the image's own. */
    command: z.array(z.string().max(65_536)).min(1).max(1024).optional(),
    env: z.record(envName, z.string().max(65_536)),
    resources: ResourceSpec,
    health: HealthCheckSpec.optional(),
    restart: RestartPolicy,
    /** How long a stop waits after SIGTERM before SIGKILL. */
    stop_grace: durationMs,
  })
  .superRefine((g, ctx) => {
    if (g.executor === 'container' && g.image === undefined)
      ctx.addIssue({ code: 'custom', path: ['image'], message: 'a container allocation needs an image' });
    if (g.executor === 'process' && g.command === undefined)
      ctx.addIssue({ code: 'custom', path: ['command'], message: 'a process allocation needs a command' });
    if (g.executor === 'process' && g.image !== undefined)
      ctx.addIssue({ code: 'custom', path: ['image'], message: 'a process allocation runs a command on the host, not an image' });
    if (Object.keys(g.env).length > 256) ctx.addIssue({ code: 'custom', path: ['env'], message: 'at most 256 env variables' });
  });
export type GroupSpec = z.infer<typeof GroupSpec>;

/** Rolling updates: how a new version replaces the running one. */
export const UpdateSpec = z.strictObject({
  max_parallel: z.number().int().min(1).max(10_000),
  /** Allocations of the new version placed first; the rest wait until they are healthy for healthy_for. */
  canary: z.number().int().min(0).max(10_000),
  healthy_for: durationMs,
  /** When the new version does not become healthy in time: go back to the last version that was. */
  auto_revert: z.boolean(),
  /** How long a new allocation has to become healthy before the update counts it failed. */
  deadline: durationMs.min(1000),
});
export type UpdateSpec = z.infer<typeof UpdateSpec>;

export const RescheduleSpec = z.strictObject({
  /** An allocation on a node OFFLINE this long is replaced elsewhere (OFFLINE alone never kills anything on the host). */
  offline_grace: durationMs,
});
export type RescheduleSpec = z.infer<typeof RescheduleSpec>;

function validSelector(text: string): boolean {
  try {
    parseSelector(text);
    return true;
  } catch {
    return false;
  }
}

export const JobSpec = z
  .strictObject({
    name: z.string().regex(JOB_NAME, 'a job name is lowercase letters, digits and -, at most 63, starting and ending with a letter or digit'),
    /** service: kept running (restarted on any exit); batch: done when every allocation exits 0. */
    kind: z.enum(JOB_KINDS),
    allocations: z
      .record(z.string().regex(GROUP_NAME, 'a group name is lowercase letters, digits and _, at most 32'), GroupSpec)
      .refine((m) => Object.keys(m).length >= 1 && Object.keys(m).length <= 32, 'a job has 1 to 32 allocation groups'),
    /** Label selectors every node must match (negative ones too: `!spot`, `region notin (cn)`). */
    constraints: z.array(z.string().max(4096).refine(validSelector, 'not a label selector')).max(32),
    strategy: z.enum(STRATEGIES),
    /** With strategy spread: the label whose values allocations spread over (e.g. rack); absent: over nodes. */
    spread: z.string().refine(isLabelKey, 'not a label key').optional(),
    /** Allocation name (group-index) -> node (hostname or node id) it must run on. */
    pin: z.record(z.string().max(64), z.string().min(1).max(256)),
    update: UpdateSpec,
    reschedule: RescheduleSpec,
  })
  .superRefine((j, ctx) => {
    for (const name of Object.keys(j.pin)) {
      const m = /^(.+)-(\d+)$/.exec(name);
      const group = m ? j.allocations[m[1]!] : undefined;
      if (!m || !group || Number(m[2]) >= group.count) {
        ctx.addIssue({ code: 'custom', path: ['pin', name], message: `'${name}' is not an allocation of this job (group-index, e.g. web-0)` });
      }
    }
  });
export type JobSpec = z.infer<typeof JobSpec>;

/** An allocation's name within its job: `web-0`. */
export function allocName(group: string, index: number): string {
  return `${group}-${index}`;
}
