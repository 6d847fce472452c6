import type { AlertNotice } from './alert-instance.js';

/**
 * What each receiver type is sent. One function per type; the notifier only POSTs strings.
 */

/** Generic webhook: one alert per request, the notice as it is. */
export function webhookBody(notice: AlertNotice): string {
  return JSON.stringify({ version: '1', source: 'gpufleet', status: notice.status, alert: notice });
}

const SEVERITY_ICON: Record<string, string> = { critical: ':red_circle:', warning: ':warning:', info: ':information_source:' };

/** Slack's three reserved characters in message text. */
function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Slack incoming webhook (and the many chat tools that copy it): `{"text": ...}`, one compact line. */
export function slackBody(notice: AlertNotice): string {
  const head =
    notice.status === 'resolved'
      ? `:white_check_mark: *[RESOLVED]* ${notice.rule}`
      : `${SEVERITY_ICON[notice.severity] ?? ':bell:'} *[FIRING:${notice.severity}]* ${notice.rule}`;
  const text = `${head}: ${slackEscape(notice.annotations.summary ?? '')} (<${notice.generatorURL}|details>)`;
  return JSON.stringify({ text });
}

/** The Alertmanager endpoint for a base URL (a URL already ending in it is kept). */
export function alertmanagerUrl(base: string): string {
  const trimmed = base.replace(/\/+$/, '');
  return trimmed.endsWith('/api/v2/alerts') ? trimmed : `${trimmed}/api/v2/alerts`;
}

/**
 * Alertmanager API v2 `POST /api/v2/alerts` body: an array of postable alerts. A firing
 * alert gets endsAt = now + 4 resend intervals, as Prometheus does, so Alertmanager
 * resolves it by itself if gpufleet stops re-sending (server gone); a resolved one carries
 * its real end.
 */
export function alertmanagerBody(notices: readonly AlertNotice[], now: number, resendIntervalMs: number): string {
  const firingEnd = new Date(now + 4 * resendIntervalMs).toISOString();
  return JSON.stringify(
    notices.map((n) => ({
      labels: n.labels,
      annotations: n.annotations,
      startsAt: n.startsAt,
      endsAt: n.status === 'resolved' ? n.endsAt : firingEnd,
      generatorURL: n.generatorURL,
    })),
  );
}
