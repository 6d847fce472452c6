import { normalizePciBusId, type GpuInfo } from '@gpufleet/protocol';
import type { NodeRecord } from '../store/store.js';
import { dcgmPciBusId } from '../metrics/prometheus.js';
import { sanitizeLabelName } from '../metrics/exposition.js';
import type { AlertRule } from './alert-rules.js';

/**
 * The labels of an alert. They carry what /metrics carries, so one Alertmanager route, one
 * silence or one Grafana link works on both: dcgm-exporter's GPU identity (`gpu` index, `UUID`,
 * `pci_bus_id`, `modelName`, `Hostname`), the lower-case `hostname` of newer dashboards, the
 * node id (`node`) to join on, and the node's own labels made label-safe (`gpu.model` becomes
 * `gpu_model`). Precedence: the engine's labels, then the rule's, then the node's; a node label
 * that sanitizes onto a taken name is left out.
 *
 * They are computed once, when the instance is made: Alertmanager identifies an alert by its
 * label set, so a label that changed mid-alert would read there as one alert resolved and
 * another fired.
 */
export function alertLabels(rule: AlertRule, node: NodeRecord, gpuKey: string | null, nodeLabels: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = { alertname: rule.name, severity: rule.severity, node: node.id, hostname: node.hostname, Hostname: node.hostname };
  if (gpuKey !== null) Object.assign(out, gpuIdentityLabels(node, gpuKey));
  Object.assign(out, rule.labels);
  for (const [k, v] of Object.entries(nodeLabels)) {
    const name = sanitizeLabelName(k);
    if (!(name in out) && v !== '') out[name] = v;
  }
  return out;
}

/** The GPU of a node with this key (UUID, else canonical PCI bus id). */
export function findGpuByKey(node: NodeRecord, key: string): GpuInfo | null {
  for (const g of node.gpus) if (g.uuid === key) return g;
  const pci = normalizePciBusId(key);
  if (pci !== null) for (const g of node.gpus) if (normalizePciBusId(g.pciBusId) === pci) return g;
  return null;
}

/**
 * dcgm-exporter's identity labels of one GPU. A GPU the inventory does not know (an XID for a
 * PCI address that matches no GPU) keeps what its key says and has no `gpu` index; labels
 * with nothing to say are left out, as Alertmanager treats an empty label as an absent one.
 */
export function gpuIdentityLabels(node: NodeRecord, key: string): Record<string, string> {
  const info = findGpuByKey(node, key);
  const out: Record<string, string> = {};
  if (info !== null) out.gpu = String(info.index);
  const uuid = info?.uuid ?? (normalizePciBusId(key) === null ? key : null);
  if (uuid) out.UUID = uuid;
  const pci = dcgmPciBusId(info?.pciBusId ?? key, info?.vendor ?? null);
  if (pci !== '') out.pci_bus_id = pci;
  if (info?.name) out.modelName = info.name;
  return out;
}
