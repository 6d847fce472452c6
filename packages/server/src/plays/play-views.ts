import type { PlayHostStats, PlayView } from '@gpufleet/protocol';
import type { PlayHostRecord, PlayRecord } from '../store/store.js';

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

export function hostStats(h: PlayHostRecord): PlayHostStats {
  return {
    hostname: h.hostname,
    nodeId: h.nodeId,
    ok: h.ok,
    changed: h.changed,
    failed: h.failed,
    unreachable: h.unreachable,
    skipped: h.skipped,
    state: h.state,
  };
}

export function playView(p: PlayRecord, hosts: readonly PlayHostRecord[]): PlayView {
  return {
    id: p.id,
    template: p.template,
    templateVersion: p.templateVersion,
    selector: p.selector,
    serial: p.serial,
    check: p.check,
    state: p.state,
    hosts: [...hosts].sort((a, b) => a.hostname.localeCompare(b.hostname)).map(hostStats),
    createdBy: p.createdBy,
    createdAt: new Date(p.createdAt).toISOString(),
    startedAt: iso(p.startedAt),
    endedAt: iso(p.endedAt),
    exitCode: p.exitCode,
    error: p.error,
    reason: p.reason,
  };
}

/** 90000 → 1m30s; for messages such as 'timed out after 5m'. */
export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const parts: string[] = [];
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  if (h > 0) parts.push(`${h}h`);
  if (m > 0) parts.push(`${m}m`);
  if (r > 0) parts.push(`${r}s`);
  return parts.join('');
}
