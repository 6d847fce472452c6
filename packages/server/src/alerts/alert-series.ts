import { ALERT_STATES } from '@gpufleet/protocol';
import { FamilyWriter, labelBlock } from '../metrics/exposition.js';
import type { AlertEngine } from './alert-engine.js';

/**
 * The alert families of /metrics (text format 0.0.4):
 *   gpufleet_alerts{rule,severity,state}       instances per rule and state (every rule and
 *                                               state present, zeros included, so absent() works)
 *   gpufleet_alerts_silenced{rule,severity}    pending or firing instances under a silence
 *   ALERTS{alertname,alertstate,severity,...}  1 per pending/firing instance with all its
 *                                               labels, as Prometheus' own rule evaluator writes it
 *   gpufleet_alert_notifications_total{receiver,type,result}   sent / failed / retried / dropped
 *   gpufleet_alert_silences{state="active"}    active silences
 */
export function renderAlertSeries(engine: AlertEngine): string {
  const now = engine.now();
  const counts = new Map<string, { pending: number; firing: number; resolved: number; silenced: number }>();
  for (const r of engine.rules) counts.set(r.name, { pending: 0, firing: 0, resolved: 0, silenced: 0 });
  const alerts = new FamilyWriter('ALERTS', 'gauge', 'Pending and firing gpufleet alerts, one series per alert with its labels (value 1).');
  for (const inst of engine.instances()) {
    const c = counts.get(inst.rule.name)!;
    c[inst.state]++;
    if (inst.state === 'resolved') continue;
    if (engine.silences.matching(inst.labels, now).length > 0) c.silenced++;
    const pairs: Array<[string, string]> = [
      ['alertname', inst.rule.name],
      ['alertstate', inst.state],
    ];
    for (const [k, v] of Object.entries(inst.labels)) if (k !== 'alertname') pairs.push([k, v]);
    alerts.sample(labelBlock(pairs), 1);
  }
  const byRule = new FamilyWriter('gpufleet_alerts', 'gauge', 'gpufleet alert instances by rule, severity and state.');
  const silenced = new FamilyWriter('gpufleet_alerts_silenced', 'gauge', 'Pending or firing gpufleet alerts covered by an active silence.');
  for (const r of engine.rules) {
    const c = counts.get(r.name)!;
    for (const state of ALERT_STATES)
      byRule.sample(
        labelBlock([
          ['rule', r.name],
          ['severity', r.severity],
          ['state', state],
        ]),
        c[state],
      );
    silenced.sample(
      labelBlock([
        ['rule', r.name],
        ['severity', r.severity],
      ]),
      c.silenced,
    );
  }
  const notifications = new FamilyWriter('gpufleet_alert_notifications_total', 'counter', 'Alert notifications by receiver and result.');
  for (const s of engine.notifier.stats()) {
    for (const [result, n] of [
      ['sent', s.sent],
      ['failed', s.failed],
      ['retried', s.retried],
      ['dropped', s.dropped],
    ] as const) {
      notifications.sample(
        labelBlock([
          ['receiver', s.name],
          ['type', s.type],
          ['result', result],
        ]),
        n,
      );
    }
  }
  const silences = new FamilyWriter('gpufleet_alert_silences', 'gauge', 'Alert silences in effect.');
  silences.sample(labelBlock([['state', 'active']]), engine.silences.activeCount(now));
  return byRule.flush() + silenced.flush() + alerts.flush() + notifications.flush() + silences.flush();
}
