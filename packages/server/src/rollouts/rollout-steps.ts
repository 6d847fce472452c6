import type { RolloutPlan } from '@gpufleet/protocol';
import type { RolloutStepRecord } from '../store/rollout-records.js';

/** A host chosen for a rollout, before it is split into steps. */
export interface ChosenHost {
  nodeId: string;
  hostname: string;
}

/** The order hosts are split in: by hostname, then id, so the same fleet always gives the same canary. */
export function orderHosts<T extends ChosenHost>(hosts: readonly T[]): T[] {
  return [...hosts].sort((a, b) => a.hostname.localeCompare(b.hostname) || a.nodeId.localeCompare(b.nodeId));
}

/**
 * Splits ordered hosts into steps: `plan.canary` hosts first, then each wave up to its cumulative
 * share of the rest (rounded up, so 10% of 5 hosts is 1, never 0). A wave that would get no host
 * (a small fleet) is left out. Returns each host's step and the steps.
 */
export function splitSteps<T extends ChosenHost>(hosts: readonly T[], plan: RolloutPlan): { steps: RolloutStepRecord[]; stepOf: number[] } {
  const steps: RolloutStepRecord[] = [];
  const stepOf: number[] = [];
  const step = (name: string, count: number) => {
    if (count <= 0) return;
    for (let i = 0; i < count; i++) stepOf.push(steps.length);
    steps.push({ name, hosts: count, state: 'pending', startedAt: null, settlingSince: null, doneAt: null });
  };
  const canary = Math.min(plan.canary, hosts.length);
  step('canary', canary);
  const rest = hosts.length - canary;
  let done = 0;
  plan.waves.forEach((percent, i) => {
    const upTo = Math.min(rest, Math.ceil((rest * percent) / 100));
    step(`wave ${i + 1} (${percent}%)`, upTo - done);
    done = Math.max(done, upTo);
  });
  return { steps, stepOf };
}
