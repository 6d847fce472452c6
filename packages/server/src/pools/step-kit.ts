import type { PoolOpStage, PoolSpec } from '@gpufleet/protocol';
import type { NodeRecord } from '../store/store.js';
import type { PoolOperationPatch, PoolOperationRecord } from '../store/pool-records.js';
import type { PoolEventLog } from './pool-event-log.js';
import type { MemberFacts } from './pool-facts.js';
import type { PoolManagerOptions } from './pool-manager-options.js';
import type { BuiltProvider } from './provider-set.js';
import type { MemberAvailability } from './unavailable-budget.js';

/** One reconcile pass of one pool, as its operations see it. */
export interface PoolPass {
  name: string;
  spec: PoolSpec;
  built: BuiltProvider | undefined;
  /** Live members (not terminated) with their nodes. */
  members: MemberFacts[];
  /** The members' availability for max_unavailable; updated as drains start within the pass. */
  availability: MemberAvailability[];
  /** Replace operations allowed past `requested` in this pass (max_parallel_replacements). */
  replacesAllowed: ReadonlySet<string>;
  /** Members and instances on their way per zone; a provision adds its zone as it picks it. */
  zoneLoad: Map<string, number>;
  nodeByToken(tokenId: string): NodeRecord | undefined;
  /** $/h of a node when the provider says nothing: the pool's price_per_hour or the provider's list. */
  fallbackPrice: number | null;
}

export type RunnerSources = Pick<PoolManagerOptions, 'store' | 'registry' | 'drains' | 'runningWork' | 'joinTokens' | 'clock' | 'log' | 'audit'>;

/** What every operation step does the same way: stage moves, waits said once, node and member bookkeeping, audit. */
export class StepKit {
  /** Last `held` message per operation: a wait is reported once, not every pass. */
  private readonly heldNotes = new Map<string, string>();

  constructor(
    private readonly o: RunnerSources,
    private readonly events: PoolEventLog,
  ) {}

  /** Drops what is remembered of a finished operation. */
  forget(opId: string): void {
    this.heldNotes.delete(opId);
  }

  /** Stores the next stage (or a new field of the same stage) only if the stored stage is still `from`. */
  async move(op: PoolOperationRecord, from: PoolOpStage, to: PoolOpStage, patch: PoolOperationPatch): Promise<boolean> {
    const ok = await this.o.store.updatePoolOperation(op.id, from, { ...patch, stage: to, updatedAt: this.o.clock.now() });
    if (ok && from !== to) this.heldNotes.delete(op.id);
    return ok;
  }

  async hold(op: PoolOperationRecord, pass: PoolPass, message: string): Promise<void> {
    if (this.heldNotes.get(op.id) === message) return;
    this.heldNotes.set(op.id, message);
    await this.events.emit(pass.name, 'held', message, { operationId: op.id, nodeId: op.oldNodeId });
  }

  async cordonOld(op: PoolOperationRecord, pass: PoolPass): Promise<void> {
    const node = op.oldNodeId === null ? undefined : this.o.registry.get(op.oldNodeId);
    if (node?.adminState !== 'active') return;
    try {
      await this.o.registry.states.node(node.id, 'cordon', `pool:${pass.name}`, `being replaced by pool ${pass.name} (${op.id}): ${op.reason}`);
    } catch (err) {
      this.o.log.warn({ pool: pass.name, node: node.id, err: (err as Error).message }, 'cordoning a node to replace failed');
    }
  }

  async endMember(pass: PoolPass, which: (m: MemberFacts) => boolean): Promise<void> {
    const member = pass.members.find(which);
    if (!member) return;
    const ended = { ...member.record, state: 'terminated' as const, terminatedAt: this.o.clock.now(), idleSince: null };
    await this.o.store.putPoolMember(ended);
    member.record = ended;
  }

  async decommission(nodeId: string, pass: PoolPass, reason: string): Promise<void> {
    const node = this.o.registry.get(nodeId);
    if (!node || node.adminState === 'decommissioned') return;
    try {
      await this.o.registry.remove(nodeId, `pool:${pass.name}`, reason);
    } catch (err) {
      this.o.log.warn({ pool: pass.name, node: nodeId, err: (err as Error).message }, 'removing a terminated node failed');
    }
  }

  /** Instances started and ended by a pool go to the audit log under the pool's name. */
  async audited(pass: PoolPass, action: string, target: string, details: Record<string, unknown>): Promise<void> {
    await this.o.audit
      .record({ actor: `pool:${pass.name}`, action, target, result: 'ok', details: { pool: pass.name, ...details } })
      .catch((err: Error) => this.o.log.warn({ pool: pass.name, err: err.message }, 'audit record of a pool step failed'));
  }

  async revoke(tokenId: string): Promise<void> {
    // Already used or revoked tokens are fine: revoking only closes the door on a late instance.
    await this.o.joinTokens.revoke(tokenId).catch(() => undefined);
  }

  label(nodeId: string | null): string {
    if (nodeId === null) return 'no node';
    return this.o.registry.get(nodeId)?.hostname ?? nodeId.slice(0, 24);
  }
}
