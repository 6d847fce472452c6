import type { PlayEventKind, PlayEventStatus } from '../store/store.js';

/**
 * One line of ansible-playbook's output under the ansible.posix.jsonl callback, read into what
 * the play log keeps: the event, and for a host result or the recap, the host's counts.
 *
 * The callback writes one JSON object per event through Ansible's Display, which flushes stdout
 * after each write, so lines arrive as they happen (play-service.test.ts checks this during a
 * sleeping task); no callback of our own is needed.
 */

export interface ParsedEvent {
  kind: PlayEventKind;
  host: string | null;
  task: string | null;
  status: PlayEventStatus | null;
  message: string;
}

export interface HostRecap {
  ok: number;
  changed: number;
  failed: number;
  unreachable: number;
  skipped: number;
}

export interface ParsedLine {
  events: ParsedEvent[];
  /** Set by the play recap: each host's final counts. */
  recap?: Record<string, HostRecap>;
}

/** Messages are cut here: a task's stdout can be megabytes. */
export const MAX_MESSAGE = 2000;

function cut(text: string): string {
  return text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE)}… (${text.length - MAX_MESSAGE} more characters)` : text;
}

function text(v: unknown): string {
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** What to show for a host's result: the message, the failure, the command's output. */
function resultMessage(action: string, r: Record<string, unknown>, status: PlayEventStatus): string {
  if (action === 'ansible.builtin.setup' || action === 'setup' || action === 'gather_facts')
    return status === 'ok' || status === 'changed' ? 'facts gathered' : text(r.msg);
  if (status === 'skipped') return text(r.skip_reason) || 'skipped';
  const parts: string[] = [];
  if (r.msg !== undefined && r.msg !== '') parts.push(text(r.msg));
  if (status === 'failed' || status === 'unreachable') {
    if (typeof r.stderr === 'string' && r.stderr.trim() !== '') parts.push(r.stderr.trim());
    if (parts.length === 0 && typeof r.stdout === 'string') parts.push(r.stdout.trim());
  } else if (parts.length === 0) {
    if (typeof r.stdout === 'string' && r.stdout.trim() !== '') parts.push(r.stdout.trim());
    else if (r.ping !== undefined) parts.push(text(r.ping));
  }
  return cut(parts.join(': ') || status);
}

const RESULT_EVENTS: Record<string, PlayEventStatus> = {
  v2_runner_on_ok: 'ok',
  v2_runner_on_failed: 'failed',
  v2_runner_on_skipped: 'skipped',
  v2_runner_on_unreachable: 'unreachable',
};

/** Reads one stdout line; a line that is not the callback's JSON is kept as ansible's own output. */
export function parseAnsibleLine(line: string): ParsedLine {
  const trimmed = line.trim();
  if (trimmed === '') return { events: [] };
  let obj: Record<string, unknown>;
  try {
    obj = JSON.parse(trimmed) as Record<string, unknown>;
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new Error('not an object');
  } catch {
    return { events: [{ kind: 'output', host: null, task: null, status: null, message: cut(trimmed) }] };
  }
  const name = String(obj._event ?? '');
  const task = (obj.task as { name?: string } | undefined)?.name ?? null;
  if (name === 'v2_playbook_on_play_start') {
    const play = (obj.play as { name?: string } | undefined)?.name ?? '';
    return { events: [{ kind: 'play', host: null, task: null, status: null, message: play }] };
  }
  if (name === 'v2_playbook_on_task_start' || name === 'v2_playbook_on_handler_task_start' || name === 'v2_runner_on_start') {
    return { events: [{ kind: 'task', host: null, task, status: null, message: task ?? '' }] };
  }
  const base = RESULT_EVENTS[name];
  if (base !== undefined) {
    const hosts = (obj.hosts ?? {}) as Record<string, Record<string, unknown>>;
    const events: ParsedEvent[] = [];
    for (const [host, result] of Object.entries(hosts)) {
      const r = result ?? {};
      const status: PlayEventStatus = base === 'ok' && r.changed === true ? 'changed' : base;
      events.push({ kind: 'host', host, task, status, message: resultMessage(String(r.action ?? ''), r, status) });
    }
    return { events };
  }
  if (name === 'v2_playbook_on_stats') {
    const stats = (obj.stats ?? {}) as Record<string, Record<string, number>>;
    const recap: Record<string, HostRecap> = {};
    const events: ParsedEvent[] = [];
    for (const [host, s] of Object.entries(stats)) {
      recap[host] = {
        ok: Number(s.ok ?? 0),
        changed: Number(s.changed ?? 0),
        failed: Number(s.failures ?? 0),
        unreachable: Number(s.unreachable ?? 0),
        skipped: Number(s.skipped ?? 0),
      };
      const c = recap[host];
      events.push({
        kind: 'recap',
        host,
        task: null,
        status: null,
        message: `ok=${c.ok} changed=${c.changed} failed=${c.failed} unreachable=${c.unreachable} skipped=${c.skipped}`,
      });
    }
    return { events, recap };
  }
  return { events: [{ kind: 'output', host: null, task: null, status: null, message: cut(name || trimmed) }] };
}
