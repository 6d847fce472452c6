import type { ApplyPoolsResult, PoolDetailView, PoolEventView, PoolMemberView, PoolOperationView, PoolView } from '@gpufleet/protocol';
import { renderTable, termSafe, type Column } from '../output.js';
import { formatSpan, relativeTime } from '../units.js';
import { shortId } from './node-facts.js';

/** How pools look to people: `pools ls` rows, `pools get` detail, event lines and what `pools apply` changed. */

/** `5/8 (2..100)`: nodes ready of desired, and the range the pool may take. */
export function sizeCell(p: Pick<PoolView, 'ready' | 'desired' | 'minNodes' | 'maxNodes'>): string {
  return `${p.ready}/${p.desired} (${p.minNodes}..${p.maxNodes})`;
}

/** Dollars per hour: cents under $10,000, whole dollars above; `-` when a price is unknown. */
export function dollarsPerHour(n: number | null): string {
  if (n === null) return '-';
  return n < 10_000 ? n.toFixed(2) : String(Math.round(n));
}

function pctCell(n: number | null): string {
  return n === null ? '-' : `${Math.round(n)}%`;
}

function age(iso: string | null, now: number): string {
  if (iso === null) return '-';
  const at = Date.parse(iso);
  return Number.isFinite(at) ? formatSpan(Math.max(0, now - at)) : '-';
}

/** `pools ls`: one row per pool, in 80 columns for pool names up to 10 characters. */
export function poolColumns(now: number): Column<PoolView>[] {
  return [
    { header: 'POOL', get: (p) => p.name },
    { header: 'PROVIDER', get: (p) => p.provider },
    { header: 'READY/DESIRED (MIN..MAX)', get: sizeCell },
    { header: 'GPUS', get: (p) => String(p.gpus), align: 'right' },
    { header: 'ALLOC%', get: (p) => pctCell(p.allocatedPct), align: 'right' },
    { header: '$/H', get: (p) => dollarsPerHour(p.costPerHour), align: 'right' },
    { header: 'IN-FLIGHT', get: (p) => String(p.inFlight), align: 'right' },
    { header: 'TYPE', get: (p) => `${p.providerType} ${p.instanceType}`, wide: true },
    { header: 'DESIRED BY', get: (p) => p.desiredSource, wide: true },
    { header: 'LAST SCALE', get: (p) => relativeTime(p.lastScaleAt, now), wide: true },
  ];
}

function memberColumns(now: number): Column<PoolMemberView>[] {
  return [
    { header: 'INSTANCE', get: (m) => m.instanceId },
    { header: 'NODE', get: (m) => m.hostname ?? m.nodeId ?? '-' },
    { header: 'STATE', get: (m) => m.state },
    { header: 'STATUS', get: (m) => m.nodeStatus ?? '-' },
    { header: 'HEALTH', get: (m) => m.health ?? '-' },
    { header: 'ALLOCS', get: (m) => String(m.allocations), align: 'right' },
    { header: 'ZONE', get: (m) => m.zone ?? '-' },
    { header: 'AGE', get: (m) => age(m.provisionedAt, now), align: 'right' },
    { header: 'GPUS', get: (m) => String(m.gpus), align: 'right', wide: true },
    { header: '$/H', get: (m) => dollarsPerHour(m.pricePerHour), align: 'right', wide: true },
    { header: 'TYPE', get: (m) => m.instanceType, wide: true },
    { header: 'JOINED', get: (m) => relativeTime(m.joinedAt, now), wide: true },
  ];
}

/** Whether an operation is still going (its stage is not done or failed). */
export function inFlight(op: Pick<PoolOperationView, 'stage'>): boolean {
  return op.stage !== 'done' && op.stage !== 'failed';
}

function operationColumns(now: number): Column<PoolOperationView>[] {
  return [
    { header: 'KIND', get: (o) => o.kind },
    { header: 'STAGE', get: (o) => o.stage },
    { header: 'NODE', get: (o) => nodeName(o.oldNodeId, o.oldHostname) ?? nodeName(o.newNodeId, o.newHostname) ?? '-' },
    { header: 'INSTANCE', get: (o) => o.instanceId ?? '-' },
    { header: 'ZONE', get: (o) => o.zone ?? '-' },
    { header: 'TRIES', get: (o) => String(o.attempts), align: 'right' },
    { header: 'AGE', get: (o) => age(o.startedAt, now), align: 'right' },
    { header: 'REASON', get: (o) => (o.error ? `${o.reason} (${o.error})` : o.reason) },
    { header: 'ID', get: (o) => o.id, wide: true },
    { header: 'NEW NODE', get: (o) => nodeName(o.newNodeId, o.newHostname) ?? '-', wide: true },
    { header: 'ZONES TRIED', get: (o) => o.zonesTried.join(',') || '-', wide: true },
    { header: 'DEADLINE', get: (o) => relativeTime(o.deadlineAt, now), wide: true },
  ];
}

/** A node by hostname; one the fleet removed (a terminated member) by the start of its id. */
function nodeName(id: string | null, hostname: string | null): string | null {
  if (id === null) return null;
  return hostname ?? shortId(id);
}

function field(name: string, value: string): string {
  return `${`${name}:`.padEnd(13)}${termSafe(value)}\n`;
}

function indented(table: string): string {
  return `${table
    .split('\n')
    .filter(Boolean)
    .map((l) => `  ${l}`)
    .join('\n')}\n`;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** `pools get` for people: settings, size and cost, members, operations in flight (and the last that ended). */
export function renderPoolDetail(pool: PoolDetailView, opts: { now: number; width?: number; wide: boolean }): string {
  const { now } = opts;
  let out = '';
  out += field('Pool', pool.name);
  out += field('Provider', `${pool.provider} (${pool.providerType}), ${pool.instanceType}${pool.zones.length > 0 ? `, zones ${pool.zones.join(', ')}` : ''}`);
  const by =
    pool.desiredSource === 'manual'
      ? `set by pools scale${pool.manualReason ? `: "${pool.manualReason}"` : ''}`
      : pool.desiredSource === 'autoscale'
        ? 'set by the autoscaler'
        : 'the floor (min_nodes)';
  out += field('Size', `${pool.ready} ready of ${pool.desired} desired (${pool.minNodes}..${pool.maxNodes}), ${pool.current} in any state; desired is ${by}`);
  const alloc = pool.allocatedPct === null ? '' : `, ${Math.round(pool.allocatedPct)}% allocated`;
  out += field('GPUs', `${pool.gpus}${alloc}; ${pool.costPerHour === null ? 'cost unknown' : `$${dollarsPerHour(pool.costPerHour)}/h`}`);
  out += field('Cooldown', `${formatSpan(pool.cooldownMs)}, last scale ${relativeTime(pool.lastScaleAt, now)}`);
  const a = pool.autoscaling;
  out += field(
    'Autoscaling',
    a === null
      ? 'off (the pool holds its desired size)'
      : [
          a.pendingAllocations ? 'grows for pending allocations' : null,
          a.scaleUpAtPct === null ? null : `up at ${a.scaleUpAtPct}% allocated`,
          a.scaleDownAtPct === null ? 'never shrinks' : `down at ${a.scaleDownAtPct}% after ${formatSpan(a.idleForMs)} idle`,
        ]
          .filter(Boolean)
          .join(', '),
  );
  const h = pool.health;
  out += field(
    'Health',
    `replace after ${formatSpan(h.replaceAfterMs)} unhealthy, ${plural(h.maxParallelReplacements, 'replacement')} at a time, at most ${h.maxUnavailable} unavailable, join within ${formatSpan(h.joinTimeoutMs)}`,
  );
  const labels = Object.entries(pool.labels).map(([k, v]) => `${k}=${v}`);
  out += field('Labels', labels.length > 0 ? labels.join(', ') : '-');

  const table = { width: opts.width === undefined ? undefined : opts.width - 2, wide: opts.wide };
  const live = pool.members.filter((m) => m.state !== 'terminated');
  out += `\nMembers (${live.length}):\n`;
  out += live.length === 0 ? '  none\n' : indented(renderTable(memberColumns(now), live, table));
  const going = pool.operations.filter(inFlight);
  out += `\nIn flight (${going.length}):\n`;
  out += going.length === 0 ? '  none\n' : indented(renderTable(operationColumns(now), going, table));
  const ended = pool.operations.filter((o) => !inFlight(o)).slice(-5);
  if (ended.length > 0) out += `\nRecently ended:\n${indented(renderTable(operationColumns(now), ended, table))}`;
  return out;
}

/** One event as a line: `12:04:05  training  scale-up  scale up 2: 5 allocations pending, no free H100`. */
export function eventLine(e: PoolEventView, opts: { showPool: boolean }): string {
  const at = Number.isFinite(Date.parse(e.at)) ? new Date(e.at).toISOString().replace('T', ' ').slice(0, 19) : e.at;
  return `${termSafe(at)}  ${opts.showPool ? `${termSafe(e.pool)}  ` : ''}${termSafe(e.kind.padEnd(17))} ${termSafe(e.message)}\n`;
}

/** What `pools apply` changed, one line each; what did not change is only counted. */
export function renderApplyResult(r: ApplyPoolsResult): string {
  let out = '';
  for (const [what, list] of [
    ['provider', r.providers],
    ['pool', r.pools],
  ] as const) {
    for (const c of list) if (c.change !== 'unchanged') out += `${what} ${termSafe(c.name)} ${c.change}\n`;
    const same = list.filter((c) => c.change === 'unchanged').length;
    if (same > 0) out += `${plural(same, what)} unchanged\n`;
  }
  return out === '' ? 'nothing to apply: the file has no providers or pools, and none were applied before\n' : out;
}
