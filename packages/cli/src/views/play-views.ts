import type { PlayEventView, PlayHostStats, PlayView, TemplateDetailView, TemplateView } from '@gpufleet/protocol';
import { renderTable, termSafe, type Column } from '../output.js';
import { formatSpan, relativeTime } from '../units.js';

/** Tables and lines of templates and plays; every field from the server goes through termSafe. */

export function templateColumns(now: number): Column<TemplateView>[] {
  return [
    { header: 'NAME', get: (t) => termSafe(t.name) },
    { header: 'VER', get: (t) => String(t.version), align: 'right' },
    { header: 'CATEGORY', get: (t) => termSafe(t.category) },
    { header: 'KIND', get: (t) => (t.builtin ? 'builtin' : 'custom') },
    { header: 'BECOME', get: (t) => (t.become ? 'yes' : 'no') },
    { header: 'TIMEOUT', get: (t) => formatSpan(t.timeoutMs), align: 'right' },
    { header: 'ADDED', get: (t) => relativeTime(t.createdAt, now), wide: true },
    { header: 'BY', get: (t) => termSafe(t.createdBy), wide: true },
    { header: 'SHA256', get: (t) => t.sha256.slice(0, 12), wide: true },
    { header: 'DESCRIPTION', get: (t) => termSafe(t.description) },
  ];
}

export function renderTemplate(t: TemplateDetailView, now: number): string {
  const vars = Object.entries(t.vars);
  const lines = [
    `Name:        ${termSafe(t.name)} (version ${t.version} of ${t.versions.join(', ')})`,
    `Category:    ${termSafe(t.category)}${t.builtin ? ', builtin' : ''}`,
    `Description: ${termSafe(t.description)}`,
    `Become:      ${t.become ? 'yes (runs as root through sudo)' : 'no'}`,
    `Timeout:     ${formatSpan(t.timeoutMs)}`,
    `Added:       ${relativeTime(t.createdAt, now)} by ${termSafe(t.createdBy)}`,
    `SHA-256:     ${t.sha256}`,
    `Variables:   ${vars.length === 0 ? '(none)' : ''}`,
    ...vars.map(([k, v]) => `  ${termSafe(k)} = ${termSafe(JSON.stringify(v))}`),
    'Playbook:',
    ...t.playbook
      .replace(/\n$/, '')
      .split('\n')
      .map((l) => `  ${termSafe(l)}`),
  ];
  return `${lines.join('\n')}\n`;
}

function hostsSummary(hosts: PlayHostStats[]): string {
  const by = (s: PlayHostStats['state']) => hosts.filter((h) => h.state === s).length;
  const parts = [`${hosts.length}`];
  for (const s of ['failed', 'unreachable', 'running'] as const) if (by(s) > 0) parts.push(`${by(s)} ${s}`);
  return parts.join(', ');
}

export function playColumns(now: number): Column<PlayView>[] {
  return [
    { header: 'ID', get: (p) => termSafe(p.id) },
    { header: 'TEMPLATE', get: (p) => `${termSafe(p.template)}@${p.templateVersion}` },
    { header: 'STATE', get: (p) => p.state },
    { header: 'HOSTS', get: (p) => hostsSummary(p.hosts) },
    { header: 'SELECTOR', get: (p) => termSafe(p.selector), wide: true },
    { header: 'SERIAL', get: (p) => p.serial ?? '-', wide: true },
    { header: 'CHECK', get: (p) => (p.check ? 'yes' : 'no'), wide: true },
    { header: 'STARTED', get: (p) => relativeTime(p.startedAt ?? p.createdAt, now) },
    { header: 'BY', get: (p) => termSafe(p.createdBy), wide: true },
    { header: 'ERROR', get: (p) => termSafe(p.error ?? ''), wide: true },
  ];
}

const STATS_COLUMNS: Column<PlayHostStats>[] = [
  { header: 'HOST', get: (h) => termSafe(h.hostname) },
  { header: 'OK', get: (h) => String(h.ok), align: 'right' },
  { header: 'CHANGED', get: (h) => String(h.changed), align: 'right' },
  { header: 'FAILED', get: (h) => String(h.failed), align: 'right' },
  { header: 'UNREACHABLE', get: (h) => String(h.unreachable), align: 'right' },
  { header: 'SKIPPED', get: (h) => String(h.skipped), align: 'right' },
  { header: 'STATE', get: (h) => h.state },
];

export function renderHostStats(hosts: PlayHostStats[], width: number | undefined): string {
  return renderTable(STATS_COLUMNS, hosts, { width });
}

/** How a play ended, one line. */
export function endLine(p: PlayView): string {
  const took = p.startedAt && p.endedAt ? ` in ${formatSpan(Date.parse(p.endedAt) - Date.parse(p.startedAt))}` : '';
  return `play ${termSafe(p.id)} ${p.state}${took}${p.error ? `: ${termSafe(p.error)}` : ''}\n`;
}

export function renderPlay(p: PlayView, now: number, width: number | undefined): string {
  const lines = [
    `ID:        ${termSafe(p.id)}`,
    `Template:  ${termSafe(p.template)}@${p.templateVersion}${p.check ? ' (check mode: nothing changed)' : ''}`,
    `Selector:  ${termSafe(p.selector)}${p.serial ? `, serial ${p.serial}` : ''}`,
    `State:     ${p.state}${p.exitCode === null ? '' : ` (exit ${p.exitCode})`}`,
    `Created:   ${relativeTime(p.createdAt, now)} by ${termSafe(p.createdBy)}`,
    `Started:   ${p.startedAt ? relativeTime(p.startedAt, now) : '-'}`,
    `Ended:     ${p.endedAt ? relativeTime(p.endedAt, now) : '-'}`,
  ];
  if (p.reason) lines.push(`Reason:    ${termSafe(p.reason)}`);
  if (p.error) lines.push(`Error:     ${termSafe(p.error)}`);
  return `${lines.join('\n')}\n\n${renderHostStats(p.hosts, width)}`;
}

const STATUS_WORD: Record<NonNullable<PlayEventView['status']>, string> = {
  ok: 'ok',
  changed: 'changed',
  failed: 'FAILED',
  unreachable: 'UNREACHABLE',
  skipped: 'skipped',
};

/** One log line, without color: what ansible-playbook's own output would say. */
export function eventLine(e: PlayEventView): string {
  const msg = termSafe(e.message);
  switch (e.kind) {
    case 'play':
      return `PLAY [${msg}]\n`;
    case 'task':
      return `TASK [${termSafe(e.task ?? e.message)}]\n`;
    case 'host':
      return `  ${STATUS_WORD[e.status ?? 'ok']}: ${termSafe(e.host ?? '?')}${msg === '' || msg === e.status ? '' : ` - ${msg}`}\n`;
    case 'recap':
      return `RECAP ${termSafe(e.host ?? '?')}: ${msg}\n`;
    case 'state':
      return `-- ${msg}\n`;
    default:
      return `  | ${msg}\n`;
  }
}
