import type { ReceiverConfig } from './alert-rules.js';
import { alertNotice, type AlertInstance, type AlertNotice } from './alert-instance.js';
import type { AlertmanagerSilenceSync } from './alertmanager-silences.js';
import type { Notifier } from './notifier.js';
import type { SilenceBook } from './silences.js';
import type { AlertLeadership } from './notice-ledger.js';

/** Alertmanager batches stay well under its default request size limits. */
const RESEND_CHUNK = 500;

export interface DispatchDeps {
  receivers: readonly ReceiverConfig[];
  notifier: Notifier;
  silences: SilenceBook;
  /** Which silences Alertmanager receivers hold a copy of. */
  silenceMirror: Pick<AlertmanagerSilenceSync, 'mirrored'>;
  labelsOf: (nodeId: string) => Readonly<Record<string, string>>;
  externalUrl: () => string;
  /** Whether this replica sends, and what another replica already sent (notice-ledger.ts). */
  leadership: AlertLeadership;
}

/**
 * Decides who hears of an alert transition, per receiver.
 *
 * A silenced firing alert is held back from webhooks and Slack (the engine sends it if it
 * still fires when the silence ends). Alertmanager is different: it resolves an alert that is
 * not re-sent, so going quiet there would read as "resolved" to everyone it pages. It hears a
 * silenced alert once it holds a copy of every silence that covers it (AlertmanagerSilenceSync),
 * so it keeps the alert firing and silenced, as its own UI then shows it. One it was already
 * told of keeps being re-sent under a silence, copy or not: a page already went out, and a
 * false "resolved" is the worse message.
 *
 * A resolved alert goes to whoever heard it fire, silenced or not, so no receiver is left
 * showing a problem that is gone.
 */
export class AlertDispatcher {
  private readonly byName: Map<string, ReceiverConfig>;
  private readonly lastResend = new Map<string, number>();

  constructor(
    private readonly deps: DispatchDeps,
    now: number,
  ) {
    this.byName = new Map(deps.receivers.map((r) => [r.name, r]));
    for (const r of deps.receivers) if (r.type === 'alertmanager') this.lastResend.set(r.name, now);
  }

  notify(inst: AlertInstance, now: number): void {
    const { notifier, silences, leadership } = this.deps;
    // Another replica sends: this one leaves the instance unnotified, to send if it takes over.
    if (!leadership.holds()) return;
    const receivers = inst.rule.receivers;
    // Receivers a former holder of the lease already told count as told here too.
    for (const name of leadership.toldOf(inst.id)) inst.told.add(name);
    if (inst.state === 'firing') {
      const silencedBy = silences.matching(inst.labels, now);
      let notice: AlertNotice | null = null;
      let all = true;
      for (const name of receivers) {
        if (inst.told.has(name)) continue;
        if (silencedBy.length > 0 && !(this.byName.get(name)?.type === 'alertmanager' && this.deps.silenceMirror.mirrored(name, silencedBy))) {
          all = false;
          continue;
        }
        notice ??= alertNotice(inst, this.deps.labelsOf(inst.nodeId), now, this.deps.externalUrl());
        notifier.send(name, [notice], inst.id);
        inst.told.add(name);
      }
      if (notice !== null) {
        inst.sentAt = now;
        leadership.told(inst.id, [...inst.told]);
      }
      // With no receivers at all, an unsilenced alert counts as told (as before receivers existed).
      inst.notified = all && (receivers.length > 0 || silencedBy.length === 0);
    } else if (inst.state === 'resolved' && inst.told.size > 0) {
      inst.notified = false;
      const notice = alertNotice(inst, this.deps.labelsOf(inst.nodeId), now, this.deps.externalUrl());
      for (const name of inst.told) {
        const r = this.byName.get(name);
        // Alertmanager always hears of the end: that is how it resolves the alert.
        if (r && (r.sendResolved || r.type === 'alertmanager')) notifier.send(name, [notice], inst.id);
      }
      inst.told.clear();
      leadership.resolved(inst.id);
    } else if (inst.state === 'resolved') {
      inst.notified = false;
    }
  }

  /**
   * Alertmanager forgets alerts not re-sent before their endsAt: every resendInterval, send the
   * firing alerts each Alertmanager was told of again, in batches, silenced or not (see above).
   */
  resend(firing: Iterable<AlertInstance>, now: number): void {
    if (!this.deps.leadership.holds()) return;
    for (const r of this.deps.receivers) {
      if (r.type !== 'alertmanager' || now - (this.lastResend.get(r.name) ?? now) < r.resendIntervalMs) continue;
      this.lastResend.set(r.name, now);
      const batch = [];
      for (const inst of firing) {
        // One that went out by its own transition less than an interval ago waits for the next round.
        if (!inst.told.has(r.name) || now - (inst.sentAt ?? 0) < r.resendIntervalMs) continue;
        batch.push(alertNotice(inst, this.deps.labelsOf(inst.nodeId), now, this.deps.externalUrl()));
      }
      for (let i = 0; i < batch.length; i += RESEND_CHUNK) this.deps.notifier.send(r.name, batch.slice(i, i + RESEND_CHUNK), `resend:${i / RESEND_CHUNK}`);
    }
  }
}
