import type { Clock } from '../clock.js';
import type { EventHub } from '../events/event-hub.js';
import type { Store } from '../store/store.js';
import { HealthEngine, type HealthFleet, type PolicyAlert } from './health-engine.js';
import { loadHealthPolicy, type HealthPolicy } from './health-policy.js';

export { HealthEngine, type PolicyAlert, type HealthEngineOptions, type HealthFleet } from './health-engine.js';
export { LastXid } from './last-xid.js';
export { loadHealthPolicy, parseHealthPolicy, compileHealthPolicy, DEFAULT_HEALTH_POLICY_FILE, type HealthPolicy, type CompiledRule } from './health-policy.js';
export {
  NodeStateMachine,
  NODE_TRANSITIONS,
  GPU_TRANSITIONS,
  nextNodeState,
  nextGpuState,
  nodeStateOf,
  type NodeState,
  type NodeOp,
  type GpuOp,
} from './node-state-machine.js';
export { renderHealthSeries, type HealthSeriesInput } from './health-metrics.js';
export { readTimeline, type TimelineQuery } from './timeline.js';
export { gpuKeyOf, resolveGpuRef } from './gpu-keys.js';

export interface CreateHealthOptions {
  config: { healthPolicy: string | null; offlineGraceMs: number };
  store: Store;
  registry: HealthFleet;
  clock: Clock;
  hub: EventHub;
  log?: { warn(obj: object, msg: string): void };
  /** Where findings of rules with the `alert` action go (the alert engine's policy alerts). */
  onAlert: (alert: PolicyAlert) => void;
  /** A policy to use instead of reading config.healthPolicy (tests). */
  policy?: HealthPolicy;
}

/**
 * Loads the policy (a bad file throws a FleetError naming the rule and field: start-up stops),
 * builds the engine and reads the active findings back. Node views read verdicts from it
 * through services/node-views.ts.
 */
export async function createHealth(o: CreateHealthOptions): Promise<HealthEngine> {
  const policy = o.policy ?? loadHealthPolicy(o.config.healthPolicy);
  const engine = new HealthEngine({
    policy,
    store: o.store,
    registry: o.registry,
    clock: o.clock,
    hub: o.hub,
    offlineGraceMs: o.config.offlineGraceMs,
    ...(o.log ? { log: o.log } : {}),
    onAlert: o.onAlert,
  });
  await engine.load();
  return engine;
}
