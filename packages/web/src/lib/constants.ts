// Copies of the protocol's enum lists: the browser imports only types from @gpufleet/protocol
// (its index pulls in node:crypto). constants.test.ts keeps them equal to the protocol's.
export const NODE_STATUSES = ['PENDING', 'READY', 'OFFLINE', 'UNREACHABLE', 'CORDONED', 'DRAINING', 'DRAINED', 'UNHEALTHY', 'DECOMMISSIONED'] as const;
export const VERDICTS = ['healthy', 'degraded', 'unhealthy', 'unknown'] as const;
/** A GPU's own state (protocol GPU_STATES). */
export const GPU_STATES = ['READY', 'CORDONED', 'UNHEALTHY'] as const;
export const GPU_VENDORS = ['nvidia', 'amd', 'intel', 'huawei'] as const;
export const RUN_TARGET_STATES = ['queued', 'sent', 'running', 'succeeded', 'failed', 'timed_out', 'canceled', 'unreachable', 'refused'] as const;
/** Agent event kinds of command runs: the runs pages show them; timelines leave them out unless asked. */
export const RUN_EVENT_KINDS = ['run-started', 'run-output', 'run-result', 'run-refused'] as const;
export type NodeStatusName = (typeof NODE_STATUSES)[number];
