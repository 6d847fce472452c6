import type { Store } from '../store/store.js';
import type { Clock } from '../clock.js';

export interface AuditEvent {
  actor: string;
  action: string;
  target: string | null;
  result: 'ok' | 'error';
  details?: unknown;
}

/** What a service says about one action it took or refused: the domain part of its audit record. */
export interface ActionOutcome {
  /** The domain action, e.g. `script.add`. */
  action: string;
  target: string | null;
  result: 'ok' | 'error';
  details?: Record<string, unknown>;
}

/**
 * Where a service reports an action for the audit log, chosen by its caller and passed with each
 * call (a required parameter, so no caller can forget it). A REST route passes one that fills its
 * request's single audit record (routes/request-audit.ts: the app's hook writes it); a caller
 * outside any request passes `auditLog.as(actor)`, which appends a record of its own.
 */
export interface ActionAudit {
  /** Who acts, as the audit log spells it (`token:NAME(ID)`, `node:DID`, `system`). */
  readonly actor: string;
  /** Describes the action. A service notes once per call; in a REST request the last note wins. */
  note(entry: ActionOutcome): Promise<void>;
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

  /** For actions no authenticated REST request carries: each note appends a record by `actor`. */
  as(actor: string): ActionAudit {
    return {
      actor,
      note: async (entry) => {
        await this.record({ actor, ...entry });
      },
    };
  }

  record(event: AuditEvent): Promise<number> {
    const run = () =>
      this.store.appendAudit({
        at: this.clock.now(),
        actor: event.actor,
        action: event.action,
        target: event.target,
        result: event.result,
        details: event.details ?? null,
      });
    const appended = this.tail.then(run, run);
    this.tail = appended.catch(() => undefined);
    return appended.then((id) => {
      this.appended();
      return id;
    });
  }
}
