import { HEALTH_TIMELINE_KINDS, type TimelineEntry } from '@gpufleet/protocol';
import type { AgentEventRecord, HealthEventRecord, HealthEventType, Store } from '../store/store.js';

/** What `GET /api/v1/events` asks for, resolved to ids and keys by the route. */
export interface TimelineQuery {
  /** Only these nodes (undefined: every node). */
  nodeIds?: readonly string[];
  /** Only entries about this GPU: health records by key, agent events by UUID or PCI bus id. */
  gpu?: { keys: readonly string[]; uuid: string | null; pciBusId: string | null };
  /** An agent event kind (xid, counter, ...) or a health kind (verdict, transition, match). */
  kind?: string;
  /** Kinds left out (agent or health kinds). */
  excludeKinds?: readonly string[];
  since?: number;
  limit: number;
}

const iso = (ms: number) => new Date(ms).toISOString();

function fromAgent(e: AgentEventRecord, hostname: (id: string) => string | null): TimelineEntry {
  const code = typeof e.data?.code === 'number' && Number.isInteger(e.data.code) ? e.data.code : null;
  return {
    id: `a:${e.nodeId}:${e.seq}`,
    source: 'agent',
    at: iso(e.ts),
    nodeId: e.nodeId,
    hostname: hostname(e.nodeId),
    gpu: e.gpuUuid ?? e.pciBusId,
    kind: e.kind,
    code,
    message: e.message,
    details: e.data,
  };
}

function healthMessage(e: HealthEventRecord): string {
  switch (e.type) {
    case 'verdict':
      return `${e.rule ?? 'health'}: ${e.from} -> ${e.to}: ${e.reason}`;
    case 'transition':
      return `${e.op}: ${e.from} -> ${e.to} by ${e.actor}${e.reason ? `: ${e.reason}` : ''}`;
    default:
      return `${e.rule ?? 'health'}: ${e.reason}`;
  }
}

function fromHealth(e: HealthEventRecord, hostname: (id: string) => string | null): TimelineEntry {
  const ev = e.evidence as { code?: unknown } | null;
  const code = typeof ev?.code === 'number' && Number.isInteger(ev.code) ? ev.code : null;
  return {
    id: `h:${e.id}`,
    source: 'health',
    at: iso(e.at),
    nodeId: e.nodeId,
    hostname: hostname(e.nodeId),
    gpu: e.gpuKey,
    kind: e.type,
    code,
    message: healthMessage(e),
    details: { rule: e.rule, op: e.op, from: e.from, to: e.to, actor: e.actor, reason: e.reason, evidence: e.evidence },
  };
}

/**
 * The fleet's events timeline: raw agent events (agent time) and health records (verdicts,
 * state transitions, recorded matches; server time) merged newest first. Each source is read
 * with the limit, so the merge holds the newest `limit` of both.
 */
export async function readTimeline(store: Store, q: TimelineQuery, hostname: (id: string) => string | null): Promise<TimelineEntry[]> {
  const healthKind = q.kind !== undefined && (HEALTH_TIMELINE_KINDS as readonly string[]).includes(q.kind);
  const wantAgent = q.kind === undefined || !healthKind;
  const wantHealth = q.kind === undefined || healthKind;
  const [agent, health] = await Promise.all([
    wantAgent
      ? store.listAgentEvents({
          ...(q.nodeIds ? { nodeIds: q.nodeIds } : {}),
          ...(q.gpu ? { gpu: { uuid: q.gpu.uuid, pciBusId: q.gpu.pciBusId } } : {}),
          ...(q.kind !== undefined ? { kind: q.kind } : {}),
          ...(q.excludeKinds !== undefined ? { excludeKinds: q.excludeKinds } : {}),
          ...(q.since !== undefined ? { since: q.since } : {}),
          limit: q.limit,
        })
      : [],
    wantHealth
      ? store.listHealthEvents({
          ...(q.nodeIds ? { nodeIds: q.nodeIds } : {}),
          ...(q.gpu ? { gpuKeys: q.gpu.keys } : {}),
          ...(healthKind ? { type: q.kind as HealthEventType } : {}),
          ...(q.since !== undefined ? { since: q.since } : {}),
          limit: q.limit,
        })
      : [],
  ]);
  const excluded = new Set(q.excludeKinds ?? []);
  const entries = [...agent.map((e) => fromAgent(e, hostname)), ...health.filter((e) => !excluded.has(e.type)).map((e) => fromHealth(e, hostname))];
  // Newest first; at equal times the health record (the judgement, which came later) first.
  entries.sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : a.source === b.source ? 0 : a.source === 'health' ? -1 : 1));
  return entries.slice(0, q.limit);
}
