import type { Clock } from '../clock.js';
import type { EventHub } from '../events/event-hub.js';
import type { NodeRegistry } from '../services/node-registry.js';
import type { Store } from '../store/store.js';
import { HealthEngine, type PolicyAlert } from './health-engine.js';
import { loadHealthPolicy, type HealthPolicy } from './health-policy.js';

export { HealthEngine, type PolicyAlert, type HealthEngineOptions } from './health-engine.js';
export { loadHealthPolicy, parseHealthPolicy, compileHealthPolicy, DEFAULT_HEALTH_POLICY_FILE, type HealthPolicy, type CompiledRule } from './health-policy.js';
export { NodeStateMachine, NODE_TRANSITIONS, GPU_TRANSITIONS, nextNodeState, nextGpuState, nodeStateOf, type NodeState, type NodeOp, type GpuOp } from './node-state-machine.js';
export { renderHealthSeries, type HealthSeriesInput } from './health-metrics.js';
export { readTimeline, type TimelineQuery } from './timeline.js';
export { gpuKeyOf, resolveGpuRef } from './gpu-keys.js';

export interface CreateHealthOptions {
  config: { healthPolicy: string | null; offlineGraceMs: number };
  store: Store;
  registry: NodeRegistry;
  clock: Clock;
  hub: EventHub;
  log?: { warn(obj: object, msg: string): void };
  onAlert?: (alert: PolicyAlert) => void;
  /** A policy to use instead of reading config.healthPolicy (tests). */
  policy?: HealthPolicy;
}

/**
 * Loads the policy (a bad file throws a FleetError naming the rule and field: start-up stops),
 * builds the engine, reads the active findings back and attaches the engine to the registry so
 * node views carry verdicts.
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
    ...(o.onAlert ? { onAlert: o.onAlert } : {}),
  });
  await engine.load();
  o.registry.attachHealth(engine);
  return engine;
}
