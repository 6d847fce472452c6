import type { AllocationView, JobDetailView, JobSpec, PlanView } from '@gpufleet/protocol';
import { seg, type ApiClient } from '../api-client.js';
import type { CliIo } from '../io.js';
import { termSafe } from '../output.js';

/** Where one version of a job stands: its allocations counted by how far they got. */
export interface JobProgress {
  desired: number;
  /** Allocations of the version that have a node. */
  placed: number;
  /** Running, and healthy where the group has a health check (a batch allocation that completed counts too). */
  up: number;
  /** Failed, refused, lost or stopped: they will not come up by themselves. */
  down: number;
  /** Allocations the plan found no node for (and that have none yet). */
  unplaced: number;
}

/** Why following a job ended. */
export type FollowOutcome =
  | 'running' // every allocation of the version is up
  | 'not_running' // every allocation settled, some down or unplaced
  | 'stopped' // the job was stopped
  | 'failed' // the job or its deployment failed (or was reverted)
  | 'superseded' // a newer version was submitted meanwhile
  | 'detached'; // the operator stopped following

const DOWN = new Set(['failed', 'refused', 'lost', 'stopped']);

function hasHealthCheck(job: JobDetailView, group: string): boolean {
  const spec = job.spec as Partial<JobSpec> | null;
  return Boolean(spec?.allocations?.[group]?.health);
}

/** The allocation that stands for each name of a version: the one not replaced, else the newest. */
export function currentAllocations(job: JobDetailView, version: number): AllocationView[] {
  const byName = new Map<string, AllocationView>();
  for (const a of job.allocations) {
    if (a.jobVersion !== version) continue;
    const seen = byName.get(a.name);
    const better = !seen || (seen.replacedBy !== null && a.replacedBy === null) || (seen.replacedBy === a.replacedBy && a.createdAt > seen.createdAt);
    if (better) byName.set(a.name, a);
  }
  return [...byName.values()].sort((x, y) => x.group.localeCompare(y.group) || x.index - y.index);
}

export function isUp(job: JobDetailView, a: AllocationView): boolean {
  if (job.kind === 'batch' && a.status === 'complete') return true;
  return a.status === 'running' && (!hasHealthCheck(job, a.group) || a.healthy === true);
}

export function isDown(job: JobDetailView, a: AllocationView): boolean {
  return DOWN.has(a.status) || (job.kind === 'service' && a.status === 'complete');
}

/** Counts a version's allocations; `planUnplaced` is how many the plan could not place. */
export function progressOf(job: JobDetailView, version: number, planUnplaced: number): JobProgress {
  const allocs = currentAllocations(job, version);
  const desired = job.version === version ? job.desired : Math.max(job.desired, allocs.length);
  return {
    desired,
    placed: allocs.length,
    up: allocs.filter((a) => isUp(job, a)).length,
    down: allocs.filter((a) => isDown(job, a)).length,
    unplaced: Math.min(planUnplaced, Math.max(0, desired - allocs.length)),
  };
}

/** `placed 3/4 · running 2/4 · failed 0` (and what could not be placed, when something could not). */
export function progressLine(p: JobProgress): string {
  const unplaced = p.unplaced > 0 ? ` · unplaced ${p.unplaced}` : '';
  return `placed ${p.placed}/${p.desired} · running ${p.up}/${p.desired} · failed ${p.down}${unplaced}`;
}

/** Why following ends now, or null to keep going. */
export function outcomeOf(job: JobDetailView, version: number, p: JobProgress): FollowOutcome | null {
  if (job.version > version) return 'superseded';
  if (job.status === 'stopped') return 'stopped';
  const d = job.deployment;
  if (d && d.toVersion === version && (d.state === 'failed' || d.state === 'reverted')) return 'failed';
  if (p.desired > 0 && p.up >= p.desired) return 'running';
  if (p.up + p.down + p.unplaced >= p.desired) return 'not_running';
  if (job.status === 'failed') return 'failed';
  return null;
}

export interface FollowJobOptions {
  /** Between two reads of the job. */
  pollMs: number;
  /** Show the progress line on stderr (people); false for -o json/yaml. */
  show: boolean;
}

export interface FollowedJob {
  job: JobDetailView;
  outcome: FollowOutcome;
  progress: JobProgress;
}

export interface JobFollowing {
  result: Promise<FollowedJob>;
  /** Stops following (Ctrl-C): `result` resolves with outcome 'detached' and the last view read. */
  detach(): void;
}

/**
 * Follows a submitted job version by reading the job every `pollMs` until each of its
 * allocations is up (running, healthy where checked), or everything has settled with some down
 * or unplaceable, or the job is stopped, fails or is superseded. On a terminal the progress is
 * one line redrawn in place; elsewhere a line is printed each time it changes.
 */
export function followJob(
  io: CliIo,
  client: ApiClient,
  first: JobDetailView,
  version: number,
  plan: Pick<PlanView, 'failures'>,
  o: FollowJobOptions,
): JobFollowing {
  const planUnplaced = plan.failures.reduce((n, f) => n + f.unplaced, 0);
  const tty = io.stderrIsTty ?? io.stdoutIsTty;
  let detached = false;
  let wake: (() => void) | null = null;
  let lastLine = '';
  const show = (p: JobProgress) => {
    if (!o.show) return;
    const line = progressLine(p);
    if (line === lastLine) return;
    lastLine = line;
    io.err(tty ? `\r\u001b[K${line}` : `${line}\n`);
  };
  const endLine = () => {
    if (o.show && tty && lastLine) io.err('\n');
  };

  const result = (async (): Promise<FollowedJob> => {
    let job = first;
    for (;;) {
      const progress = progressOf(job, version, planUnplaced);
      show(progress);
      const outcome = detached ? 'detached' : outcomeOf(job, version, progress);
      if (outcome) {
        endLine();
        return { job, outcome, progress };
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, o.pollMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = null;
      if (detached) continue;
      job = await client.get<JobDetailView>(`/api/v1/jobs/${seg(job.name)}`);
    }
  })();

  return {
    result,
    detach() {
      detached = true;
      (wake as (() => void) | null)?.();
    },
  };
}

/** One line per allocation of the version that is down, with the host's reason. */
export function downLines(job: JobDetailView, version: number): string[] {
  return currentAllocations(job, version)
    .filter((a) => isDown(job, a) || (a.status === 'running' && a.healthy === false))
    .map((a) => termSafe(`${a.name} on ${a.hostname}: ${a.status}${a.healthy === false ? ', unhealthy' : ''}${a.message ? `: ${a.message}` : ''}`));
}
