import type { AllocGpuView, AllocationView, AllocStatus, JobDetailView, JobSummaryView, JobVersionView, PlanView, PlannedPlacement } from '@gpufleet/protocol';
import { renderTable, termSafe, type Column } from '../output.js';
import { formatSpan, relativeTime } from '../units.js';

/** Statuses after which an allocation does nothing more (it is kept for its history). */
export const FINAL_ALLOC_STATUSES: ReadonlySet<AllocStatus> = new Set(['failed', 'complete', 'refused', 'stopped', 'lost']);

function age(iso: string, now: number): string {
  const at = Date.parse(iso);
  return Number.isFinite(at) ? formatSpan(Math.max(0, now - at)) : '-';
}

/** `8f2a1c3e` of `GPU-8f2a1c3e-7d4b-...`: enough to tell a node's GPUs apart. */
export function shortUuid(uuid: string | null): string {
  if (uuid === null) return '?';
  const bare = uuid.replace(/^(GPU|MIG)-/i, '');
  return bare.length > 8 ? bare.slice(0, 8) : bare;
}

/** An allocation's GPUs as `index:uuid-short` (`0:8f2a1c3e,1:51d0e9aa`); `-` for none. */
export function gpuCell(gpus: readonly AllocGpuView[]): string {
  return gpus.length === 0 ? '-' : gpus.map((g) => `${g.index}:${shortUuid(g.uuid)}`).join(',');
}

export function healthCell(a: Pick<AllocationView, 'healthy'>): string {
  return a.healthy === null ? '-' : a.healthy ? 'healthy' : 'unhealthy';
}

/** The status, and where the server wants otherwise: `running, stopping` while a stop is on its way. */
export function statusCell(a: Pick<AllocationView, 'status' | 'desired'>): string {
  return a.desired === 'stop' && !FINAL_ALLOC_STATUSES.has(a.status) && a.status !== 'stopping' ? `${a.status}, to stop` : a.status;
}

export function jobColumns(now: number): Column<JobSummaryView>[] {
  return [
    { header: 'NAME', get: (j) => j.name },
    { header: 'STATUS', get: (j) => j.status },
    { header: 'ALLOCS', get: (j) => `${j.running}/${j.desired}`, align: 'right' },
    { header: 'GPUS', get: (j) => String(j.gpus), align: 'right' },
    { header: 'VERSION', get: (j) => String(j.version), align: 'right' },
    { header: 'AGE', get: (j) => age(j.createdAt, now), align: 'right' },
    { header: 'KIND', get: (j) => j.kind, wide: true },
    { header: 'UPDATED', get: (j) => relativeTime(j.updatedAt, now), wide: true },
    { header: 'BY', get: (j) => j.submittedBy, wide: true },
  ];
}

/**
 * Allocation columns: `NAME` within one job (`jobs status`), `ALLOC` as job/name across jobs
 * (`allocs ls`), so the first column is always what `allocs status` and `allocs logs` take.
 */
export function allocColumns(now: number, opts: { acrossJobs: boolean }): Column<AllocationView>[] {
  return [
    opts.acrossJobs ? { header: 'ALLOC', get: (a) => `${a.job}/${a.name}` } : { header: 'NAME', get: (a) => a.name },
    { header: 'NODE', get: (a) => a.hostname },
    { header: 'GPUS', get: (a) => gpuCell(a.gpus) },
    { header: 'STATUS', get: statusCell },
    { header: 'HEALTH', get: healthCell },
    { header: 'RESTARTS', get: (a) => String(a.restarts), align: 'right' },
    { header: 'AGE', get: (a) => age(a.createdAt, now), align: 'right' },
    { header: 'VERSION', get: (a) => String(a.jobVersion), wide: true, align: 'right' },
    { header: 'ID', get: (a) => a.id, wide: true },
    { header: 'MESSAGE', get: (a) => a.message || '-', wide: true },
  ];
}

export function versionColumns(now: number): Column<JobVersionView>[] {
  return [
    { header: 'VERSION', get: (v) => String(v.version), align: 'right' },
    { header: 'STATUS', get: (v) => v.status },
    { header: 'SPEC', get: (v) => v.specHash.slice(0, 12) },
    { header: 'SIGNED BY', get: (v) => shortDid(v.invoker) },
    { header: 'SUBMITTED', get: (v) => `${relativeTime(v.submittedAt, now)} by ${v.submittedBy}` },
  ];
}

export function placementColumns(): Column<PlannedPlacement>[] {
  return [
    { header: 'NAME', get: (p) => p.name },
    { header: 'NODE', get: (p) => p.hostname },
    { header: 'GPUS', get: (p) => gpuCell(p.gpus) },
    { header: 'SCORE', get: (p) => (Number.isFinite(p.score) ? p.score.toFixed(2) : '-'), align: 'right' },
    { header: 'GPU MODEL', get: (p) => [...new Set(p.gpus.map((g) => g.name ?? '?'))].join(', ') || '-', wide: true },
    { header: 'NODE ID', get: (p) => p.nodeId, wide: true },
  ];
}

export function shortDid(did: string): string {
  return did.length > 24 ? `${did.slice(0, 14)}…${did.slice(-6)}` : did;
}

/** Whether `jobs status` shows an allocation without --all: wanted, or not yet settled. */
export function isActiveAlloc(a: AllocationView): boolean {
  return a.desired === 'run' || !FINAL_ALLOC_STATUSES.has(a.status);
}

function field(name: string, value: string): string {
  return `${`${name}:`.padEnd(13)}${termSafe(value)}\n`;
}

/** Indents a rendered table under a heading. */
function indented(table: string): string {
  return `${table
    .split('\n')
    .filter(Boolean)
    .map((l) => `  ${l}`)
    .join('\n')}\n`;
}

/** The plan's failures as lines: one per group that cannot be fully placed. */
export function failureLines(plan: Pick<PlanView, 'failures'>): string[] {
  return plan.failures.map((f) => `${f.group}: ${f.unplaced} cannot be placed: ${f.message}`);
}

/** `jobs status` for people: the job, its deployment, its allocations and its versions. */
export function renderJobDetail(job: JobDetailView, opts: { now: number; width?: number; wide: boolean; all: boolean }): string {
  let out = '';
  out += field('Job', `${job.name} (${job.kind})`);
  out += field('Status', `${job.status}: ${job.running}/${job.desired} allocations running, ${job.gpus} GPU${job.gpus === 1 ? '' : 's'}`);
  const current = job.versions.find((v) => v.version === job.version);
  out += field(
    'Version',
    `${job.version}${current ? ` (spec ${current.specHash.slice(0, 12)}, signed by ${shortDid(current.invoker)}, submitted ${relativeTime(current.submittedAt, opts.now)} by ${current.submittedBy})` : ''}`,
  );
  const d = job.deployment;
  if (d) {
    const from = d.fromVersion === null ? `version ${d.toVersion}` : `${d.fromVersion} → ${d.toVersion}`;
    const counts = `${d.placed} placed, ${d.healthy} healthy${d.canaries > 0 ? `, ${d.canaries} canar${d.canaries === 1 ? 'y' : 'ies'}` : ''}`;
    out += field('Deployment', `${from} ${d.state}: ${counts}${d.message ? ` (${d.message})` : ''}`);
  }
  const shown = opts.all ? job.allocations : job.allocations.filter(isActiveAlloc);
  const hidden = job.allocations.length - shown.length;
  const table = { width: opts.width === undefined ? undefined : opts.width - 2, wide: opts.wide };
  out += `\nAllocations${hidden > 0 ? ` (${hidden} stopped or replaced not shown: --all)` : ''}:\n`;
  out += shown.length === 0 ? '  none\n' : indented(renderTable(allocColumns(opts.now, { acrossJobs: false }), shown, table));
  const problems = shown.filter((a) => a.message && (a.status === 'failed' || a.status === 'refused' || a.healthy === false));
  for (const a of problems) out += `  ${termSafe(`${a.name} on ${a.hostname}: ${a.status}: ${a.message}`)}\n`;
  out += '\nVersions:\n';
  out += indented(
    renderTable(
      versionColumns(opts.now),
      [...job.versions].sort((a, b) => b.version - a.version),
      table,
    ),
  );
  return out;
}

/** `jobs plan` for people: where each allocation would go, and why some cannot go anywhere. */
export function renderPlan(plan: PlanView, opts: { width?: number; wide: boolean }): string {
  let out = '';
  const version = plan.version === null ? 'a new job' : `version ${plan.version}`;
  out += `Plan for ${termSafe(plan.job)} (${version}), ${plan.nodesEvaluated} node${plan.nodesEvaluated === 1 ? '' : 's'} evaluated:\n`;
  if (plan.placements.length > 0) out += renderTable(placementColumns(), plan.placements, opts);
  else out += 'nothing to place\n';
  if (plan.unchanged > 0) out += `${plan.unchanged} allocation${plan.unchanged === 1 ? '' : 's'} unchanged\n`;
  if (plan.stops.length > 0) out += `would stop: ${termSafe(plan.stops.join(', '))}\n`;
  for (const line of failureLines(plan)) out += `${termSafe(line)}\n`;
  return out;
}
