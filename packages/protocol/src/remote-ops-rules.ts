/**
 * The plain rules of remote operations: the ability names, the container operations and the
 * ability each needs, and the longest capability chain. No schema library here, so the
 * dashboard can import this file by relative path (remote-ops.ts builds the zod schemas on it
 * and re-exports everything).
 */

export const ABILITIES = [
  'exec/run',
  'exec/script',
  'container/logs',
  'container/restart',
  'container/stop',
  'container/start',
  'node/cordon',
  'node/labels',
  /** Run allocations of a signed workload job (issue 10). */
  'workload/run',
  /** Apply a signed release (agent build or host bundle) rolled out to this host (issue 14). */
  'release/rollout',
  '*',
] as const;
export type AbilityName = (typeof ABILITIES)[number];

/** The longest delegation chain a host accepts (a capability and its parents together). */
export const MAX_CHAIN_DEPTH = 8;

/**
 * Whether an untrusted value's prf[0] chain is deeper than MAX_CHAIN_DEPTH. Walks at most one
 * link past the limit, so a deeply nested garbage value is refused before any recursive parser
 * (the schema below included) can exhaust the stack on it.
 */
export function capabilityDepthExceeds(value: unknown): boolean {
  let depth = 0;
  for (let link = value; link !== null && typeof link === 'object' && depth <= MAX_CHAIN_DEPTH; depth++) {
    const prf = (link as { prf?: unknown }).prf;
    link = Array.isArray(prf) ? (prf[0] as unknown) : undefined;
  }
  return depth > MAX_CHAIN_DEPTH;
}

/** Container operations a command can ask for: 'ls' lists the host's containers, the rest act on one. */
export const CONTAINER_OPS = ['ls', 'logs', 'restart', 'stop', 'start'] as const;
export type ContainerOp = (typeof CONTAINER_OPS)[number];

/**
 * The ability each container operation needs (payload.ability must be exactly this; the host
 * checks it): listing and reading logs are `container/logs`; restart, stop and start each have
 * their own, so a key allowed to restart cannot also stop things for good.
 */
export function abilityForContainerOp(op: ContainerOp): Exclude<AbilityName, '*'> {
  switch (op) {
    case 'ls':
    case 'logs':
      return 'container/logs';
    case 'restart':
      return 'container/restart';
    case 'stop':
      return 'container/stop';
    case 'start':
      return 'container/start';
  }
}
