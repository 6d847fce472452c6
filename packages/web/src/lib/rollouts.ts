// The REST shapes of rollouts, as types only: a type-only import is erased, so the protocol's
// zod schemas and signing code never reach the browser bundle.
import type { ReleaseRef } from '../../../protocol/src/release-views.js';
import type { RolloutPlan } from '../../../protocol/src/signed-rollout.js';
import type { RolloutCounts, RolloutHostState, RolloutHostView, RolloutState, RolloutStepView, RolloutView } from '../../../protocol/src/rollout-views.js';
import { formatDuration } from './format.js';
export type {
  RolloutCounts,
  RolloutDetail,
  RolloutHostState,
  RolloutHostView,
  RolloutList,
  RolloutState,
  RolloutStepView,
  RolloutView,
} from '../../../protocol/src/rollout-views.js';
export type { ReleaseRef } from '../../../protocol/src/release-views.js';
export type { RolloutPlan } from '../../../protocol/src/signed-rollout.js';

/*
 * What the rollout pages need beyond the raw views: paths, which buttons a state allows, the
 * host bar's shares, the words for steps and plans, and the host filter. The server decides
 * everything; these only read what it sent.
 */

const enc = encodeURIComponent;
export const ROLLOUTS_API = '/api/v1/rollouts';
export const rolloutApiPath = (id: string) => `${ROLLOUTS_API}/${enc(id)}`;
export const rolloutPagePath = (id: string) => `/rollouts/${enc(id)}`;

/** How often rollouts are read again while one may still move hosts, and when all are over. */
export const ROLLOUT_ACTIVE_MS = 3_000;
export const ROLLOUT_IDLE_MS = 15_000;

/** A rollout that succeeded or was aborted starts no step; its hosts may still report (a rollback, a host back online). */
export function rolloutIsOver(state: RolloutState): boolean {
  return state === 'succeeded' || state === 'aborted';
}

/** An over rollout is still read fast this long after its last change: hosts told to roll back report after the abort. */
export const ROLLOUT_RECENT_MS = 60_000;

/**
 * The poll period: fast while any rollout is running or paused, or changed within
 * ROLLOUT_RECENT_MS (`updatedAt`, of the rollout or of one of its hosts); slow otherwise.
 */
export function rolloutRefreshMs(rollouts: readonly { state: RolloutState; updatedAt: string }[], now: number): number {
  const moving = rollouts.some((r) => !rolloutIsOver(r.state) || now - Date.parse(r.updatedAt) < ROLLOUT_RECENT_MS);
  return moving ? ROLLOUT_ACTIVE_MS : ROLLOUT_IDLE_MS;
}

/** A rollout's state with its latest change, its hosts' included, for rolloutRefreshMs. */
export function lastChange(r: Pick<RolloutView, 'state' | 'updatedAt'> & { hosts: readonly { updatedAt: string }[] }): {
  state: RolloutState;
  updatedAt: string;
} {
  let latest = r.updatedAt;
  for (const h of r.hosts) if (Date.parse(h.updatedAt) > Date.parse(latest)) latest = h.updatedAt;
  return { state: r.state, updatedAt: latest };
}

/** How a release is written for people, as the CLI writes it: agent@0.3.0, inference@12. */
export function releaseText(ref: ReleaseRef): string {
  return ref.kind === 'agent' ? `agent@${ref.version}` : `${ref.name}@${ref.version}`;
}

/** A sha256 short enough for a table, long enough to compare by eye. */
export function shortSha(sha256: string): string {
  return sha256.slice(0, 12);
}

export type RolloutAction = 'pause' | 'resume' | 'abort';

/** The operator buttons a rollout in this state offers (the server refuses any other, and its refusal is shown). */
export function rolloutActions(state: RolloutState): RolloutAction[] {
  if (state === 'running') return ['pause', 'abort'];
  if (state === 'paused') return ['resume', 'abort'];
  return [];
}

/** A host state's group: the same groups as the rollout's counts. */
export type HostGroup = keyof RolloutCounts;
export const HOST_GROUPS: readonly HostGroup[] = ['pending', 'updating', 'healthy', 'failed', 'refused', 'rolledBack', 'skipped'];
export const HOST_GROUP_LABELS: Record<HostGroup, string> = {
  pending: 'pending',
  updating: 'updating',
  healthy: 'healthy',
  failed: 'failed',
  refused: 'refused',
  rolledBack: 'rolled back',
  skipped: 'skipped',
};

/** Which count a host in this state adds to: sent, verifying, installing and restarting are all "updating". */
export function hostGroup(state: RolloutHostState): HostGroup {
  switch (state) {
    case 'sent':
    case 'verifying':
    case 'installing':
    case 'restarting':
      return 'updating';
    case 'rolled-back':
      return 'rolledBack';
    default:
      return state;
  }
}

/** The host bar: how many hosts in each part, and each part's share of the width (0..100). */
export interface RolloutProgress {
  total: number;
  healthy: number;
  updating: number;
  /** failed and refused: hosts that could not take the release. */
  failed: number;
  /** went back to what they ran before (after a failure, a pause or an abort). */
  rolledBack: number;
  skipped: number;
  pending: number;
  share: { healthy: number; updating: number; failed: number; rolledBack: number; skipped: number };
}

/** The parts of the bar, in the order drawn. */
export const PROGRESS_PARTS = ['healthy', 'updating', 'failed', 'rolledBack', 'skipped'] as const;

export function rolloutProgress(c: RolloutCounts): RolloutProgress {
  const failed = c.failed + c.refused;
  const total = c.pending + c.updating + c.healthy + failed + c.rolledBack + c.skipped;
  const pct = (n: number) => (total === 0 ? 0 : (n / total) * 100);
  return {
    total,
    healthy: c.healthy,
    updating: c.updating,
    failed,
    rolledBack: c.rolledBack,
    skipped: c.skipped,
    pending: c.pending,
    share: { healthy: pct(c.healthy), updating: pct(c.updating), failed: pct(failed), rolledBack: pct(c.rolledBack), skipped: pct(c.skipped) },
  };
}

/** "3 healthy · 1 updating · 1 failed · 2 skipped of 10 hosts", with "· 1 rolled back" when any did. */
export function progressText(p: RolloutProgress): string {
  const back = p.rolledBack > 0 ? ` · ${p.rolledBack} rolled back` : '';
  return `${p.healthy} healthy · ${p.updating} updating · ${p.failed} failed${back} · ${p.skipped} skipped of ${p.total} host${p.total === 1 ? '' : 's'}`;
}

/** The step under way as a list reads it: "wave 1 (10%) · 2 of 4", "done" once succeeded. */
export function currentStepText(r: Pick<RolloutView, 'state' | 'step' | 'steps'>): string {
  if (r.steps.length === 0) return 'no hosts';
  if (r.state === 'succeeded') return 'done';
  const step = r.steps[r.step];
  const name = step ? step.name : `step ${r.step + 1}`;
  return `${name} · ${Math.min(r.step + 1, r.steps.length)} of ${r.steps.length}`;
}

/** What a step's state means on its card; an abort also leaves the step under way failed. */
export function stepStateText(step: RolloutStepView, rollout: Pick<RolloutView, 'plan' | 'state'>): string {
  switch (step.state) {
    case 'pending':
      return 'waits for the step before';
    case 'running':
      return 'hosts updating';
    case 'settling':
      return `all healthy; must stay so ${formatDuration(rollout.plan.healthyForMs)}`;
    case 'done':
      return 'done';
    case 'failed':
      return rollout.state === 'aborted' ? 'stopped by the abort' : 'too many hosts failed';
  }
}

/** The plan in words, as the detail page lists it. */
export function planText(plan: RolloutPlan): { canary: string; waves: string; healthyFor: string; maxFailures: string } {
  return {
    canary: plan.canary === 0 ? 'none' : `${plan.canary} host${plan.canary === 1 ? '' : 's'} first`,
    waves: plan.waves.map((w) => `${w}%`).join(', '),
    healthyFor: plan.healthyForMs === 0 ? 'no wait' : formatDuration(plan.healthyForMs),
    maxFailures: String(plan.maxFailures),
  };
}

/** "0.2.1 → 0.3.0", with a dash for a version not known. */
export function versionChange(h: Pick<RolloutHostView, 'fromVersion' | 'runningVersion'>): string {
  return `${h.fromVersion ?? '—'} → ${h.runningVersion ?? '—'}`;
}

export type HostFilter = 'all' | HostGroup;

/** The filter from the page's `?state=`: anything not a group is "all". */
export function parseHostFilter(value: string | null): HostFilter {
  return value !== null && (HOST_GROUPS as readonly string[]).includes(value) ? (value as HostGroup) : 'all';
}

export function filterHosts(hosts: readonly RolloutHostView[], filter: HostFilter): RolloutHostView[] {
  return filter === 'all' ? [...hosts] : hosts.filter((h) => hostGroup(h.state) === filter);
}

/** How many hosts each filter would show, for the filter's labels. */
export function hostFilterCounts(hosts: readonly RolloutHostView[]): Record<HostFilter, number> {
  const counts: Record<HostFilter, number> = { all: hosts.length, pending: 0, updating: 0, healthy: 0, failed: 0, refused: 0, rolledBack: 0, skipped: 0 };
  for (const h of hosts) counts[hostGroup(h.state)]++;
  return counts;
}
