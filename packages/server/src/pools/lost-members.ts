import type { PoolMemberRecord, PoolOperationRecord } from '../store/pool-records.js';
import type { PoolEventLog } from './pool-event-log.js';
import type { PoolManagerOptions } from './pool-manager-options.js';
import type { BuiltProvider } from './provider-set.js';

/** How often a pool's provider is asked which instances it ended (outside gpufleet). */
const LIST_EVERY_MS = 60_000;

export class LostMembers {
  private readonly listedAt = new Map<string, number>();

  constructor(
    private readonly o: Pick<PoolManagerOptions, 'store' | 'registry' | 'log'>,
    private readonly events: PoolEventLog,
  ) {}

  /**
   * Members lost outside the pool's own operations end here, so the pool provisions in their
   * place: a node an operator removed from the fleet (its instance is terminated: it can never
   * come back), or an instance the provider reports terminated (a reclaimed spot instance),
   * checked every minute.
   */
  async sweep(name: string, records: PoolMemberRecord[], ops: PoolOperationRecord[], built: BuiltProvider | undefined, now: number): Promise<void> {
    const busy = new Set<string>();
    for (const op of ops) {
      if (op.instanceId !== null) busy.add(op.instanceId);
      if (op.oldNodeId !== null) for (const r of records) if (r.nodeId === op.oldNodeId) busy.add(r.instanceId);
    }
    let gone: Set<string> | null = null;
    if (built && now - (this.listedAt.get(name) ?? -Infinity) >= LIST_EVERY_MS) {
      this.listedAt.set(name, now);
      try {
        gone = new Set((await built.provider.list()).filter((i) => i.state === 'terminated').map((i) => i.id));
      } catch (err) {
        this.o.log.warn({ pool: name, err: (err as Error).message }, 'listing the pool provider instances failed');
      }
    }
    for (let i = 0; i < records.length; i++) {
      const m = records[i]!;
      if (m.state === 'terminated' || busy.has(m.instanceId)) continue;
      const node = m.nodeId === null ? undefined : this.o.registry.get(m.nodeId);
      const removed = node?.adminState === 'decommissioned';
      const vanished = gone?.has(m.instanceId) === true;
      if (!removed && !vanished) continue;
      if (removed && built) {
        try {
          await built.provider.terminate(m.instanceId);
        } catch (err) {
          this.o.log.warn({ pool: name, instance: m.instanceId, err: (err as Error).message }, 'terminating the instance of a removed node failed');
          continue;
        }
      }
      const ended: PoolMemberRecord = { ...m, state: 'terminated', terminatedAt: now, idleSince: null };
      await this.o.store.putPoolMember(ended);
      records[i] = ended;
      if (vanished && node && node.adminState !== 'decommissioned') {
        await this.o.registry.remove(node.id, `pool:${name}`, `instance ${m.instanceId} terminated at the provider`).catch(() => undefined);
      }
      const who = node?.hostname ?? m.instanceId;
      const why = removed
        ? `${who} was removed from the fleet; its instance ${m.instanceId} is terminated`
        : `instance ${m.instanceId} (${who}) was terminated outside gpufleet`;
      await this.events.emit(name, 'terminated', why, { nodeId: m.nodeId, instanceId: m.instanceId });
    }
  }
}
