import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { FleetError, parseDurationMs, parseSelector, type AlertRuleKind, type AlertSeverity, type ReceiverType, type Selector } from '@gpufleet/protocol';
import { METRIC_READERS, type MetricReader } from './metric-readers.js';
import { RawReceiver, RawRulesFile, RULE_SCHEMAS, type RawRule } from './rule-schema.js';
import { compileTemplate, type Template } from './template.js';

/** The rules file that ships with the server and runs unless the config names another. */
export const DEFAULT_ALERT_RULES_FILE = fileURLToPath(new URL('../../policy/default-alert-rules.yaml', import.meta.url));

/** Labels the engine sets itself; a rule may not set them. */
export const RESERVED_LABELS = ['alertname', 'alertstate', 'severity', 'node', 'hostname', 'Hostname', 'gpu', 'UUID', 'pci_bus_id', 'modelName'] as const;

interface RuleBase {
  /** Position in the file: rules keep this order everywhere. */
  index: number;
  name: string;
  severity: AlertSeverity;
  forMs: number;
  labels: Readonly<Record<string, string>>;
  selector: Selector;
  summary: Template;
  description: Template | null;
  runbook: string | null;
  receivers: readonly string[];
  /** The condition in words for `alerts rules`. */
  condition: string;
  /** Whether instances are per GPU (else per node). */
  perGpu: boolean;
}

export interface MetricRule extends RuleBase {
  kind: 'metric';
  metric: string;
  reader: MetricReader;
  op: 'above' | 'below';
  threshold: number;
}
export interface OfflineRule extends RuleBase {
  kind: 'node-offline';
}
export interface HealthRule extends RuleBase {
  kind: 'health';
  verdict: 'degraded' | 'unhealthy';
  scope: 'gpu' | 'node' | 'any';
}
export interface XidCountRule extends RuleBase {
  kind: 'xid-count';
  count: number;
  windowMs: number;
  codes: ReadonlySet<number> | null;
  events: ReadonlySet<string>;
}
export type AlertRule = MetricRule | OfflineRule | HealthRule | XidCountRule;

/** A notification target, complete with defaults. */
export interface ReceiverConfig {
  name: string;
  type: ReceiverType;
  url: string;
  headers: Readonly<Record<string, string>>;
  sendResolved: boolean;
  resendIntervalMs: number;
  timeoutMs: number;
  attempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
}

export interface AlertRuleSet {
  /** Where the rules came from, for messages. */
  source: string;
  rules: readonly AlertRule[];
  receivers: readonly ReceiverConfig[];
  /** Receivers of rules that name none (health-policy alerts use them too). */
  defaultReceivers?: readonly string[];
}

const COMMON_VARS = ['rule', 'severity', 'node', 'hostname', 'value', 'for', 'target'];
const GPU_VARS = ['gpu', 'gpuKey'];
const KIND_VARS: Record<AlertRuleKind, string[]> = {
  metric: ['metric', 'threshold', 'unit', 'op'],
  'node-offline': ['offlineFor'],
  health: ['verdict', 'cause', 'healthRule'],
  'xid-count': ['count', 'window', 'codes', 'lastCode'],
};

function fail(source: string, where: string, field: string | null, why: string, details: Record<string, unknown> = {}): FleetError {
  // File-level problems read "field 'rules': ...", not "file field 'rules'".
  const head = where === 'file' && field ? '' : where;
  const at = field ? `${head ? `${head} ` : ''}field '${field}'` : head;
  return new FleetError('invalid_argument', `alert rules ${source}: ${at}: ${why}`, { details: { source, field, ...details } });
}

function zodFail(source: string, where: string, error: z.ZodError, details: Record<string, unknown>): FleetError {
  const issue = error.issues[0]!;
  const field = issue.path
    .map((p) => (typeof p === 'number' ? `[${p}]` : String(p)))
    .join('.')
    .replace(/\.\[/g, '[');
  // zod's own text for an unknown key names no key; ours does.
  const why =
    issue.code === 'unrecognized_keys' ? `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${k}'`).join(', ')}` : issue.message;
  return fail(source, where, field || null, why, details);
}

const ms = (text: string | undefined, fallback: number): number => (text === undefined ? fallback : parseDurationMs(text));

/** `${NAME}` in receiver URLs and headers reads the environment, so secrets stay out of the file. */
function expandEnv(text: string, env: Record<string, string | undefined>, onMissing: (name: string) => never): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
    const value = env[name];
    if (value === undefined || value === '') onMissing(name);
    return value!;
  });
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const PROM_LABEL = /^[A-Za-z_][A-Za-z0-9_]*$/;

function compileReceiver(raw: unknown, i: number, source: string, env: Record<string, string | undefined>): ReceiverConfig {
  const name = raw !== null && typeof raw === 'object' && typeof (raw as { name?: unknown }).name === 'string' ? (raw as { name: string }).name : null;
  const where = `receiver ${name ? `'${name}' ` : ''}(receivers[${i}])`;
  const parsed = RawReceiver.safeParse(raw);
  if (!parsed.success) throw zodFail(source, where, parsed.error, { receiver: name });
  const r = parsed.data;
  const missing =
    (field: string) =>
    (v: string): never => {
      throw fail(source, where, field, `environment variable ${v} is not set`, { receiver: r.name });
    };
  const url = expandEnv(r.url, env, missing('url'));
  let u: URL | null = null;
  try {
    u = new URL(url);
  } catch {
    /* reported below */
  }
  if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) throw fail(source, where, 'url', `'${r.url}' is not an http(s) URL`, { receiver: r.name });
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.headers ?? {})) {
    if (!HEADER_NAME.test(k)) throw fail(source, where, `headers.${k}`, 'not a valid HTTP header name', { receiver: r.name });
    const value = expandEnv(v, env, missing(`headers.${k}`));
    if (/[\r\n\0]/.test(value)) throw fail(source, where, `headers.${k}`, 'a header value may not contain line breaks', { receiver: r.name });
    headers[k] = value;
  }
  const initialBackoffMs = ms(r.retry?.initialBackoff, 1000);
  const maxBackoffMs = ms(r.retry?.maxBackoff, 30_000);
  if (maxBackoffMs < initialBackoffMs) throw fail(source, where, 'retry.maxBackoff', 'must not be shorter than retry.initialBackoff', { receiver: r.name });
  const timeoutMs = ms(r.timeout, 10_000);
  if (timeoutMs <= 0) throw fail(source, where, 'timeout', 'must be longer than 0', { receiver: r.name });
  const resendIntervalMs = ms(r.resendInterval, 60_000);
  if (resendIntervalMs < 1000) throw fail(source, where, 'resendInterval', 'must be at least 1s', { receiver: r.name });
  return {
    name: r.name,
    type: r.type,
    url: url.replace(/\/+$/, ''),
    headers,
    sendResolved: r.sendResolved ?? true,
    resendIntervalMs,
    timeoutMs,
    attempts: r.retry?.attempts ?? 5,
    initialBackoffMs,
    maxBackoffMs,
  };
}

function compileRule(raw: unknown, index: number, source: string, receivers: ReadonlySet<string>, defaults: readonly string[]): AlertRule {
  const obj = raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Record<string, unknown>) : null;
  const name = typeof obj?.name === 'string' ? obj.name : null;
  const where = `rule ${name ? `'${name}' ` : ''}(rules[${index}])`;
  const details = { rule: name, index };
  if (!obj) throw fail(source, where, null, 'must be a mapping of keys to values', details);
  const kind = obj.kind;
  if (typeof kind !== 'string' || !(kind in RULE_SCHEMAS)) {
    throw fail(
      source,
      where,
      'kind',
      `${kind === undefined ? 'missing' : `'${String(kind)}' is not a rule kind`}: one of ${Object.keys(RULE_SCHEMAS).join(', ')}`,
      details,
    );
  }
  const parsed = RULE_SCHEMAS[kind as AlertRuleKind].safeParse(obj);
  if (!parsed.success) throw zodFail(source, where, parsed.error, details);
  const r = parsed.data as RawRule;

  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.labels ?? {})) {
    // Alert labels go to Alertmanager and into ALERTS{...}: Prometheus label names only.
    if (!PROM_LABEL.test(k)) throw fail(source, where, `labels.${k}`, 'a label name must match [A-Za-z_][A-Za-z0-9_]*', details);
    if ((RESERVED_LABELS as readonly string[]).includes(k))
      throw fail(source, where, `labels.${k}`, `'${k}' is set by the alert engine (reserved: ${RESERVED_LABELS.join(', ')})`, details);
    labels[k] = v;
  }
  let selector: Selector;
  try {
    selector = parseSelector(r.selector ?? '');
  } catch (err) {
    throw fail(source, where, 'selector', (err as Error).message, details);
  }
  const names = r.receivers ?? defaults;
  for (const [i, n] of names.entries()) {
    if (!receivers.has(n))
      throw fail(
        source,
        where,
        r.receivers ? `receivers[${i}]` : 'receivers',
        `no receiver named '${n}' (defined: ${[...receivers].join(', ') || 'none'})`,
        details,
      );
  }
  if (r.runbook !== undefined && !/^https?:\/\/\S+$/.test(r.runbook)) throw fail(source, where, 'runbook', 'must be an http(s) URL', details);

  const perGpu =
    r.kind === 'metric'
      ? METRIC_READERS[r.metric]!.scope === 'gpu'
      : r.kind === 'health'
        ? (r.scope ?? 'any') !== 'node'
        : r.kind === 'xid-count'
          ? (r.per ?? 'gpu') === 'gpu'
          : false;
  const known = [...COMMON_VARS, ...(perGpu ? GPU_VARS : []), ...KIND_VARS[r.kind]];
  const template = (field: 'summary' | 'description', text: string): Template => {
    try {
      return compileTemplate(text, known);
    } catch (err) {
      throw fail(source, where, field, (err as Error).message, details);
    }
  };
  const forText = 'for' in r ? r.for : undefined;
  const forMs = forText === undefined ? 0 : parseDurationMs(forText);
  const base = {
    index,
    name: r.name,
    severity: r.severity,
    forMs,
    labels,
    selector,
    summary: template('summary', r.summary),
    description: r.description === undefined ? null : template('description', r.description),
    runbook: r.runbook ?? null,
    receivers: names,
    perGpu,
  };
  switch (r.kind) {
    case 'metric': {
      if ((r.above === undefined) === (r.below === undefined)) throw fail(source, where, 'above', 'give exactly one of above and below', details);
      const op = r.above !== undefined ? 'above' : 'below';
      const threshold = (r.above ?? r.below)!;
      return {
        ...base,
        kind: 'metric',
        metric: r.metric,
        reader: METRIC_READERS[r.metric]!,
        op,
        threshold,
        condition: `${r.metric} ${op === 'above' ? '>' : '<'} ${threshold}`,
      };
    }
    case 'node-offline':
      if (forMs <= 0) throw fail(source, where, 'for', 'must be longer than 0 (a node is briefly OFFLINE on every reconnect)', details);
      return { ...base, kind: 'node-offline', condition: 'node OFFLINE' };
    case 'health':
      return {
        ...base,
        kind: 'health',
        verdict: r.verdict,
        scope: r.scope ?? 'any',
        condition: `${r.scope && r.scope !== 'any' ? `${r.scope} ` : ''}verdict ${r.verdict}`,
      };
    case 'xid-count': {
      const windowMs = parseDurationMs(r.window);
      if (windowMs <= 0 || windowMs > 7 * 86_400_000) throw fail(source, where, 'window', 'must be longer than 0 and at most 7d', details);
      const events = r.events ?? ['xid'];
      return {
        ...base,
        kind: 'xid-count',
        count: r.count,
        windowMs,
        codes: r.codes ? new Set(r.codes) : null,
        events: new Set(events),
        condition: `>= ${r.count} ${events.join('/')}${r.codes ? ` (${r.codes.join(',')})` : ''} in ${r.window}`,
      };
    }
  }
}

/**
 * Parses and checks a rules document. Throws FleetError('invalid_argument') naming the rule
 * (or receiver) and the field at fault.
 */
export function parseAlertRules(text: string, source: string, env: Record<string, string | undefined> = process.env): AlertRuleSet {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw fail(source, 'file', null, `not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw fail(source, 'file', null, 'must be a YAML mapping with a rules list');
  const file = RawRulesFile.safeParse(doc);
  if (!file.success) throw zodFail(source, 'file', file.error, {});
  const receivers = (file.data.receivers ?? []).map((raw, i) => compileReceiver(raw, i, source, env));
  const receiverNames = new Set<string>();
  for (const r of receivers) {
    if (receiverNames.has(r.name)) throw fail(source, `receiver '${r.name}'`, 'name', 'defined twice', { receiver: r.name });
    receiverNames.add(r.name);
  }
  const defaults = file.data.defaultReceivers ?? [];
  for (const [i, n] of defaults.entries()) {
    if (!receiverNames.has(n)) throw fail(source, 'file', `defaultReceivers[${i}]`, `no receiver named '${n}'`);
  }
  const rules = file.data.rules.map((raw, i) => compileRule(raw, i, source, receiverNames, defaults));
  const seen = new Set<string>();
  for (const r of rules) {
    if (seen.has(r.name))
      throw fail(source, `rule '${r.name}' (rules[${r.index}])`, 'name', 'defined twice: rule names must be unique', { rule: r.name, index: r.index });
    seen.add(r.name);
  }
  return { source, rules, receivers, defaultReceivers: defaults };
}

/** Reads a rules file; null reads the shipped default file. */
export function loadAlertRules(path: string | null, env: Record<string, string | undefined> = process.env): AlertRuleSet {
  const file = path ?? DEFAULT_ALERT_RULES_FILE;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new FleetError('invalid_argument', `cannot read alert rules file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseAlertRules(text, file, env);
}
