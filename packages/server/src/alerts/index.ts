/** Alerts: rules (YAML), the evaluation engine, silences, notifications and /metrics series. */
export { AlertEngine, type AlertEngineOptions, type AlertFleet, type EngineLifecycle } from './alert-engine.js';
export {
  loadAlertRules,
  parseAlertRules,
  DEFAULT_ALERT_RULES_FILE,
  RESERVED_LABELS,
  type AlertRule,
  type AlertRuleSet,
  type ReceiverConfig,
} from './alert-rules.js';
export { getAlert, listAlerts, ruleViews, receiverViews, historyViews, createSilence, listSilences, expireSilence, type AlertListQuery } from './alert-api.js';
export { renderAlertSeries } from './alert-series.js';
export { Notifier, type NotifierOptions, type ReceiverStats } from './notifier.js';
export { SilenceBook, SILENCES_SETTING, type Silence } from './silences.js';
export { AlertHistory, type HistoryEntry } from './alert-history.js';
export type { AlertInstance, AlertNotice } from './alert-instance.js';
export type { AlertLogger } from './logger.js';
