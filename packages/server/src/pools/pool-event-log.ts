import type { PoolEventKind } from '@gpufleet/protocol';
import type { Clock } from '../clock.js';
import type { PoolStore } from '../store/pool-records.js';

/** What an event is about, besides its pool. */
export interface EventSubject {
  operationId?: string | null;
  nodeId?: string | null;
  instanceId?: string | null;
}

/** Every decision and step of a pool, stored as an event with its reason (`pools events`, dashboard) and logged. */
export class PoolEventLog {
  constructor(private readonly o: { store: PoolStore; clock: Clock; log: { info(obj: object, msg: string): void } }) {}

  async emit(pool: string, kind: PoolEventKind, message: string, subject: EventSubject = {}): Promise<void> {
    await this.o.store.appendPoolEvents([
      {
        pool,
        at: this.o.clock.now(),
        kind,
        message,
        operationId: subject.operationId ?? null,
        nodeId: subject.nodeId ?? null,
        instanceId: subject.instanceId ?? null,
      },
    ]);
    this.o.log.info({ pool, kind, ...subject }, message);
  }
}
