import type { Store } from '../store/store.js';
import type { Clock } from '../clock.js';

export interface AuditEvent {
  actor: string;
  action: string;
  target: string | null;
  result: 'ok' | 'error';
  details?: unknown;
}

/** Append-only record of every mutating action: who, what, target, result. */
export class AuditLog {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  async record(event: AuditEvent): Promise<number> {
    return this.store.appendAudit({ at: this.clock.now(), actor: event.actor, action: event.action, target: event.target, result: event.result, details: event.details ?? null });
  }
}
