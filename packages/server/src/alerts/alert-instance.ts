import { createHash } from 'node:crypto';
import { normalizePciBusId, type AlertState, type AlertView } from '@gpufleet/protocol';
import type { NodeRecord } from '../store/store.js';
import type { AlertRule } from './alert-rules.js';
import { formatDuration, formatNumber } from './template.js';

/**
 * One alert: a rule for a node, or for one GPU of a node. There is at most one instance per
 * (rule, node, GPU) and its id is derived from that key, so an alert that comes back has the
 * same id and evaluating again can never make a duplicate.
 */
export interface AlertInstance {
  readonly id: string;
  readonly rule: AlertRule;
  readonly nodeId: string;
  /** GPU key (UUID, else PCI bus id) for GPU-scoped alerts; null for a node's own. */
  readonly gpu: string | null;
  hostname: string;
  gpuIndex: number | null;
  state: AlertState;
  /** When the condition started to hold (Alertmanager's startsAt). */
  activeAt: number;
  firedAt: number | null;
  resolvedAt: number | null;
  value: number | null;
  /** Kind-specific template values (health cause, XID codes, when the node was last seen). */
  context: Record<string, string> | null;
  /** Every receiver of the rule that may hear it now was told it fires (silences hold some back). */
  notified: boolean;
  /** Receivers told it fires, so they are owed the resolved message. */
  told: Set<string>;
  /** When the firing message went out (Alertmanager re-sends count from here). */
  sentAt: number | null;
  /** Evaluation stamp of the last pass that saw the condition hold (metric rules). */
  seen: number;
  /** See alertLabels: the engine's, the rule's and the node's labels, fixed at creation. */
  readonly labels: Readonly<Record<string, string>>;
}

/** Stable id of (rule, node, gpu): 16 hex characters. */
export function alertId(rule: string, nodeId: string, gpu: string | null): string {
  return createHash('sha256')
    .update(`${rule}\0${nodeId}\0${gpu ?? ''}`)
    .digest('hex')
    .slice(0, 16);
}

/** The inventory index of the GPU with this key (UUID or PCI bus id), if known. */
export function gpuIndexOf(node: NodeRecord, key: string): number | null {
  for (const g of node.gpus) if (g.uuid === key || (g.pciBusId !== null && normalizePciBusId(g.pciBusId) === key)) return g.index;
  return null;
}

/** Everything a summary or description template can read for this instance. */
export function templateVars(inst: AlertInstance, now: number): Record<string, string> {
  const r = inst.rule;
  const gpuText = inst.gpuIndex !== null ? String(inst.gpuIndex) : (inst.gpu ?? '-');
  const vars: Record<string, string> = {
    rule: r.name,
    severity: r.severity,
    node: inst.nodeId,
    hostname: inst.hostname,
    value: formatNumber(inst.value),
    for: formatDuration(r.forMs),
    target: inst.gpu === null ? 'node' : `GPU ${gpuText}`,
    gpu: gpuText,
    gpuKey: inst.gpu ?? '-',
  };
  switch (r.kind) {
    case 'metric':
      vars.metric = r.metric;
      vars.threshold = formatNumber(r.threshold);
      vars.unit = r.reader.unit;
      vars.op = r.op === 'above' ? '>' : '<';
      break;
    case 'node-offline': {
      // Shown from the last frame when known: "offline for" counts from there, not from when we noticed.
      const since = Number(inst.context?.since ?? inst.activeAt);
      vars.offlineFor = formatDuration((inst.state === 'resolved' && inst.resolvedAt !== null ? inst.resolvedAt : now) - since);
      break;
    }
    case 'xid-count':
      vars.window = formatDuration(r.windowMs);
      vars.count = formatNumber(inst.value);
      break;
    case 'health':
      break;
  }
  for (const [k, v] of Object.entries(inst.context ?? {})) if (!(k in vars)) vars[k] = v;
  return vars;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** The API's view of an instance; `nodeLabels` feed `{{labels.x}}` in templates. */
export function alertView(inst: AlertInstance, silencedBy: readonly string[], nodeLabels: Readonly<Record<string, string>>, now: number): AlertView {
  const vars = templateVars(inst, now);
  return {
    id: inst.id,
    rule: inst.rule.name,
    kind: inst.rule.kind,
    severity: inst.rule.severity,
    state: inst.state,
    silencedBy: [...silencedBy],
    silenced: silencedBy.length > 0,
    nodeId: inst.nodeId,
    hostname: inst.hostname,
    gpu: inst.gpu,
    gpuIndex: inst.gpuIndex,
    labels: { ...inst.labels },
    summary: inst.rule.summary.render(vars, nodeLabels),
    description: inst.rule.description?.render(vars, nodeLabels) ?? null,
    value: inst.value,
    activeAt: iso(inst.activeAt)!,
    firedAt: iso(inst.firedAt),
    resolvedAt: iso(inst.resolvedAt),
  };
}

/** What a receiver is sent about one alert (each receiver type shapes it its own way). */
export interface AlertNotice {
  id: string;
  status: 'firing' | 'resolved';
  rule: string;
  severity: string;
  nodeId: string;
  hostname: string;
  gpu: string | null;
  gpuIndex: number | null;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  value: number | null;
  startsAt: string;
  /** Set when resolved. */
  endsAt: string | null;
  generatorURL: string;
}

export function alertNotice(inst: AlertInstance, nodeLabels: Readonly<Record<string, string>>, now: number, externalUrl: string): AlertNotice {
  const vars = templateVars(inst, now);
  const annotations: Record<string, string> = { summary: inst.rule.summary.render(vars, nodeLabels) };
  if (inst.rule.description) annotations.description = inst.rule.description.render(vars, nodeLabels);
  if (inst.rule.runbook) annotations.runbook_url = inst.rule.runbook;
  return {
    id: inst.id,
    status: inst.state === 'resolved' ? 'resolved' : 'firing',
    rule: inst.rule.name,
    severity: inst.rule.severity,
    nodeId: inst.nodeId,
    hostname: inst.hostname,
    gpu: inst.gpu,
    gpuIndex: inst.gpuIndex,
    labels: { ...inst.labels },
    annotations,
    value: inst.value,
    startsAt: iso(inst.activeAt)!,
    endsAt: inst.state === 'resolved' ? iso(inst.resolvedAt ?? now) : null,
    generatorURL: alertPageUrl(externalUrl, inst.nodeId),
  };
}

/**
 * Where a person lands from a notification: the dashboard's page of the alert's node, which
 * lists its alerts, health and GPUs. Nodes are addressed by id, never hostname (hostnames can
 * repeat).
 */
export function alertPageUrl(externalUrl: string, nodeId: string): string {
  return `${externalUrl.replace(/\/+$/, '')}/nodes/${encodeURIComponent(nodeId)}`;
}
