import type { ReceiverConfig } from './alert-rules.js';
import { alertNotice, type AlertInstance } from './alert-instance.js';
import type { Notifier } from './notifier.js';
import type { SilenceBook } from './silences.js';

/** Alertmanager batches stay well under its default request size limits. */
const RESEND_CHUNK = 500;

export interface DispatchDeps {
  receivers: readonly ReceiverConfig[];
  notifier: Notifier;
  silences: SilenceBook;
  labelsOf: (nodeId: string) => Readonly<Record<string, string>>;
  externalUrl: () => string;
  now: number;
}

/**
 * Decides who hears of an alert transition. A silenced firing alert is not sent (the engine
 * sends it if it still fires when the silence ends); a resolved alert goes to whoever heard it
 * fire, silenced or not, so no receiver is left showing a problem that is gone.
 */
export class AlertDispatcher {
  private readonly byName: Map<string, ReceiverConfig>;
  private readonly lastResend = new Map<string, number>();

  constructor(private readonly deps: Omit<DispatchDeps, 'now'>, now: number) {
    this.byName = new Map(deps.receivers.map((r) => [r.name, r]));
    for (const r of deps.receivers) if (r.type === 'alertmanager') this.lastResend.set(r.name, now);
  }

  notify(inst: AlertInstance, now: number): void {
    const { notifier, silences } = this.deps;
    const receivers = inst.rule.receivers;
    if (inst.state === 'firing') {
      if (silences.matching(inst.labels, now).length > 0) return;
      inst.notified = true;
      inst.sentAt = now;
      if (receivers.length === 0) return;
      const notice = alertNotice(inst, this.deps.labelsOf(inst.nodeId), now, this.deps.externalUrl());
      for (const name of receivers) notifier.send(name, [notice], inst.id);
    } else if (inst.state === 'resolved' && inst.notified) {
      inst.notified = false;
      if (receivers.length === 0) return;
      const notice = alertNotice(inst, this.deps.labelsOf(inst.nodeId), now, this.deps.externalUrl());
      for (const name of receivers) {
        const r = this.byName.get(name);
        // Alertmanager always hears of the end: that is how it resolves the alert.
        if (r && (r.sendResolved || r.type === 'alertmanager')) notifier.send(name, [notice], inst.id);
      }
    }
  }

  /**
   * Alertmanager forgets alerts not re-sent before their endsAt: every resendInterval, send the
   * firing, notified, unsilenced alerts routed to each Alertmanager again, in batches.
   */
  resend(firing: Iterable<AlertInstance>, now: number): void {
    for (const r of this.deps.receivers) {
      if (r.type !== 'alertmanager' || now - (this.lastResend.get(r.name) ?? now) < r.resendIntervalMs) continue;
      this.lastResend.set(r.name, now);
      const batch = [];
      for (const inst of firing) {
        // One that went out by its own transition less than an interval ago waits for the next round.
        if (!inst.notified || now - (inst.sentAt ?? 0) < r.resendIntervalMs || !inst.rule.receivers.includes(r.name)) continue;
        if (this.deps.silences.matching(inst.labels, now).length === 0) {
          batch.push(alertNotice(inst, this.deps.labelsOf(inst.nodeId), now, this.deps.externalUrl()));
        }
      }
      for (let i = 0; i < batch.length; i += RESEND_CHUNK) this.deps.notifier.send(r.name, batch.slice(i, i + RESEND_CHUNK), `resend:${i / RESEND_CHUNK}`);
    }
  }
}
