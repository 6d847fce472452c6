import type { MetricsBody, NodeStatus } from '@gpufleet/protocol';
import type { Clock } from '../clock.js';
import type { EventHub } from '../events/event-hub.js';
import type { NodeRecord, Store } from '../store/store.js';
import type { AlertRuleSet, HealthRule } from './alert-rules.js';
import type { NotifierOptions } from './notifier.js';
import type { AlertLogger } from './logger.js';

/** What the engine reads of the fleet; NodeRegistry fits. */
export interface AlertFleet {
  all(): readonly NodeRecord[];
  get(id: string): NodeRecord | undefined;
  status(node: NodeRecord): NodeStatus;
  labelsOf(id: string): Readonly<Record<string, string>>;
  isOnline(id: string): boolean;
}

import type { AlertLeadership } from './notice-ledger.js';

export interface AlertEngineOptions {
  rules: AlertRuleSet;
  /** The health policy's `alert` rules of their own (policy-alert-rules.ts), fired by onPolicyAlert. */
  policyRules?: readonly HealthRule[];
  /** Policy rules without the `alert` action: verdicts they decide page nobody (policy-alert-rules.ts). */
  quietPolicyRules?: readonly string[];
  fleet: AlertFleet;
  /** Whether this replica sends notifications (the `alerts` lease), and what others sent; SOLE_ALERT_SENDER alone. */
  leadership: AlertLeadership;
  /** The node's latest sample (MetricStore.latest). */
  latestMetrics: (nodeId: string) => MetricsBody | null;
  clock: Clock;
  /** start() subscribes to it for health verdicts, kernel events and node removals. */
  hub?: EventHub;
  /** Where silences are kept (the store's settings). */
  settings?: Pick<Store, 'getSetting' | 'setSetting'>;
  log?: AlertLogger;
  /** The server's public URL, for generatorURL links (known only once it listens). */
  externalUrl?: () => string;
  /** How often start() evaluates; 0: never by itself (tests call tick). Default 5 s. */
  evaluationIntervalMs?: number;
  /** Resolved alerts stay listed this long. Default 15 min. */
  resolvedRetentionMs?: number;
  /** A latest sample older than this (by its agent timestamp) counts as no data. Default 5 min. */
  metricsStaleAfterMs?: number;
  /** Transitions kept in memory. Default 10,000. */
  historyLimit?: number;
  /** Instances at most (a guard against a rule that matches everything). Default 100,000. */
  maxInstances?: number;
  /** Test hooks of the notifier (fetch, sleep, random). */
  notifier?: Pick<NotifierOptions, 'fetch' | 'sleep' | 'random' | 'maxQueue' | 'maxInFlight'>;
}
