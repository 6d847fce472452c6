import type { Clock } from '../clock.js';
import type { EventHub } from '../events/event-hub.js';
import type { NodeStateMachine, Transition } from '../health/node-state-machine.js';

/** What runs on a node right now: the runs service's targets in flight, the workload allocations not yet ended. */
export interface RunningWork {
  runningOn(nodeId: string): number;
}

export interface NodeDrainsOptions {
  states: Pick<NodeStateMachine, 'node' | 'mark' | 'completeDrain' | 'drainingNodes'>;
  /** Required, every kind of work: a drain waits for all of them (commands in flight, allocations moving away). */
  runningWork: readonly RunningWork[];
  clock: Clock;
  hub: EventHub;
  log: { warn(obj: object, msg: string): void };
  /** How often drain deadlines are checked (default 1 s). */
  tickMs?: number;
}

/**
 * Drains: a drained node takes no new work and becomes DRAINED once the work running on it has
 * ended or its drain deadline has passed. Its workload allocations are moved away by the workload
 * service (which sees the node DRAINING), so "drained" means moved, then DRAINED. A drain with
 * nothing running ends at once; otherwise the end is noticed when a run target or an allocation
 * on the node changes (hub), when the policy drains a node (hub), or by the deadline check every
 * second.
 */
export class NodeDrains {
  private timer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;
  private pending: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: NodeDrainsOptions) {}

  /** Drains a node (the operator's request): DRAINED at once when nothing runs on it. */
  async drain(nodeId: string, actor: string, reason: string | null, opts: { timeoutMs?: number } = {}): Promise<Transition> {
    const t = await this.o.states.node(nodeId, 'drain', actor, reason, opts);
    return (await this.check(nodeId, 'no running work on the node')) ? { ...t, to: 'DRAINED' } : t;
  }

  /** Ends the node's drain if its work is done or its deadline passed; whether it ended. */
  check(nodeId: string, idleReason = 'running work ended'): Promise<boolean> {
    return this.o.states.completeDrain(nodeId, (deadline) => {
      let running = 0;
      for (const work of this.o.runningWork) running += work.runningOn(nodeId);
      if (running === 0) return idleReason;
      if (deadline !== null && this.o.clock.now() >= deadline) return `drain timeout reached with ${running} still running`;
      return null;
    });
  }

  /** Checks every draining node; returns those that became DRAINED. */
  async tick(): Promise<string[]> {
    const done: string[] = [];
    for (const nodeId of this.o.states.drainingNodes()) if (await this.check(nodeId)) done.push(nodeId);
    return done;
  }

  start(): void {
    if (this.timer) return;
    this.unsubscribe = this.o.hub.subscribe((e) => {
      // A target or an allocation on the node changed state (it may have ended there), or the node's state changed (a policy drain).
      const onNode =
        (e.type === 'run' && e.change === 'target') || (e.type === 'workload' && e.change === 'allocation') || (e.type === 'node' && e.change === 'status');
      if (!onNode) return;
      // Cheap for the many events of nodes that are not draining (a fleet coming online).
      if (this.o.states.mark(e.nodeId, null)?.state === 'DRAINING') this.later(() => this.check(e.nodeId));
    });
    this.timer = setInterval(() => this.later(() => this.tick()), this.o.tickMs ?? 1000);
    this.timer.unref?.();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.unsubscribe?.();
    this.unsubscribe = null;
    await this.pending;
  }

  private later(work: () => Promise<unknown>): void {
    this.pending = this.pending.then(work).catch((err: Error) => this.o.log.warn({ err: err.message }, 'drain check failed'));
  }
}
