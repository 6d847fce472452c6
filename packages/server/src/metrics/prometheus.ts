/**
 * /metrics in the Prometheus text exposition format 0.0.4: GPU series under dcgm-exporter's
 * names and labels, fleet series (gpufleet_*), the server's own counters and process_* series.
 */
import { NODE_STATUSES, normalizePciBusId, type GpuInfo, type GpuSample, type MetricsBody } from '@gpufleet/protocol';
import { DCGM_FIELDS, type GpuRow } from './dcgm-fields.js';
import { escapeLabelValue, FamilyWriter, labelBlock, sanitizeLabelName, type MetricType } from './exposition.js';
import type { MetricStoreStats } from './metric-store.js';

/** One node as /metrics sees it. */
export interface PrometheusNode {
  id: string;
  hostname: string;
  status: string;
  labels: Readonly<Record<string, string>>;
  /** The inventory: names and vendors of the GPUs. */
  gpus: readonly GpuInfo[];
  latest: MetricsBody | null;
  connected: boolean;
}

/** A histogram as counted: upper bounds, per-bucket counts (not cumulative; one extra for +Inf). */
export interface HistogramSnapshot {
  buckets: readonly number[];
  counts: readonly number[];
  sum: number;
  count: number;
}

/** The server's counters (GatewayStats fits this shape). */
export interface PrometheusServerStats {
  sessions: number;
  framesByType: ReadonlyMap<string, number>;
  refusedByReason: ReadonlyMap<string, number>;
  /** Ingest lag of metrics frames in seconds: bucket bounds, per-bucket counts (last = above all). */
  lagBuckets: readonly number[];
  lagCounts: readonly number[];
  lagSum: number;
  lagCount: number;
  /** Store write latency in seconds, where the caller measures it. */
  storeWrite?: HistogramSnapshot;
}

/** The process's own figures; read from `process` when not given. */
export interface ProcessFigures {
  residentMemoryBytes: number;
  heapUsedBytes: number;
  cpuUserSeconds: number;
  cpuSystemSeconds: number;
  startTimeSeconds: number;
}

export interface PrometheusInput {
  nodes: readonly PrometheusNode[];
  server: PrometheusServerStats;
  /** Epoch ms of the scrape. */
  now: number;
  /** Last XID per GPU, keyed by gpuMetricKey (0 / absent: none). */
  lastXid?: ReadonlyMap<string, number>;
  metricStore?: MetricStoreStats;
  process?: ProcessFigures;
}

/** The key lastXid uses: the GPU UUID, else `<nodeId>/<canonical PCI bus id>` (PCI ids repeat across nodes). */
export function gpuMetricKey(nodeId: string, gpu: { uuid: string | null; pciBusId: string | null }): string | null {
  if (gpu.uuid) return gpu.uuid;
  const pci = normalizePciBusId(gpu.pciBusId);
  return pci === null ? null : `${nodeId}/${pci}`;
}

/** PCI bus id as dcgm-exporter prints it for NVIDIA GPUs (nvidia-smi's `00000000:1A:00.0`); canonical otherwise. */
export function dcgmPciBusId(raw: string | null, vendor: string | null): string {
  const pci = normalizePciBusId(raw);
  if (pci === null) return '';
  return vendor === 'nvidia' ? `0000${pci}`.toUpperCase() : pci;
}

function findInfo(gpus: readonly GpuInfo[], s: GpuSample): GpuInfo | null {
  // Matched by identity, never by index: indices move between boots.
  if (s.uuid) for (const g of gpus) if (g.uuid === s.uuid) return g;
  const pci = normalizePciBusId(s.pciBusId);
  if (pci) for (const g of gpus) if (normalizePciBusId(g.pciBusId) === pci) return g;
  return null;
}

/**
 * The GPU rows of connected nodes: a node that is not connected exports no GPU series (its
 * last readings are not current, and dcgm-exporter on a dead host would be silent too).
 * Non-NVIDIA GPUs use the same DCGM names with device="amd0" etc. and their model name, so one
 * dashboard shows the whole fleet. Labels are dcgm-exporter 4.x's identity labels in its order
 * (Hostname with a capital H), then the lower-case `hostname` that newer releases and their
 * dashboards use, and `node` (the node id) to join with gpufleet_node_* series; its MIG and
 * Kubernetes labels do not apply, and DCGM_FI_DRIVER_VERSION is left out because it would
 * start new series on every driver upgrade and add ~15% to a large fleet's output.
 */
function gpuRows(input: PrometheusInput): GpuRow[] {
  const rows: GpuRow[] = [];
  for (const node of input.nodes) {
    if (!node.connected || !node.latest || !Array.isArray(node.latest.gpus)) continue;
    const host = escapeLabelValue(String(node.hostname ?? ''));
    const nodeId = escapeLabelValue(String(node.id));
    for (const s of node.latest.gpus) {
      if (s === null || typeof s !== 'object') continue;
      const info = findInfo(Array.isArray(node.gpus) ? node.gpus : [], s);
      const vendor = info?.vendor ?? null;
      const index = Number.isInteger(s.index) ? s.index : (info?.index ?? 0);
      const key = gpuMetricKey(node.id, s);
      const labels =
        `{gpu="${index}",UUID="${escapeLabelValue(s.uuid ?? '')}",pci_bus_id="${escapeLabelValue(dcgmPciBusId(s.pciBusId, vendor))}",` +
        `device="${vendor ?? 'gpu'}${index}",modelName="${escapeLabelValue(info?.name ?? '')}",Hostname="${host}",hostname="${host}",node="${nodeId}"}`;
      rows.push({ labels, sample: s, vendor, lastXid: (key !== null ? input.lastXid?.get(key) : undefined) ?? 0 });
    }
  }
  return rows;
}

function readProcess(): ProcessFigures {
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  return {
    residentMemoryBytes: mem.rss,
    heapUsedBytes: mem.heapUsed,
    cpuUserSeconds: cpu.user / 1e6,
    cpuSystemSeconds: cpu.system / 1e6,
    startTimeSeconds: Math.round(performance.timeOrigin / 1000),
  };
}

function histogram(name: string, help: string, h: HistogramSnapshot): string {
  const f = new FamilyWriter(name, 'histogram', help);
  let cumulative = 0;
  h.buckets.forEach((le, i) => {
    cumulative += h.counts[i] ?? 0;
    f.sample(`{le="${le}"}`, cumulative, '_bucket');
  });
  f.sample('{le="+Inf"}', h.count, '_bucket');
  f.sample('', h.sum, '_sum');
  f.sample('', h.count, '_count');
  return f.flush();
}

function simple(name: string, type: MetricType, help: string, fill: (f: FamilyWriter) => void): string {
  const f = new FamilyWriter(name, type, help);
  fill(f);
  return f.flush();
}

/** GPU lines per chunk: a chunk is built in a few ms, so a streaming caller yields to the event loop often. */
const CHUNK_LINES = 8192;

/**
 * The exposition text in chunks, built lazily: a fleet of 10,000 nodes x 8 GPUs makes about
 * 240 MB of text, so a caller that streams (`Readable.from(renderPrometheusChunks(...))`)
 * keeps the event loop (and agents' ingest) moving between chunks.
 */
export function* renderPrometheusChunks(input: PrometheusInput): Generator<string, void, undefined> {
  const rows = gpuRows(input);
  for (const field of DCGM_FIELDS) {
    const f = new FamilyWriter(field.name, field.type, field.help);
    for (let i = 0; i < rows.length; i++) {
      f.sample(rows[i]!.labels, field.value(rows[i]!));
      if (f.pending >= CHUNK_LINES) yield f.flush();
    }
    const rest = f.flush();
    if (rest !== '') yield rest;
  }

  // Per-node label blocks, built once and reused by every gpufleet_node_* family.
  const nodeLabels = input.nodes.map((n) => `node="${escapeLabelValue(String(n.id))}",hostname="${escapeLabelValue(String(n.hostname ?? ''))}"`);
  // One line per node and status: chunked like the GPU families, a node's lines never split (at most CHUNK_LINES a chunk).
  const status = new FamilyWriter('gpufleet_node_status', 'gauge', 'Node status: 1 for the status the node is in, 0 for the others.');
  for (let i = 0; i < input.nodes.length; i++) {
    if (status.pending + NODE_STATUSES.length > CHUNK_LINES) yield status.flush();
    for (const s of NODE_STATUSES) status.sample(`{${nodeLabels[i]},status="${s}"}`, input.nodes[i]!.status === s ? 1 : 0);
  }
  const statusRest = status.flush();
  if (statusRest !== '') yield statusRest;
  yield simple('gpufleet_nodes', 'gauge', 'Nodes by status.', (f) => {
    const counts = new Map<string, number>(NODE_STATUSES.map((s) => [s, 0]));
    for (const n of input.nodes) counts.set(String(n.status), (counts.get(String(n.status)) ?? 0) + 1);
    for (const [status, count] of counts) f.sample(labelBlock([['status', status]]), count);
  });
  yield simple('gpufleet_node_connected', 'gauge', "Whether the node's agent holds a session now (1) or not (0).", (f) => {
    input.nodes.forEach((n, i) => f.sample(`{${nodeLabels[i]}}`, n.connected ? 1 : 0));
  });
  yield simple('gpufleet_node_labels', 'gauge', 'Node labels as label_<name> labels (value always 1).', (f) => {
    input.nodes.forEach((n, i) => {
      const pairs: string[] = [];
      const seen = new Set<string>(['node', 'hostname']);
      for (const [k, v] of Object.entries(n.labels ?? {})) {
        const name = `label_${sanitizeLabelName(k)}`;
        if (seen.has(name)) continue; // two keys that sanitize alike: the first wins
        seen.add(name);
        pairs.push(`,${name}="${escapeLabelValue(String(v))}"`);
      }
      f.sample(`{${nodeLabels[i]}${pairs.join('')}}`, 1);
    });
  });
  yield simple('gpufleet_gpus', 'gauge', 'GPUs in the inventory by vendor and model.', (f) => {
    const counts = new Map<string, [string, string, number]>();
    for (const n of input.nodes) {
      for (const g of Array.isArray(n.gpus) ? n.gpus : []) {
        const model = g.name ?? 'unknown';
        const key = `${g.vendor}\u0000${model}`;
        const entry = counts.get(key);
        if (entry) entry[2]++;
        else counts.set(key, [g.vendor, model, 1]);
      }
    }
    for (const [vendor, model, count] of counts.values())
      f.sample(
        labelBlock([
          ['vendor', vendor],
          ['model', model],
        ]),
        count,
      );
  });
  const hostFamily = (name: string, help: string, pick: (h: MetricsBody['host']) => number): string =>
    simple(name, 'gauge', help, (f) => {
      input.nodes.forEach((n, i) => {
        if (n.connected && n.latest?.host) f.sample(`{${nodeLabels[i]}}`, pick(n.latest.host));
      });
    });
  yield hostFamily('gpufleet_node_cpu_percent', 'Host CPU use (0-100).', (h) => h.cpuPct);
  yield hostFamily('gpufleet_node_load1', 'Host load average over 1 minute.', (h) => h.load1);
  yield hostFamily('gpufleet_node_memory_used_bytes', 'Host memory in use (bytes).', (h) => h.memoryUsedBytes);
  yield hostFamily('gpufleet_node_memory_total_bytes', 'Host memory installed (bytes).', (h) => h.memoryTotalBytes);
  yield simple('gpufleet_node_metrics_age_seconds', 'gauge', "Age of the node's latest metrics sample at scrape time.", (f) => {
    input.nodes.forEach((n, i) => {
      if (n.latest && typeof n.latest.ts === 'number') f.sample(`{${nodeLabels[i]}}`, Math.max(0, (input.now - n.latest.ts) / 1000));
    });
  });

  const s = input.server;
  yield simple('gpufleet_agent_sessions', 'gauge', 'Agent sessions held now.', (f) => f.sample('', s.sessions));
  yield simple('gpufleet_frames_total', 'counter', 'Agent frames accepted, by type.', (f) => {
    for (const [type, n] of s.framesByType) f.sample(labelBlock([['type', type]]), n);
  });
  yield simple('gpufleet_frames_refused_total', 'counter', 'Agent frames refused, by reason.', (f) => {
    for (const [reason, n] of s.refusedByReason) f.sample(labelBlock([['reason', reason]]), n);
  });
  yield histogram('gpufleet_ingest_lag_seconds', 'Metrics frame receive time minus its sample time.', {
    buckets: s.lagBuckets,
    counts: s.lagCounts,
    sum: s.lagSum,
    count: s.lagCount,
  });
  if (s.storeWrite) yield histogram('gpufleet_store_write_seconds', 'Store write latency.', s.storeWrite);

  const ms = input.metricStore;
  if (ms) {
    yield simple('gpufleet_metric_store_series', 'gauge', 'Series held in the in-memory metric store.', (f) => f.sample('', ms.series));
    yield simple('gpufleet_metric_store_points', 'gauge', 'Points held in the in-memory metric store.', (f) => f.sample('', ms.points));
    yield simple('gpufleet_metric_store_bytes', 'gauge', 'Bytes of ring buffers in the in-memory metric store.', (f) => f.sample('', ms.bytes));
    yield simple('gpufleet_metric_store_remote_nodes', 'gauge', 'Nodes held by other replicas, of which only the latest sample is kept here.', (f) =>
      f.sample('', ms.remoteNodes ?? 0),
    );
    yield simple('gpufleet_metric_samples_dropped_total', 'counter', 'Metrics samples or GPU readings the store refused, by reason.', (f) => {
      f.sample('{reason="out_of_order"}', ms.droppedOutOfOrder);
      f.sample('{reason="unkeyed_gpu"}', ms.droppedUnkeyedGpus);
      f.sample('{reason="invalid"}', ms.droppedInvalid);
    });
  }

  const p = input.process ?? readProcess();
  yield simple('process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.', (f) => f.sample('', p.residentMemoryBytes));
  yield simple('process_heap_bytes', 'gauge', 'Process heap size in bytes.', (f) => f.sample('', p.heapUsedBytes));
  yield simple('process_cpu_user_seconds_total', 'counter', 'Total user CPU time spent in seconds.', (f) => f.sample('', p.cpuUserSeconds));
  yield simple('process_cpu_system_seconds_total', 'counter', 'Total system CPU time spent in seconds.', (f) => f.sample('', p.cpuSystemSeconds));
  yield simple('process_cpu_seconds_total', 'counter', 'Total user and system CPU time spent in seconds.', (f) =>
    f.sample('', p.cpuUserSeconds + p.cpuSystemSeconds),
  );
  yield simple('process_start_time_seconds', 'gauge', 'Start time of the process since unix epoch in seconds.', (f) => f.sample('', p.startTimeSeconds));
}

/** The whole exposition text (Content-Type `text/plain; version=0.0.4; charset=utf-8`). */
export function renderPrometheus(input: PrometheusInput): string {
  return [...renderPrometheusChunks(input)].join('');
}
