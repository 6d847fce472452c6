import type { Store } from '../store/store.js';
import type { Clock } from '../clock.js';

export interface AuditEvent {
  actor: string;
  action: string;
  target: string | null;
  result: 'ok' | 'error';
  details?: unknown;
}

/**
 * Append-only record of every mutating action: who, what, target, result. Each record carries
 * the hash of the one before it (the store links them: see audit/audit-hash.ts), and appends from
 * this process go one at a time, so concurrent requests never race for the same predecessor.
 */
export class AuditLog {
  // The tail of the append queue; a failed append must not block the ones after it.
  private tail: Promise<unknown> = Promise.resolve();

  private appended: () => void = () => {};

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  /** Called after every successful append (the checkpointer signs the new head soon after). */
  onAppended(listener: () => void): void {
    this.appended = listener;
  }

  record(event: AuditEvent): Promise<number> {
    const run = () => this.store.appendAudit({ at: this.clock.now(), actor: event.actor, action: event.action, target: event.target, result: event.result, details: event.details ?? null });
    const appended = this.tail.then(run, run);
    this.tail = appended.catch(() => undefined);
    return appended.then((id) => {
      this.appended();
      return id;
    });
  }
}
