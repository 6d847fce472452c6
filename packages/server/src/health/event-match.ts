import { FALLEN_OFF_BUS_XID, sxidDescription, sxidSeverity, xidDescription, xidInfo, xidSeverity } from '@gpufleet/protocol';
import type { AgentEventRecord } from '../store/store.js';
import type { CompiledRule } from './health-policy.js';

/** What the policy reads from one agent event, extracted once however many rules look at it. */
export interface EventFacts {
  record: AgentEventRecord;
  /** XID / SXid number (79 for fallen-off-bus lines without one); null when there is none. */
  code: number | null;
  /** The kernel line when the agent sent it, else the event message. */
  line: string;
  /** Counter events: name and values (flags read as 0/1). */
  counter: string | null;
  previous: number | null;
  value: number | null;
}

function asNumber(v: unknown): number | null {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  return null;
}

/** Reads code, line and counter values from an event's data, tolerating anything the agent sent. */
export function eventFacts(record: AgentEventRecord): EventFacts {
  const data = record.data ?? {};
  let code = typeof data.code === 'number' && Number.isInteger(data.code) ? data.code : null;
  if (code === null && record.kind === 'fallen-off-bus') code = FALLEN_OFF_BUS_XID;
  const line = typeof data.line === 'string' && data.line !== '' ? data.line : record.message;
  const counter = record.kind === 'counter' && typeof data.counter === 'string' ? data.counter : null;
  // The agent's counter watch says `current`; `value` is read too for other reporters.
  return { record, code, line, counter, previous: asNumber(data.previous), value: asNumber(data.current ?? data.value) };
}

/** The catalog's severity of the event's line (xid and sxid only). */
function severityOf(f: EventFacts): string | null {
  if (f.code === null) return null;
  if (f.record.kind === 'xid') return xidSeverity(f.code, f.line);
  if (f.record.kind === 'sxid') return sxidSeverity(f.code, f.line);
  return null;
}

/** Whether the rule's match fits the event (the rule's kind is the event's, checked by the caller). */
export function eventMatches(rule: CompiledRule, f: EventFacts): boolean {
  if (rule.codes && (f.code === null || !rule.codes.has(f.code))) return false;
  if (rule.immediateActions) {
    const action = f.code === null ? null : (xidInfo(f.code)?.immediateAction ?? null);
    if (action === null || !rule.immediateActions.has(action)) return false;
  }
  if (rule.severities) {
    const severity = severityOf(f);
    if (severity === null || !rule.severities.has(severity)) return false;
  }
  if (rule.counter !== null) {
    // A counter rule fires on a rise past the threshold; a drop (volatile counters reset by a
    // GPU reset) or a flag clearing is not a match.
    if (f.counter !== rule.counter || f.value === null) return false;
    if (!(f.value > (rule.above ?? 0)) || !(f.value > (f.previous ?? 0))) return false;
  }
  if (rule.message && !rule.message.test(f.record.message)) return false;
  return true;
}

/** A short cause for people: "XID 79 (GPU has fallen off the bus; NVIDIA: RESTART_BM)". */
export function eventCause(f: EventFacts): string {
  const r = f.record;
  switch (r.kind) {
    case 'xid': {
      if (f.code === null) return `XID: ${r.message}`;
      const action = xidInfo(f.code)?.immediateAction;
      const what = [xidDescription(f.code), action ? `NVIDIA: ${action}` : null].filter(Boolean).join('; ');
      return `XID ${f.code}${what ? ` (${what})` : ''}`;
    }
    case 'sxid':
      return f.code === null ? `SXid: ${r.message}` : `SXid ${f.code}${sxidDescription(f.code) ? ` (${sxidDescription(f.code)})` : ''}`;
    case 'fallen-off-bus':
      return `GPU has fallen off the bus (XID ${FALLEN_OFF_BUS_XID})`;
    case 'counter':
      return `${f.counter ?? 'counter'} rose from ${f.previous ?? 0} to ${f.value ?? '?'}`;
    default:
      return r.message || r.kind;
  }
}

/** What a finding keeps as evidence of one event: enough to see what happened without the raw log. */
export function eventEvidence(f: EventFacts): Record<string, unknown> {
  const r = f.record;
  return {
    event: { nodeId: r.nodeId, seq: r.seq, id: r.id, kind: r.kind, ts: r.ts, gpuUuid: r.gpuUuid, pciBusId: r.pciBusId },
    ...(f.code === null ? {} : { code: f.code }),
    line: f.line,
    ...(f.counter === null ? {} : { counter: f.counter, previous: f.previous, value: f.value }),
  };
}
