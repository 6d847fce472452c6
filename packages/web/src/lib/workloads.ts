import type { JobSpec } from '@gpufleet/protocol';
import { ApiError } from './api.js';
import { formatBytes } from './format.js';

// The REST shapes of workloads: a plain-types file of the protocol, taken by its source path
// (the package index pulls in node:crypto and zod, which the browser does without).
import type { AllocationView, AllocGpuView, JobSummaryView, PlanView } from '../../../protocol/src/workload-views.js';
export type {
  AllocationView,
  AllocGpuView,
  AllocStatus,
  DeploymentView,
  JobDetailView,
  JobStatus,
  JobSummaryView,
  JobVersionView,
  PlanFailure,
  PlannedPlacement,
  PlanView,
  SubmitJobResponse,
} from '../../../protocol/src/workload-views.js';

/*
 * What the dashboard's workload pages (jobs, job detail, node allocations, heatmap marks) need
 * beyond the raw views: paths, the colour a status reads in, and the few texts people read.
 */

/** The dashboard page of a job; `alloc` opens that allocation's log. */
export function jobPagePath(name: string, alloc?: string): string {
  return `/jobs/${encodeURIComponent(name)}${alloc ? `?alloc=${encodeURIComponent(alloc)}` : ''}`;
}

/** The REST path of a job. */
export function jobApiPath(name: string): string {
  return `/api/v1/jobs/${encodeURIComponent(name)}`;
}

/** How a status reads: good (green), busy (amber, on its way), bad (red), idle (grey). */
export type StatusTone = 'good' | 'busy' | 'bad' | 'idle';

const TONES: Record<string, StatusTone> = {
  running: 'good',
  complete: 'good',
  succeeded: 'good',
  pending: 'busy',
  starting: 'busy',
  restarting: 'busy',
  stopping: 'busy',
  degraded: 'busy',
  failed: 'bad',
  refused: 'bad',
  lost: 'bad',
  reverted: 'bad',
  stopped: 'idle',
  superseded: 'idle',
  current: 'good',
};

/** The tone of an allocation, job, version or deployment status; an unknown word is idle. */
export function statusTone(status: string): StatusTone {
  return Object.hasOwn(TONES, status) ? TONES[status]! : 'idle';
}

/** Allocation statuses that will not change by themselves (the host is done with it). */
const FINAL: ReadonlySet<string> = new Set(['failed', 'complete', 'refused', 'stopped', 'lost']);

/** Whether the allocation is over: its logs stream ends and it holds no GPU. */
export function isFinalAlloc(a: Pick<AllocationView, 'status'>): boolean {
  return FINAL.has(a.status);
}

/** `llama/web-0`: how people (and the CLI) name an allocation. */
export function allocLabel(a: Pick<AllocationView, 'job' | 'name'>): string {
  return `${a.job}/${a.name}`;
}

/** A GPU UUID cut to what tells GPUs apart on one screen: `GPU-1a2b3c4d…`. */
export function shortUuid(uuid: string | null): string {
  if (!uuid) return 'no UUID';
  return uuid.length > 14 ? `${uuid.slice(0, 12)}…` : uuid;
}

/** GPUs of an allocation in one line: `0, 3`; none: `no GPU`. */
export function allocGpusText(gpus: readonly AllocGpuView[]): string {
  if (gpus.length === 0) return 'no GPU';
  return [...gpus]
    .sort((a, b) => a.index - b.index)
    .map((g) => String(g.index))
    .join(', ');
}

/** Running of wanted, `3/4`. */
export function runningText(j: Pick<JobSummaryView, 'running' | 'desired'>): string {
  return `${j.running}/${j.desired}`;
}

/**
 * The allocations in reading order: the ones wanted running first, then the ones told to stop;
 * within each by group and index, and the newest first where an allocation was replaced.
 */
export function sortAllocations(list: readonly AllocationView[]): AllocationView[] {
  const wantedFirst = (a: AllocationView) => (a.desired === 'run' && !isFinalAlloc(a) ? 0 : 1);
  return [...list].sort(
    (a, b) =>
      wantedFirst(a) - wantedFirst(b) ||
      (a.group < b.group ? -1 : a.group > b.group ? 1 : 0) ||
      a.index - b.index ||
      (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0),
  );
}

/** One problem of a job file: where (line and column, when known), which field, and what is wrong. */
export interface JobFileProblem {
  line: number | null;
  col: number | null;
  /** The field path (`allocations.web.resources.gpus`); null for the file as a whole. */
  field: string | null;
  message: string;
}

/** A refused job file: the server's message, and each problem it listed. */
export interface JobFileRefusal {
  message: string;
  problems: JobFileProblem[];
}

const positiveInt = (v: unknown): number | null => (Number.isInteger(v) && (v as number) > 0 ? (v as number) : null);

function problemOf(p: unknown): JobFileProblem | null {
  if (p === null || typeof p !== 'object') return null;
  const d = p as Record<string, unknown>;
  if (typeof d.message !== 'string') return null;
  return { line: positiveInt(d.line), col: positiveInt(d.col), field: typeof d.path === 'string' && d.path !== '' ? d.path : null, message: d.message };
}

/**
 * A refused POST /jobs/parse, /jobs/plan or /jobs as problems to show beside the file. The server
 * lists them in the error's details (`problems: [{line, col, path, message}]`, as the job file
 * parser reports them); without that list, the message is the one problem, its line read from
 * the `line N:C` the message starts with.
 */
export function jobFileRefusal(err: unknown): JobFileRefusal {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof ApiError && err.details !== null && typeof err.details === 'object') {
    const listed = (err.details as { problems?: unknown }).problems;
    const problems = Array.isArray(listed) ? listed.map(problemOf).filter((p): p is JobFileProblem => p !== null) : [];
    if (problems.length > 0) return { message, problems };
  }
  const at = /\bline (\d+)(?::(\d+))?/i.exec(message);
  return { message, problems: [{ line: at ? Number(at[1]) : null, col: at?.[2] ? Number(at[2]) : null, field: null, message }] };
}

/** One stored piece of an allocation's output: GET /allocations/{id}/logs items, the logs stream's `output` events. */
export interface AllocLogItem {
  id: number | string;
  stream: 'stdout' | 'stderr';
  chunk: number;
  data: string;
  at: string;
}

/** The logs stream's `output` event data as an item, or null when it is not one (it is then dropped). */
export function allocLogItemOf(data: unknown): AllocLogItem | null {
  if (data === null || typeof data !== 'object') return null;
  const d = data as Record<string, unknown>;
  if (typeof d.id !== 'number' && typeof d.id !== 'string') return null;
  if (d.stream !== 'stdout' && d.stream !== 'stderr') return null;
  if (typeof d.data !== 'string') return null;
  return { id: d.id, stream: d.stream, chunk: typeof d.chunk === 'number' ? d.chunk : 0, data: d.data, at: typeof d.at === 'string' ? d.at : '' };
}

/** The plan in one sentence: what would be placed, kept and stopped, and what cannot be placed. */
export function planSummary(p: PlanView): string {
  const nodes = new Set(p.placements.map((x) => x.nodeId)).size;
  const parts: string[] = [];
  if (p.placements.length > 0) parts.push(`${p.placements.length} to place on ${nodes} node${nodes === 1 ? '' : 's'}`);
  if (p.unchanged > 0) parts.push(`${p.unchanged} unchanged`);
  if (p.stops.length > 0) parts.push(`${p.stops.length} to stop`);
  const unplaced = p.failures.reduce((n, f) => n + f.unplaced, 0);
  if (unplaced > 0) parts.push(`${unplaced} cannot be placed`);
  if (parts.length === 0) parts.push('nothing to do');
  return `${parts.join(', ')} (${p.nodesEvaluated} node${p.nodesEvaluated === 1 ? '' : 's'} evaluated).`;
}

/** What one allocation of a group asks for, in words: `1 GPU (H100 or A100-80GB, ≥ 40 GiB), 8 CPUs, 64 GiB`. */
export function resourcesText(r: {
  gpus: number;
  gpu_memory_min?: number | undefined;
  gpu_model?: string[] | undefined;
  gpu_vendor?: string | undefined;
  cpu?: number | undefined;
  memory?: number | undefined;
}): string {
  const gpuBits = [r.gpu_vendor, r.gpu_model?.join(' or '), r.gpu_memory_min !== undefined ? `≥ ${formatBytes(r.gpu_memory_min)}` : undefined].filter(
    (x): x is string => x !== undefined && x !== '',
  );
  const parts = [`${r.gpus} GPU${r.gpus === 1 ? '' : 's'}${gpuBits.length > 0 ? ` (${gpuBits.join(', ')})` : ''}`];
  if (r.cpu !== undefined) parts.push(`${r.cpu} CPU${r.cpu === 1 ? '' : 's'}`);
  if (r.memory !== undefined) parts.push(formatBytes(r.memory));
  return parts.join(', ');
}

/**
 * The allocation a reference names, as the CLI reads `llama/web-0`: an id, or a name, which
 * means the one of that name that runs now, else the newest of that name. Null when none.
 */
export function pickAllocation(list: readonly AllocationView[], ref: string): AllocationView | null {
  const byId = list.find((a) => a.id === ref);
  if (byId) return byId;
  const named = list.filter((a) => a.name === ref);
  if (named.length === 0) return null;
  const live = named.filter((a) => a.desired === 'run' && !isFinalAlloc(a));
  const pool = live.length > 0 ? live : named;
  return pool.reduce((newest, a) => (a.createdAt > newest.createdAt ? a : newest));
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Whether a job view's spec (typed unknown: it is what was signed, stored as is) has the outline
 * the spec summary reads; when not, only its JSON is shown.
 */
export function looksLikeJobSpec(spec: unknown): spec is JobSpec {
  if (!isObject(spec)) return false;
  if (typeof spec.name !== 'string' || typeof spec.kind !== 'string' || typeof spec.strategy !== 'string') return false;
  if (!Array.isArray(spec.constraints) || !isObject(spec.pin) || !isObject(spec.update) || !isObject(spec.allocations)) return false;
  if (typeof spec.update.max_parallel !== 'number' || typeof spec.update.canary !== 'number' || typeof spec.update.healthy_for !== 'number') return false;
  return Object.values(spec.allocations).every(
    (g) =>
      isObject(g) &&
      typeof g.count === 'number' &&
      typeof g.executor === 'string' &&
      isObject(g.env) &&
      isObject(g.resources) &&
      typeof g.resources.gpus === 'number' &&
      isObject(g.restart) &&
      typeof g.restart.attempts === 'number' &&
      (g.health === undefined || isObject(g.health)) &&
      (g.command === undefined || Array.isArray(g.command)),
  );
}

/** GET /gpus rows name the allocation holding each GPU (null: free). */
export interface GpuAllocationRef {
  id: string;
  job: string;
  name: string;
}

/** A GPU row's `allocation` when it is one (older servers send none: read as free). */
export function gpuAllocationOf(row: unknown): GpuAllocationRef | null {
  const a = row !== null && typeof row === 'object' ? (row as { allocation?: unknown }).allocation : undefined;
  if (a === null || typeof a !== 'object') return null;
  const { id, job, name } = a as Record<string, unknown>;
  return typeof id === 'string' && typeof job === 'string' && typeof name === 'string' ? { id, job, name } : null;
}
