import type { AlertView, NodeView, TimelineEntry } from '@gpufleet/protocol';
import type { AlertCondition, Condition, EventCondition, NodeCondition } from './scenario-schema.js';
import { describePoolCondition, observePool, type PoolFacts } from './pool-conditions.js';
import { replyError, type ScenarioApi } from './scenario-api.js';
import {
  describeAllocationsCondition,
  describeAllocCondition,
  describeJobCondition,
  observeAlloc,
  observeAllocations,
  observeJob,
} from './workload-conditions.js';

/** What one check saw: whether the condition held, and the facts in words (for the report). */
export interface Observation {
  ok: boolean;
  seen: string;
}

/** `sim-h100-001 GPU 3 state UNHEALTHY`, `alert GpuUnhealthy firing on sim-h100-001 GPU 3`, ... */
export function describeCondition(c: Condition): string {
  if ('alert' in c) {
    const a = c.alert;
    const on = a.node === undefined ? '' : ` on ${a.node}${a.gpu === undefined ? '' : ` GPU ${a.gpu}`}`;
    return `alert ${a.rule} ${a.state ?? 'firing'}${on}${a.severity ? ` (${a.severity})` : ''}`;
  }
  if ('event' in c) {
    const e = c.event;
    return `${e.count && e.count > 1 ? `${e.count}+ ` : ''}${e.kind}${e.code === undefined ? '' : ` ${e.code}`} event(s) of ${e.node}`;
  }
  if ('job' in c) return describeJobCondition(c);
  if ('alloc' in c) return describeAllocCondition(c);
  if ('allocations' in c) return describeAllocationsCondition(c);
  if ('pool' in c) return describePoolCondition(c);
  const parts: string[] = [];
  if (c.status !== undefined) parts.push(`status ${Array.isArray(c.status) ? c.status.join('|') : c.status}`);
  if (c.state !== undefined) parts.push(`state ${c.state}`);
  if (c.verdict !== undefined) parts.push(`verdict ${c.verdict}`);
  if (c.gpusReady !== undefined) parts.push(`${c.gpusReady} GPUs READY`);
  if (c.gpus !== undefined) parts.push(`${c.gpus} GPUs listed`);
  return `${c.node}${c.gpu === undefined ? '' : ` GPU ${c.gpu}`} ${parts.join(', ')}`;
}

/**
 * Checks a condition once against the server's REST API (and, for pools, what the run knows of
 * pool hosts). Never throws: failures are observations.
 */
export async function observe(c: Condition, api: ScenarioApi, pools: PoolFacts | null = null): Promise<Observation> {
  try {
    if ('alert' in c) return await observeAlert(c, api);
    if ('event' in c) return await observeEvent(c, api);
    if ('job' in c) return await observeJob(c, api);
    if ('alloc' in c) return await observeAlloc(c, api);
    if ('allocations' in c) return await observeAllocations(c, api);
    if ('pool' in c) return await observePool(c, api, pools);
    return await observeNode(c, api);
  } catch (err) {
    return { ok: false, seen: `the API did not answer: ${err instanceof Error ? err.message : String(err)}` };
  }
}

async function observeNode(c: NodeCondition, api: ScenarioApi): Promise<Observation> {
  const r = await api.get<NodeView>(`/api/v1/nodes/${encodeURIComponent(c.node)}`);
  if (r.status !== 200) return { ok: false, seen: `node ${c.node}: ${replyError(r)}` };
  const node = r.body;
  const gpus = Array.isArray(node.gpus) ? node.gpus : [];
  const ready = gpus.filter((g) => g.state === 'READY').length;
  let ok = true;
  const seen: string[] = [];
  if (c.status !== undefined) {
    const wanted = Array.isArray(c.status) ? c.status : [c.status];
    ok &&= wanted.includes(node.status);
    seen.push(`status ${node.status}`);
  }
  if (c.gpu !== undefined) {
    const g = gpus.find((x) => x.index === c.gpu);
    if (!g) return { ok: false, seen: `GPU ${c.gpu} is not in ${c.node}'s inventory (${gpus.length} GPUs listed)` };
    if (c.state !== undefined) {
      ok &&= g.state === c.state;
      seen.push(`GPU ${c.gpu} state ${g.state}`);
    }
    if (c.verdict !== undefined) {
      ok &&= g.health?.verdict === c.verdict;
      seen.push(`GPU ${c.gpu} verdict ${g.health?.verdict ?? 'none'}${g.health?.rule ? ` (${g.health.rule})` : ''}`);
    }
  } else if (c.verdict !== undefined) {
    ok &&= node.health?.verdict === c.verdict;
    seen.push(`verdict ${node.health?.verdict ?? 'none'}${node.health?.rule ? ` (${node.health.rule})` : ''}`);
  }
  if (c.gpusReady !== undefined) {
    ok &&= ready === c.gpusReady;
    seen.push(`${ready} of ${gpus.length} GPUs READY`);
  }
  if (c.gpus !== undefined) {
    ok &&= gpus.length === c.gpus;
    seen.push(`${gpus.length} GPUs listed`);
  }
  return { ok, seen: seen.join(', ') };
}

async function observeAlert(c: AlertCondition, api: ScenarioApi): Promise<Observation> {
  const a = c.alert;
  const state = a.state ?? 'firing';
  const r = await api.get<{ items: AlertView[] }>('/api/v1/alerts', { rule: a.rule, node: a.node, limit: 10_000 });
  if (r.status !== 200) return { ok: false, seen: `alerts: ${replyError(r)}` };
  const items = Array.isArray(r.body?.items) ? r.body.items : [];
  const sameTarget = items.filter((x) => (a.gpu === undefined || x.gpuIndex === a.gpu) && (a.severity === undefined || x.severity === a.severity));
  const hit = sameTarget.find((x) => x.state === state);
  if (hit) return { ok: true, seen: `${hit.rule} ${hit.state} on ${hit.hostname}${hit.gpuIndex === null ? '' : ` GPU ${hit.gpuIndex}`}: ${hit.summary}` };
  if (sameTarget.length === 0) return { ok: false, seen: `no ${a.rule} alert${a.node ? ` on ${a.node}` : ''}${a.gpu === undefined ? '' : ` GPU ${a.gpu}`}` };
  return { ok: false, seen: `${a.rule} is ${[...new Set(sameTarget.map((x) => x.state))].join('/')}` };
}

async function observeEvent(c: EventCondition, api: ScenarioApi): Promise<Observation> {
  const e = c.event;
  const r = await api.get<{ items: TimelineEntry[] }>('/api/v1/events', { node: e.node, kind: e.kind, limit: 1000 });
  if (r.status !== 200) return { ok: false, seen: `events: ${replyError(r)}` };
  const items = (Array.isArray(r.body?.items) ? r.body.items : []).filter((x) => e.code === undefined || x.code === e.code);
  const want = e.count ?? 1;
  return {
    ok: items.length >= want,
    seen: `${items.length} ${e.kind}${e.code === undefined ? '' : ` ${e.code}`} event(s)${items[0] ? `, latest: ${items[0].message.slice(0, 160)}` : ''}`,
  };
}
