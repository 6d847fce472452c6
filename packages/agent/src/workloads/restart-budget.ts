import type { RestartPolicy } from '@gpufleet/protocol';

/**
 * The restart policy as a budget: at most `attempts` restarts within any `within` window (a
 * window of 0 means ever, for the allocation's life). `times` are the restarts counted so far
 * (epoch ms, oldest first); the caller keeps them (they are stored, so an agent restart does
 * not refill the budget).
 */
export function restartAllowed(policy: RestartPolicy, times: readonly number[], now: number): boolean {
  return recentRestarts(policy, times, now).length < policy.attempts;
}

/** The restarts that still count against the policy at `now`. */
export function recentRestarts(policy: RestartPolicy, times: readonly number[], now: number): number[] {
  if (policy.within === 0) return [...times];
  return times.filter((t) => t > now - policy.within);
}

/** `times` with a restart at `now` added and the ones that no longer count dropped. */
export function withRestart(policy: RestartPolicy, times: readonly number[], now: number): number[] {
  return [...recentRestarts(policy, times, now), now].slice(-Math.max(1, policy.attempts));
}

/** "3 restarts within 10m" for messages. */
export function describePolicy(policy: RestartPolicy): string {
  const n = `${policy.attempts} restart${policy.attempts === 1 ? '' : 's'}`;
  return policy.within === 0 ? `${n} in all` : `${n} within ${formatMs(policy.within)}`;
}

export function formatMs(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
