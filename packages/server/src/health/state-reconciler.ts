import { FleetError } from '@gpufleet/protocol';
import type { HealthFindingRecord, NodeRecord } from '../store/store.js';
import type { HealthPolicy } from './health-policy.js';
import type { FindingBook } from './finding-book.js';
import { nodeStateOf, type NodeStateMachine, type NodeOp, type GpuOp } from './node-state-machine.js';
import { isPolicyActor, policyActor } from './actor.js';
import type { RuleAction } from './policy-schema.js';

export interface ReconcilerOptions {
  policy: HealthPolicy;
  states: NodeStateMachine;
  nodes: { get(id: string): NodeRecord | undefined };
  log?: { warn(obj: object, msg: string): void };
}

/** The finding that decides an action: the oldest unhealthy one, else the oldest one. */
function decider(findings: HealthFindingRecord[]): HealthFindingRecord | null {
  let best: HealthFindingRecord | null = null;
  for (const f of findings) {
    if (!best || (f.verdict === 'unhealthy' && best.verdict !== 'unhealthy') || (f.verdict === best.verdict && f.since < best.since)) best = f;
  }
  return best;
}

/**
 * Brings node and GPU states in line with the active findings and their rules' actions:
 * cordon-gpu makes a GPU UNHEALTHY (unhealthy verdict) or CORDONED; cordon-node likewise for the
 * node; drain-node drains it. With no finding asking any more, states the policy set go back
 * to READY; states an operator set are left alone. Only ever called with the engine's lock held.
 */
export class StateReconciler {
  constructor(private readonly o: ReconcilerOptions) {}

  private wants(f: HealthFindingRecord, action: RuleAction): boolean {
    return this.o.policy.rule(f.rule)?.actions.includes(action) ?? false;
  }

  async reconcile(nodeId: string, book: FindingBook): Promise<void> {
    const node = this.o.nodes.get(nodeId);
    if (!node) return;
    const state = nodeStateOf(node);
    if (state === 'PENDING' || state === 'DECOMMISSIONED') return;
    const all = book.ofNode(nodeId);

    const keys = new Set<string>();
    for (const f of all) if (f.gpuKey !== null) keys.add(f.gpuKey);
    for (const m of this.o.states.gpuMarks(nodeId)) keys.add(m.gpuKey!);
    for (const key of keys) {
      const asking = all.filter((f) => f.gpuKey === key && this.wants(f, 'cordon-gpu'));
      const current = this.o.states.gpuState(nodeId, key);
      const mark = this.o.states.mark(nodeId, key);
      const d = decider(asking);
      if (d?.verdict === 'unhealthy') {
        if (current !== 'UNHEALTHY') await this.gpu(nodeId, key, 'mark-unhealthy', d);
      } else if (d) {
        if (current === 'READY') await this.gpu(nodeId, key, 'cordon', d);
      } else if (current !== 'READY' && mark && isPolicyActor(mark.actor)) {
        await this.gpu(nodeId, key, current === 'UNHEALTHY' ? 'clear' : 'uncordon', null);
      }
    }

    const drain = decider(all.filter((f) => this.wants(f, 'drain-node')));
    const cordon = decider(all.filter((f) => this.wants(f, 'cordon-node')));
    const mark = this.o.states.mark(nodeId, null);
    if (drain) {
      if (state === 'READY' || state === 'CORDONED') await this.node(nodeId, 'drain', drain);
    } else if (cordon?.verdict === 'unhealthy') {
      if (state !== 'UNHEALTHY') await this.node(nodeId, 'mark-unhealthy', cordon);
    } else if (cordon) {
      if (state === 'READY') await this.node(nodeId, 'cordon', cordon);
    } else if (state !== 'READY' && mark && isPolicyActor(mark.actor)) {
      await this.node(nodeId, state === 'UNHEALTHY' ? 'clear' : 'uncordon', null);
    }
  }

  /**
   * An operator's clear: an UNHEALTHY GPU (or node, with gpuKey null and every GPU of it) is
   * cleared whoever marked it; a cordon or drain the policy made is undone; an operator's cordon
   * or drain stays.
   */
  async release(nodeId: string, gpuKey: string | null, actor: string, reason: string): Promise<void> {
    const node = this.o.nodes.get(nodeId);
    if (!node) return;
    const keys = gpuKey === null ? this.o.states.gpuMarks(nodeId).map((m) => m.gpuKey!) : [gpuKey];
    for (const key of keys) {
      const current = this.o.states.gpuState(nodeId, key);
      const mark = this.o.states.mark(nodeId, key);
      if (current === 'UNHEALTHY') await this.o.states.gpu(nodeId, key, 'clear', actor, reason);
      else if (current === 'CORDONED' && mark && isPolicyActor(mark.actor)) await this.o.states.gpu(nodeId, key, 'uncordon', actor, reason);
    }
    if (gpuKey !== null) return;
    const state = nodeStateOf(node);
    const mark = this.o.states.mark(nodeId, null);
    if (state === 'UNHEALTHY') await this.o.states.node(nodeId, 'clear', actor, reason);
    else if ((state === 'CORDONED' || state === 'DRAINING' || state === 'DRAINED') && mark && isPolicyActor(mark.actor))
      await this.o.states.node(nodeId, 'uncordon', actor, reason);
  }

  private async gpu(nodeId: string, key: string, op: GpuOp, f: HealthFindingRecord | null): Promise<void> {
    await this.guard(() => this.o.states.gpu(nodeId, key, op, f ? policyActor(f.rule) : 'health:recovered', f ? f.cause : 'no finding asks for it any more'));
  }

  private async node(nodeId: string, op: NodeOp, f: HealthFindingRecord | null): Promise<void> {
    await this.guard(() => this.o.states.node(nodeId, op, f ? policyActor(f.rule) : 'health:recovered', f ? f.cause : 'no finding asks for it any more'));
  }

  /** A transition refused because the state moved on meanwhile is not an error of the policy. */
  private async guard(work: () => Promise<unknown>): Promise<void> {
    try {
      await work();
    } catch (err) {
      if (!FleetError.is(err, 'failed_precondition')) throw err;
      this.o.log?.warn({ err: (err as Error).message }, 'health policy action skipped');
    }
  }
}
