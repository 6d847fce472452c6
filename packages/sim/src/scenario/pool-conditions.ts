import type { PoolDetailView, PoolEventView, PoolMemberView } from '@gpufleet/protocol';
import type { SimProviderHosts } from '../provider/sim-provider-hosts.js';
import type { Observation } from './conditions.js';
import type { CountRange, PoolCondition } from './pool-schema.js';
import { replyError, type ScenarioApi } from './scenario-api.js';

/*
 * Conditions on pools, checked through the REST API as `gpufleet pools get` and `pools events`
 * read them, plus what only the simulator knows: the pool hosts the scenario hit with a fault
 * and what still ran on a host when its instance was switched off.
 */

/** What the run knows of pool hosts besides the API. */
export interface PoolFacts {
  hosts: SimProviderHosts;
  /** Pool hosts a fault of the scenario landed on, in order. */
  hit: ReadonlyArray<{ pool: string; hostname: string; nodeId: string; instanceId: string }>;
}

// Node statuses of a member that is no longer up for the pool: gone, or on its way out.
const NOT_UP = new Set(['PENDING', 'OFFLINE', 'DRAINING', 'DRAINED', 'DECOMMISSIONED']);
const EVENTS_PAGE = 1000;

export function inRange(value: number, r: CountRange): boolean {
  if (typeof r === 'number') return value === r;
  return (r.min === undefined || value >= r.min) && (r.max === undefined || value <= r.max);
}

export function describeRange(r: CountRange): string {
  if (typeof r === 'number') return String(r);
  if (r.min !== undefined && r.max !== undefined) return r.min === r.max ? String(r.min) : `${r.min}..${r.max}`;
  return r.min !== undefined ? `>= ${r.min}` : `<= ${r.max}`;
}

/** Members the pool has up, healthy or not (see PoolCondition.capacity). */
export function poolCapacity(members: readonly PoolMemberView[]): number {
  return members.filter((m) => m.state === 'active' && m.nodeId !== null && m.nodeStatus !== null && !NOT_UP.has(m.nodeStatus)).length;
}

export function describePoolCondition(c: PoolCondition): string {
  const parts: string[] = [];
  const count = (name: string, r: CountRange | undefined) => r !== undefined && parts.push(`${name} ${describeRange(r)}`);
  count('ready', c.ready);
  count('current', c.current);
  count('desired', c.desired);
  count('in flight', c.inFlight);
  count('capacity', c.capacity);
  count('unhealthy', c.unhealthy);
  if (c.operations) {
    const stage = c.operations.stage === undefined ? '' : ` ${[c.operations.stage].flat().join('|')}`;
    parts.push(`${describeRange(c.operations.count)} ${c.operations.kind ?? ''}${stage} operation(s)`.replace(/ {2,}/g, ' '));
  }
  if (c.events) parts.push(`${describeRange(c.events.count)} ${c.events.kind} event(s)`);
  if (c.faultsReplaced) parts.push('every faulted host replaced');
  count('allocations killed by a terminate', c.killedAllocations);
  return `pool ${c.pool} ${parts.join(', ')}`;
}

export async function observePool(c: PoolCondition, api: ScenarioApi, facts: PoolFacts | null): Promise<Observation> {
  const r = await api.get<PoolDetailView>(`/api/v1/pools/${encodeURIComponent(c.pool)}`);
  if (r.status !== 200) return { ok: false, seen: `pool ${c.pool}: ${replyError(r)}` };
  const pool = r.body;
  const members = Array.isArray(pool.members) ? pool.members : [];
  const operations = Array.isArray(pool.operations) ? pool.operations : [];
  let ok = true;
  const seen: string[] = [];
  const check = (name: string, value: number, want: CountRange | undefined) => {
    if (want === undefined) return;
    ok &&= inRange(value, want);
    seen.push(`${name} ${value}`);
  };
  check('ready', pool.ready, c.ready);
  check('current', pool.current, c.current);
  check('desired', pool.desired, c.desired);
  check('in flight', pool.inFlight, c.inFlight);
  check('capacity', poolCapacity(members), c.capacity);
  check('unhealthy', members.filter((m) => m.state === 'active' && m.health === 'unhealthy').length, c.unhealthy);
  if (c.operations) {
    const stages = c.operations.stage === undefined ? null : [c.operations.stage].flat();
    const n = operations.filter(
      (o) => (c.operations!.kind === undefined || o.kind === c.operations!.kind) && (stages === null || stages.includes(o.stage)),
    ).length;
    check('operations', n, c.operations.count);
  }
  const events = c.events || c.faultsReplaced ? await allEvents(api, c.pool) : null;
  if (events === null && (c.events || c.faultsReplaced)) return { ok: false, seen: `pool ${c.pool}: its events could not be read` };
  if (c.events) check(`${c.events.kind} events`, events!.filter((e) => e.kind === c.events!.kind).length, c.events.count);
  if (c.faultsReplaced) {
    const hit = (facts?.hit ?? []).filter((h) => h.pool === c.pool);
    const waiting = hit.filter((h) => {
      const off = facts!.hosts.terminations.some((t) => t.instanceId === h.instanceId);
      // replace-started names the old node; replace-done, of the same operation, the new one.
      const ops = new Set(events!.filter((e) => e.kind === 'replace-started' && e.nodeId === h.nodeId).map((e) => e.operationId));
      const done =
        operations.some((o) => o.kind === 'replace' && o.stage === 'done' && o.oldNodeId === h.nodeId) ||
        events!.some((e) => e.kind === 'replace-done' && ops.has(e.operationId));
      return !(off && done);
    });
    ok &&= hit.length > 0 && waiting.length === 0;
    seen.push(
      hit.length === 0
        ? 'no fault landed on a pool host'
        : `${hit.length - waiting.length} of ${hit.length} faulted hosts replaced${
            waiting.length > 0
              ? ` (waiting: ${waiting
                  .slice(0, 4)
                  .map((h) => h.hostname)
                  .join(', ')}${waiting.length > 4 ? ', ...' : ''})`
              : ''
          }`,
    );
  }
  if (c.killedAllocations !== undefined) {
    const killed = (facts?.hosts.terminations ?? []).filter((t) => t.pool === c.pool && t.running.length > 0);
    const n = killed.reduce((a, t) => a + t.running.length, 0);
    ok &&= inRange(n, c.killedAllocations);
    seen.push(
      `${n} allocation(s) killed by a terminate${killed.length > 0 ? ` (${killed[0]!.running[0]!.job}/${killed[0]!.running[0]!.name} on ${killed[0]!.hostname})` : ''}`,
    );
  }
  return { ok, seen: seen.join(', ') };
}

/** Every event of the pool, oldest first, page by page; null when the API refuses. */
async function allEvents(api: ScenarioApi, pool: string): Promise<PoolEventView[] | null> {
  const out: PoolEventView[] = [];
  let after = 0;
  for (;;) {
    const r = await api.get<{ items: PoolEventView[]; next: number | null }>(`/api/v1/pools/${encodeURIComponent(pool)}/events`, { after, limit: EVENTS_PAGE });
    if (r.status !== 200 || !Array.isArray(r.body?.items)) return null;
    out.push(...r.body.items);
    if (r.body.items.length < EVENTS_PAGE) return out;
    after = r.body.items.at(-1)!.id;
  }
}
