import {
  FleetError,
  normalizePciBusId,
  parseDurationMs,
  type AlertListState,
  type AlertRuleView,
  type AlertSeverity,
  type AlertTransition,
  type AlertView,
  type CreateSilenceRequest,
  type ReceiverView,
  type SilenceMatcher,
  type SilenceView,
} from '@gpufleet/protocol';
import type { AlertEngine } from './alert-engine.js';
import { alertView } from './alert-instance.js';
import { formatDuration } from './template.js';

/**
 * What the REST routes (and anything else) ask of the alert engine, shaped for the API.
 * Kept apart from the engine so the routes stay thin and the engine stays about evaluation.
 */

export interface AlertListQuery {
  state?: AlertListState;
  rule?: string;
  /** Node id (resolve references before). */
  nodeId?: string;
  severity?: AlertSeverity;
  /** Default 1,000. */
  limit?: number;
}

const STATE_ORDER = { firing: 0, pending: 1, resolved: 2 } as const;
const SEVERITY_ORDER: Record<string, number> = { critical: 0, warning: 1, info: 2 };

/** Alerts matching the query: firing first, unsilenced first, then by severity, newest first. */
export function listAlerts(engine: AlertEngine, q: AlertListQuery = {}): { items: AlertView[]; total: number } {
  const now = engine.now();
  if (q.rule !== undefined) ruleNamed(engine, q.rule);
  const matched: Array<{ inst: Parameters<typeof alertView>[0]; silencedBy: readonly string[] }> = [];
  for (const inst of engine.instances()) {
    if (q.rule !== undefined && inst.rule.name !== q.rule) continue;
    if (q.nodeId !== undefined && inst.nodeId !== q.nodeId) continue;
    if (q.severity !== undefined && inst.rule.severity !== q.severity) continue;
    // A resolved alert notifies nobody any more: it is not reported as silenced.
    const silencedBy = inst.state === 'resolved' ? [] : engine.silences.matching(inst.labels, now);
    if (q.state === 'silenced' ? silencedBy.length === 0 : q.state !== undefined && inst.state !== q.state) continue;
    matched.push({ inst, silencedBy });
  }
  // What needs a person first: firing, unsilenced, most severe, newest.
  matched.sort(
    (a, b) =>
      STATE_ORDER[a.inst.state] - STATE_ORDER[b.inst.state] ||
      Number(a.silencedBy.length > 0) - Number(b.silencedBy.length > 0) ||
      SEVERITY_ORDER[a.inst.rule.severity]! - SEVERITY_ORDER[b.inst.rule.severity]! ||
      b.inst.activeAt - a.inst.activeAt ||
      a.inst.hostname.localeCompare(b.inst.hostname) ||
      (a.inst.gpuIndex ?? -1) - (b.inst.gpuIndex ?? -1) ||
      a.inst.id.localeCompare(b.inst.id),
  );
  const limit = q.limit ?? 1000;
  return { items: matched.slice(0, limit).map((m) => alertView(m.inst, m.silencedBy, engine.nodeLabels(m.inst.nodeId), now)), total: matched.length };
}

/** One alert by id; not_found once it is forgotten. */
export function getAlert(engine: AlertEngine, id: string): AlertView {
  const inst = engine.getInstance(id);
  if (!inst) throw new FleetError('not_found', `no alert '${id}' (resolved alerts are listed for 15 minutes)`);
  const now = engine.now();
  return alertView(inst, inst.state === 'resolved' ? [] : engine.silences.matching(inst.labels, now), engine.nodeLabels(inst.nodeId), now);
}

function ruleNamed(engine: AlertEngine, name: string) {
  const rule = engine.rules.find((r) => r.name === name);
  if (!rule) throw new FleetError('not_found', `no alert rule '${name}' (rules: ${engine.rules.map((r) => r.name).join(', ') || 'none'})`);
  return rule;
}

export function ruleViews(engine: AlertEngine): AlertRuleView[] {
  return engine.rules.map((r) => {
    const counts = engine.countsOf(r);
    return {
      name: r.name,
      kind: r.kind,
      severity: r.severity,
      condition: r.condition,
      for: formatDuration(r.forMs),
      selector: r.selector.source,
      labels: { ...r.labels },
      summary: r.summary.source,
      receivers: [...r.receivers],
      pending: counts.pending,
      firing: counts.firing,
    };
  });
}

export function receiverViews(engine: AlertEngine): ReceiverView[] {
  return engine.notifier.stats().map((s) => ({ name: s.name, type: s.type, target: s.target, sent: s.sent, failed: s.failed, lastError: s.lastError }));
}

export function historyViews(engine: AlertEngine, q: { rule?: string; nodeId?: string; since?: number; limit?: number }): AlertTransition[] {
  if (q.rule !== undefined) ruleNamed(engine, q.rule);
  return engine.history.list(q).map((e) => ({ ...e, severity: e.severity as AlertSeverity, at: new Date(e.at).toISOString() }));
}

/**
 * Creates a silence from an API request. `resolveNode` turns a `node` matcher's value (id,
 * prefix or hostname) into the node id alerts carry; an `alertname` matcher must name a rule,
 * so a typo does not silence nothing for two hours.
 */
export async function createSilence(
  engine: AlertEngine,
  req: CreateSilenceRequest,
  createdBy: string,
  resolveNode: (ref: string) => string,
): Promise<SilenceView> {
  const now = engine.now();
  const matchers: SilenceMatcher[] = req.matchers.map((m) => {
    if (m.name === 'alertname') ruleNamed(engine, m.value);
    if (m.name === 'node') return { ...m, value: resolveNode(m.value) };
    return m.name === 'gpu' ? gpuMatcher(m) : m;
  });
  let endsAt: number;
  if (req.duration !== undefined) {
    endsAt = now + parseDurationMs(req.duration);
  } else {
    endsAt = Date.parse(req.endsAt!);
    if (!Number.isFinite(endsAt)) throw new FleetError('invalid_argument', `endsAt '${req.endsAt}' is not an ISO 8601 time`);
  }
  const silence = await engine.silences.create({ matchers, endsAt, comment: req.comment, createdBy }, now);
  engine.silenceSync.sync(now);
  return engine.silences.view(silence, now);
}

/**
 * The `gpu` label is the GPU's index, as in dcgm-exporter. A `gpu` matcher given a UUID or a
 * PCI bus id (what earlier releases put there, and what `gpufleet alerts silence --matcher
 * gpu=GPU-...` shows) is turned into the label that carries it, so it does not silence nothing.
 */
function gpuMatcher(m: SilenceMatcher): SilenceMatcher {
  if (/^(GPU|MIG)-/i.test(m.value)) return { ...m, name: 'UUID' };
  const pci = normalizePciBusId(m.value);
  if (pci !== null && !/^\d+$/.test(m.value)) return { ...m, name: 'pci_bus_id', value: `0000${pci}`.toUpperCase() };
  return m;
}

/** Active silences, newest first; `includeExpired` adds those expired in the last 24 h. */
export function listSilences(engine: AlertEngine, opts: { includeExpired?: boolean } = {}): SilenceView[] {
  const now = engine.now();
  return engine.silences
    .list(now)
    .filter((s) => opts.includeExpired === true || engine.silences.isActive(s, now))
    .map((s) => engine.silences.view(s, now));
}

export async function expireSilence(engine: AlertEngine, id: string): Promise<SilenceView> {
  const now = engine.now();
  const silence = await engine.silences.expire(id, now);
  engine.silenceSync.sync(now);
  return engine.silences.view(silence, now);
}
