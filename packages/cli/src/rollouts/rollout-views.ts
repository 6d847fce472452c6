import type { RolloutDetail, RolloutEventView, RolloutHostView, RolloutStepView, RolloutView } from '@gpufleet/protocol';
import { renderTable, termSafe, type Column } from '../output.js';
import { relativeTime } from '../units.js';

const release = (r: RolloutView) => (r.release.kind === 'agent' ? `agent@${r.release.version}` : `${r.release.name}@${r.release.version}`);

export function rolloutColumns(now: number): Column<RolloutView>[] {
  return [
    { header: 'ID', get: (r) => r.id },
    { header: 'RELEASE', get: (r) => termSafe(release(r)) },
    { header: 'STATE', get: (r) => r.state },
    { header: 'STEP', get: (r) => `${r.steps[r.step]?.name ?? '-'} (${r.step + 1}/${r.steps.length})` },
    { header: 'HEALTHY', get: (r) => `${r.counts.healthy}/${Object.values(r.counts).reduce((a, b) => a + b, 0)}`, align: 'right' },
    { header: 'FAILED', get: (r) => String(r.counts.failed + r.counts.refused), align: 'right' },
    { header: 'SKIPPED', get: (r) => String(r.counts.skipped), align: 'right' },
    { header: 'AGE', get: (r) => relativeTime(r.createdAt, now) },
    { header: 'SELECTOR', get: (r) => termSafe(r.selector || '*'), wide: true },
    { header: 'MESSAGE', get: (r) => termSafe(r.message ?? ''), wide: true },
  ];
}

const stepColumns = (now: number): Column<RolloutStepView>[] => [
  { header: 'STEP', get: (s) => s.name },
  { header: 'HOSTS', get: (s) => String(s.hosts), align: 'right' },
  { header: 'STATE', get: (s) => s.state },
  { header: 'STARTED', get: (s) => (s.startedAt ? relativeTime(s.startedAt, now) : '-') },
  { header: 'DONE', get: (s) => (s.doneAt ? relativeTime(s.doneAt, now) : '-') },
];

const hostColumns = (r: RolloutView): Column<RolloutHostView>[] => [
  { header: 'HOST', get: (h) => termSafe(h.hostname) },
  { header: 'STEP', get: (h) => r.steps[h.step]?.name ?? String(h.step) },
  { header: 'STATE', get: (h) => h.state },
  { header: 'FROM', get: (h) => termSafe(h.fromVersion ?? '-') },
  { header: 'RUNNING', get: (h) => termSafe(h.runningVersion ?? '-') },
  { header: 'MESSAGE', get: (h) => termSafe(h.message ?? '') },
  { header: 'NODE', get: (h) => h.nodeId, wide: true },
];

/** `rollouts get`: the rollout, its steps and its hosts. */
export function renderRolloutDetail(d: RolloutDetail, now: number, opts: { width?: number | undefined; wide: boolean }): string {
  const p = d.plan;
  const lines = [
    `rollout ${d.id}: ${termSafe(release(d))} ${d.state}${d.message ? ` (${termSafe(d.message)})` : ''}`,
    `target    ${termSafe(d.target.path)} sha256 ${d.target.sha256.slice(0, 12)}…`,
    `hosts     ${termSafe(d.selector || '*')}: ${d.hosts.length} (healthy ${d.counts.healthy}, updating ${d.counts.updating}, pending ${d.counts.pending}, failed ${d.counts.failed}, refused ${d.counts.refused}, rolled back ${d.counts.rolledBack}, skipped ${d.counts.skipped})`,
    `plan      canary ${p.canary}, waves ${p.waves.map((w) => `${w}%`).join(',')}, healthy for ${p.healthyForMs / 1000}s, max failures ${p.maxFailures}`,
    `started   ${relativeTime(d.createdAt, now)} by ${termSafe(d.createdBy)}`,
    '',
  ];
  return `${lines.join('\n')}\n${renderTable(stepColumns(now), d.steps, opts)}\n${renderTable(hostColumns(d), d.hosts, opts)}`;
}

export function rolloutEventColumns(now: number): Column<RolloutEventView>[] {
  return [
    { header: 'WHEN', get: (e) => relativeTime(e.at, now) },
    { header: 'KIND', get: (e) => e.kind },
    { header: 'MESSAGE', get: (e) => termSafe(e.message) },
    { header: 'AT', get: (e) => e.at, wide: true },
    { header: 'NODE', get: (e) => e.nodeId ?? '-', wide: true },
  ];
}
