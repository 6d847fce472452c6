import { FleetError, type GpuState } from '@gpufleet/protocol';
import type { AdminState, NodeRecord, StateMarkRecord, Store } from '../store/store.js';
import type { Clock } from '../clock.js';
import type { EventHub } from '../events/event-hub.js';

/**
 * Stored node states. OFFLINE is not one of them: it is derived from liveness and shown over
 * the stored state, which stays what it was (docs/design.md §10): unreachability alone never
 * changes what an operator or the policy decided.
 */
export type NodeState = 'PENDING' | 'READY' | 'CORDONED' | 'DRAINING' | 'DRAINED' | 'UNHEALTHY' | 'DECOMMISSIONED';
export type NodeOp = 'approve' | 'cordon' | 'uncordon' | 'drain' | 'drain-complete' | 'mark-unhealthy' | 'clear' | 'decommission';
export type GpuOp = 'cordon' | 'uncordon' | 'mark-unhealthy' | 'clear';

/**
 * Every legal node transition; anything not listed is refused. Self-loops (cordon a CORDONED
 * node, mark an UNHEALTHY node unhealthy again) update who and why. uncordon also cancels a drain.
 */
export const NODE_TRANSITIONS: Readonly<Record<NodeState, Readonly<Partial<Record<NodeOp, NodeState>>>>> = {
  PENDING: { approve: 'READY', decommission: 'DECOMMISSIONED' },
  READY: { cordon: 'CORDONED', drain: 'DRAINING', 'mark-unhealthy': 'UNHEALTHY', decommission: 'DECOMMISSIONED' },
  CORDONED: { cordon: 'CORDONED', uncordon: 'READY', drain: 'DRAINING', 'mark-unhealthy': 'UNHEALTHY', decommission: 'DECOMMISSIONED' },
  DRAINING: { uncordon: 'READY', 'drain-complete': 'DRAINED', 'mark-unhealthy': 'UNHEALTHY', decommission: 'DECOMMISSIONED' },
  DRAINED: { uncordon: 'READY', 'mark-unhealthy': 'UNHEALTHY', decommission: 'DECOMMISSIONED' },
  UNHEALTHY: { 'mark-unhealthy': 'UNHEALTHY', clear: 'READY', drain: 'DRAINING', decommission: 'DECOMMISSIONED' },
  DECOMMISSIONED: { decommission: 'DECOMMISSIONED' },
};

/** Every legal GPU transition. A READY GPU has no stored state at all. */
export const GPU_TRANSITIONS: Readonly<Record<GpuState, Readonly<Partial<Record<GpuOp, GpuState>>>>> = {
  READY: { cordon: 'CORDONED', 'mark-unhealthy': 'UNHEALTHY' },
  CORDONED: { cordon: 'CORDONED', uncordon: 'READY', 'mark-unhealthy': 'UNHEALTHY' },
  UNHEALTHY: { 'mark-unhealthy': 'UNHEALTHY', clear: 'READY' },
};

const ADMIN_OF: Record<NodeState, AdminState> = {
  PENDING: 'pending',
  READY: 'active',
  CORDONED: 'cordoned',
  DRAINING: 'draining',
  DRAINED: 'drained',
  UNHEALTHY: 'unhealthy',
  DECOMMISSIONED: 'decommissioned',
};
const STATE_OF: Record<AdminState, NodeState> = Object.fromEntries(Object.entries(ADMIN_OF).map(([s, a]) => [a, s])) as Record<AdminState, NodeState>;

/** The stored state of a node. */
export function nodeStateOf(node: Pick<NodeRecord, 'adminState'>): NodeState {
  return STATE_OF[node.adminState] ?? 'READY';
}

const HINTS: Partial<Record<`${NodeState}:${NodeOp}`, string>> = {
  'READY:uncordon': 'it is not CORDONED, DRAINING or DRAINED',
  'UNHEALTHY:uncordon': 'clear its health first (gpufleet health clear NODE --reason ...)',
  'UNHEALTHY:cordon': 'it takes no new work already',
  'DRAINING:cordon': 'it takes no new work already (uncordon cancels the drain)',
  'DRAINED:cordon': 'it takes no new work already',
  'DRAINING:drain': 'it is draining already',
  'DRAINED:drain': 'it is drained already',
  'READY:clear': 'it is not UNHEALTHY',
  'CORDONED:clear': 'it is not UNHEALTHY (uncordon it instead)',
  'PENDING:cordon': 'approve it first',
  'PENDING:drain': 'approve it first',
};

/** The state after `op`, or a failed_precondition FleetError such as "cannot drain a DECOMMISSIONED node (gpu-a)". */
export function nextNodeState(from: NodeState, op: NodeOp, hostname: string): NodeState {
  const to = NODE_TRANSITIONS[from][op];
  if (to !== undefined) return to;
  const hint = HINTS[`${from}:${op}`];
  throw new FleetError('failed_precondition', `cannot ${op} a ${from} node (${hostname})${hint ? `: ${hint}` : ''}`, { details: { state: from, op } });
}

export function nextGpuState(from: GpuState, op: GpuOp, what: string): GpuState {
  const to = GPU_TRANSITIONS[from][op];
  if (to !== undefined) return to;
  const hint =
    from === 'UNHEALTHY' && op === 'uncordon'
      ? ': clear its health first (gpufleet health clear NODE/GPU --reason ...)'
      : from === 'UNHEALTHY' && op === 'cordon'
        ? ': it takes no new work already'
        : from === 'READY' && op === 'uncordon'
          ? ': it is not CORDONED'
          : '';
  throw new FleetError('failed_precondition', `cannot ${op} a ${from} GPU (${what})${hint}`, { details: { state: from, op } });
}

/** What the state machine needs from the node registry: the cached record and a way to update it. */
export interface NodeRecordHost {
  get(id: string): NodeRecord | undefined;
  /**
   * Takes a state the state machine has stored into the cached record (and tells the hub). A
   * patch, not a record: an inventory update stored meanwhile must not be undone.
   */
  adopt(id: string, patch: Pick<NodeRecord, 'adminState' | 'cordonReason'>): void;
}

export interface NodeStateMachineOptions {
  store: Store;
  clock: Clock;
  hub: EventHub;
  nodes: NodeRecordHost;
  /** How long a drain waits for running work by default (the deadline stored with DRAINING). */
  drainTimeoutMs?: number;
}

/** The result of one operation. */
export interface Transition {
  from: string;
  to: string;
  changed: boolean;
}

/**
 * Applies the transition tables: each operation checks the table, then stores the new state, who
 * and why, and a timeline record in one store transaction, then updates memory and tells the hub.
 * Operations run one at a time, so two callers never decide on the same stale state.
 */
export class NodeStateMachine {
  private readonly marks = new Map<string, Map<string, StateMarkRecord>>();
  private chain: Promise<unknown> = Promise.resolve();
  readonly drainTimeoutMs: number;

  constructor(private readonly o: NodeStateMachineOptions) {
    this.drainTimeoutMs = o.drainTimeoutMs ?? 600_000;
  }

  async load(): Promise<void> {
    this.marks.clear();
    for (const m of await this.o.store.listStateMarks()) this.keep(m);
  }

  private keep(m: StateMarkRecord): void {
    let perNode = this.marks.get(m.nodeId);
    if (!perNode) this.marks.set(m.nodeId, (perNode = new Map()));
    perNode.set(m.gpuKey ?? '', m);
  }

  private drop(nodeId: string, gpuKey: string | null): void {
    this.marks.get(nodeId)?.delete(gpuKey ?? '');
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.chain.then(work, work);
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** Who set the node's (gpuKey null) or a GPU's current state; undefined for a READY GPU. */
  mark(nodeId: string, gpuKey: string | null): StateMarkRecord | undefined {
    return this.marks.get(nodeId)?.get(gpuKey ?? '');
  }

  gpuState(nodeId: string, gpuKey: string): GpuState {
    return (this.marks.get(nodeId)?.get(gpuKey)?.state as GpuState | undefined) ?? 'READY';
  }

  /** GPUs of a node that are not READY, by key. */
  gpuMarks(nodeId: string): StateMarkRecord[] {
    return [...(this.marks.get(nodeId)?.values() ?? [])].filter((m) => m.gpuKey !== null);
  }

  /** Whether new work may go to the node, or to one GPU of it (node READY and GPU READY). */
  acceptsWork(nodeId: string, gpuKey?: string): boolean {
    const node = this.o.nodes.get(nodeId);
    if (!node || nodeStateOf(node) !== 'READY') return false;
    return gpuKey === undefined || this.gpuState(nodeId, gpuKey) === 'READY';
  }

  /** Applies a node operation; `timeoutMs` is the drain's wait (drain only). */
  node(nodeId: string, op: NodeOp, actor: string, reason: string | null, opts: { timeoutMs?: number } = {}): Promise<Transition> {
    return this.serial(() => this.applyNode(nodeId, op, actor, reason, opts.timeoutMs));
  }

  /**
   * Ends a drain when `done(deadline)` says so, deciding on the state as it is once earlier
   * operations have run (services/node-drains.ts asks the running work). Returns whether the
   * node became DRAINED.
   */
  completeDrain(nodeId: string, done: (deadline: number | null) => string | null): Promise<boolean> {
    return this.serial(async () => {
      const node = this.o.nodes.get(nodeId);
      const m = this.mark(nodeId, null);
      if (!node || nodeStateOf(node) !== 'DRAINING' || m?.state !== 'DRAINING') return false;
      const why = done(m.deadline);
      if (why === null) return false;
      await this.applyNode(nodeId, 'drain-complete', 'system:drain', why);
      return true;
    });
  }

  /** Nodes whose stored state is DRAINING. */
  drainingNodes(): string[] {
    const out: string[] = [];
    for (const [nodeId, perNode] of this.marks) if (perNode.get('')?.state === 'DRAINING') out.push(nodeId);
    return out;
  }

  private async applyNode(nodeId: string, op: NodeOp, actor: string, reason: string | null, timeoutMs?: number): Promise<Transition> {
    const node = this.o.nodes.get(nodeId);
    if (!node) throw new FleetError('not_found', `no node ${nodeId}`);
    const from = nodeStateOf(node);
    const to = nextNodeState(from, op, node.hostname);
    const now = this.o.clock.now();
    const deadline = to === 'DRAINING' ? now + (timeoutMs ?? this.drainTimeoutMs) : null;
    // A finished drain stays the drainer's: the DRAINED node is theirs to uncordon (or the policy's).
    const prev = op === 'drain-complete' ? this.mark(nodeId, null) : undefined;
    const mark: StateMarkRecord = { nodeId, gpuKey: null, state: to, actor: prev?.actor ?? actor, reason: prev ? prev.reason : reason, since: now, deadline };
    const cordonReason = to === 'READY' || to === 'PENDING' ? null : mark.reason;
    await this.o.store.applyStateChange({
      nodeId,
      gpuKey: null,
      node: { adminState: ADMIN_OF[to], cordonReason },
      mark,
      event: {
        at: now,
        nodeId,
        gpuKey: null,
        type: 'transition',
        rule: null,
        op,
        from,
        to,
        actor,
        reason: reason ?? '',
        evidence: deadline === null ? null : { drainDeadline: deadline },
      },
    });
    this.keep(mark);
    this.o.nodes.adopt(nodeId, { adminState: ADMIN_OF[to], cordonReason });
    return { from, to, changed: from !== to };
  }

  /** Applies a GPU operation (the GPU is given by its key; see gpu-keys.ts). */
  gpu(nodeId: string, gpuKey: string, op: GpuOp, actor: string, reason: string | null): Promise<Transition> {
    return this.serial(async () => {
      const node = this.o.nodes.get(nodeId);
      if (!node) throw new FleetError('not_found', `no node ${nodeId}`);
      const from = this.gpuState(nodeId, gpuKey);
      const to = nextGpuState(from, op, `${gpuKey} of ${node.hostname}`);
      const now = this.o.clock.now();
      const mark: StateMarkRecord | null = to === 'READY' ? null : { nodeId, gpuKey, state: to, actor, reason, since: now, deadline: null };
      await this.o.store.applyStateChange({
        nodeId,
        gpuKey,
        mark,
        event: { at: now, nodeId, gpuKey, type: 'transition', rule: null, op, from, to, actor, reason: reason ?? '', evidence: null },
      });
      if (mark) this.keep(mark);
      else this.drop(nodeId, gpuKey);
      this.o.hub.publish({ type: 'node', nodeId, change: 'status' });
      return { from, to, changed: from !== to };
    });
  }
}
