import { NODE_STATUSES, type PlanFailure, type PlanRejection } from '@gpufleet/protocol';
import type { GpuNeed } from './gpu-need.js';

/**
 * Why a node cannot take an allocation. A rejection travels as a short string key (the reason,
 * then what it names: the node state, the failing constraint) so counting them over thousands
 * of nodes costs nothing; `explainRejections` turns the counts into `jobs plan`'s sentence.
 */
export const REJECTION_REASONS = [
  'not_ready',
  'pin',
  'avoided',
  'constraint',
  'gpu_vendor',
  'gpu_model',
  'gpu_memory',
  'gpu_count',
  'gpus_unhealthy',
  'gpus_busy',
  'cpu',
  'memory',
] as const;
export type RejectionReason = (typeof REJECTION_REASONS)[number];

const SEP = '\u0000';

/** A rejection key: the reason, and a detail where the reason names something. */
export function rejection(reason: RejectionReason, detail?: string): string {
  return detail === undefined ? reason : `${reason}${SEP}${detail}`;
}

export function splitRejection(key: string): { reason: RejectionReason; detail: string | null } {
  const at = key.indexOf(SEP);
  return at < 0 ? { reason: key as RejectionReason, detail: null } : { reason: key.slice(0, at) as RejectionReason, detail: key.slice(at + 1) };
}

/** What a group asks for, as its rejection messages name it. */
export interface NeedsForMessages {
  gpu: GpuNeed;
  cpu: number | null;
  memory: number | null;
  /** The job's constraints in its order: rows of equal count list them so. */
  constraints?: readonly string[];
}

const VENDOR_NAMES: Record<string, string> = { nvidia: 'NVIDIA', amd: 'AMD', intel: 'Intel', huawei: 'Huawei Ascend' };

export function formatBytes(bytes: number): string {
  const gib = bytes / 2 ** 30;
  if (gib >= 1) return `${Math.round(gib * 10) / 10} GiB`;
  return `${Math.round((bytes / 2 ** 20) * 10) / 10} MiB`;
}

/** `H100 or A100-80GB GPUs`, `AMD GPU`, `GPUs`. */
function gpuNoun(need: GpuNeed, plural: boolean): string {
  const kind = need.models ? `${need.models.join(' or ')} ` : need.vendor ? `${VENDOR_NAMES[need.vendor] ?? need.vendor} ` : '';
  return `${kind}GPU${plural ? 's' : ''}`;
}

/** The predicate of a rejection, agreeing with `n` nodes: "are cordoned", "lacks 4 free H100 GPUs". */
function predicate(key: string, needs: NeedsForMessages, n: number): string {
  const one = n === 1;
  const verb = (singular: string, plural: string) => (one ? singular : plural);
  const { reason, detail } = splitRejection(key);
  const g = needs.gpu;
  switch (reason) {
    case 'not_ready':
      // A state the registry knows reads as a word ("are cordoned"); anything else is quoted.
      return (NODE_STATUSES as readonly string[]).includes(detail ?? '')
        ? `${verb('is', 'are')} ${detail!.toLowerCase()}`
        : `${verb('is', 'are')} in state '${detail}'`;
    case 'avoided':
      return `${verb('is', 'are')} avoided (the allocation is being moved off ${verb('it', 'them')})`;
    case 'constraint':
      return `${verb('fails', 'fail')} \`${detail}\``;
    case 'gpu_vendor':
      return `${verb('has', 'have')} no ${gpuNoun(g, true)}`;
    case 'gpu_model':
      return `${verb('has', 'have')} no ${gpuNoun(g, true)}`;
    case 'gpu_memory':
      return `${verb('has', 'have')} no ${gpuNoun(g, true)} with ${formatBytes(g.memoryMin ?? 0)} of memory`;
    case 'gpu_count':
      return `${verb('has', 'have')} fewer than ${g.count} ${gpuNoun(g, true)}`;
    case 'gpus_unhealthy':
      return `${verb('has', 'have')} too few healthy ${gpuNoun(g, true)} (unhealthy or cordoned)`;
    case 'gpus_busy':
      return `${verb('lacks', 'lack')} ${g.count === 1 ? 'a free' : `${g.count} free`} ${gpuNoun(g, g.count !== 1)}`;
    case 'cpu':
      if (detail === 'unknown') return `${verb('does', 'do')} not report ${verb('its', 'their')} CPU cores`;
      return `${verb('lacks', 'lack')} ${needs.cpu} free CPU core${needs.cpu === 1 ? '' : 's'}`;
    case 'memory':
      if (detail === 'unknown') return `${verb('does', 'do')} not report ${verb('its', 'their')} memory`;
      return `${verb('lacks', 'lack')} ${formatBytes(needs.memory ?? 0)} of free memory`;
    case 'pin':
      return `${verb('is', 'are')} not the pinned node`;
  }
}

function nodes(n: number): string {
  return `${n} node${n === 1 ? '' : 's'}`;
}

/** One failed pinned allocation: its name, the node it is pinned to, and why that node fails (null: no such node). */
export interface PinMiss {
  allocation: string;
  target: string;
  key: string | null;
}

/**
 * The explanation of a group that could not place `unplaced` allocations: a row per reason
 * (most nodes first) and one sentence, "3 nodes lack free H100 GPUs, 2 are cordoned, 1 fails
 * `!spot`". `fleetSize` 0 says so instead.
 */
export function explainRejections(
  group: string,
  unplaced: number,
  tally: ReadonlyMap<string, number>,
  pinMisses: readonly PinMiss[],
  needs: NeedsForMessages,
  fleetSize: number,
): PlanFailure {
  const order = (key: string) => {
    const { reason, detail } = splitRejection(key);
    return REJECTION_REASONS.indexOf(reason) * 1000 + (reason === 'constraint' && detail !== null ? (needs.constraints?.indexOf(detail) ?? 0) : 0);
  };
  const counted = [...tally].filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1] || order(a[0]) - order(b[0]) || (a[0] < b[0] ? -1 : 1));
  const rejections: PlanRejection[] = counted.map(([key, n]) => ({
    reason: splitRejection(key).reason,
    nodes: n,
    message: `${nodes(n)} ${predicate(key, needs, n)}`,
  }));
  const parts = counted.map(([key, n], i) => (i === 0 ? `${nodes(n)} ${predicate(key, needs, n)}` : `${n} ${predicate(key, needs, n)}`));
  for (const miss of pinMisses) {
    const why = miss.key === null ? 'is not in the fleet' : predicate(miss.key, needs, 1);
    const message = `${miss.allocation}'s pinned node ${miss.target} ${why}`;
    rejections.push({ reason: 'pin', nodes: miss.key === null ? 0 : 1, message });
    parts.push(message);
  }
  if (parts.length === 0) {
    const message = fleetSize === 0 ? 'the fleet has no nodes' : 'no node was evaluated';
    return { group, unplaced, rejections: [{ reason: 'no_nodes', nodes: 0, message }], message };
  }
  return { group, unplaced, rejections, message: parts.join(', ') };
}
