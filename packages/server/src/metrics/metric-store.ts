import { normalizePciBusId, type GpuSample, type MetricsBody, type NodeMetrics } from '@gpufleet/protocol';
import { RingBuffer, valueBlock } from './ring-buffer.js';
import { GPU_COLUMN_SCALES, NO_VALUE, pack, packedBlock, unpack } from './packed-column.js';

/** Host series names, in column order. */
export const HOST_SERIES = ['cpu_pct', 'load1', 'mem_used_bytes', 'mem_total_bytes'] as const;
/** Per-GPU series names, in column order. */
export const GPU_SERIES = [
  'gpu_util_pct',
  'mem_copy_util_pct',
  'fb_used_bytes',
  'fb_total_bytes',
  'gpu_temp_c',
  'power_w',
  'sm_clock_mhz',
  'mem_clock_mhz',
  'fan_pct',
  'ecc_corrected_volatile',
  'ecc_uncorrected_volatile',
] as const;
export type SeriesName = (typeof HOST_SERIES)[number] | (typeof GPU_SERIES)[number];

const HOST_COLUMNS = HOST_SERIES.length;
const GPU_COLUMNS = GPU_SERIES.length;
/** More GPU keys than this on one node (churning UUIDs, a misbehaving agent) evict the stalest. */
const MAX_GPUS_PER_NODE = 128;

/** Options of MetricStore. */
export interface MetricStoreOptions {
  /** How far back points are kept (ms). Default 1 h. */
  retentionMs?: number;
  /** The agents' sampling interval (ms), used to size the rings. Default 10 s. */
  intervalMs?: number;
  /** Upper bound on points per series whatever retention/interval say. Default 10,000. */
  maxPointsPerSeries?: number;
}

/** What `stats()` reports. */
export interface MetricStoreStats {
  nodes: number;
  series: number;
  points: number;
  /** Samples refused because they were not newer than the node's newest (see ingest). */
  droppedOutOfOrder: number;
  /** GPU readings refused because they had neither a UUID nor a PCI bus id. */
  droppedUnkeyedGpus: number;
  /** Samples refused for lacking a finite timestamp. */
  droppedInvalid: number;
  /** Bytes held by the typed arrays (not counting the kept latest bodies). */
  bytes: number;
  /** Nodes held by another replica, of which only the latest sample is kept here. */
  remoteNodes?: number;
}

/** Filters for `query`. */
export interface MetricQuery {
  /** Only points at or after this epoch ms. */
  since?: number;
  /** Only these series; unknown names simply match nothing. */
  names?: readonly string[];
}

interface GpuSeries {
  key: string;
  /** GPU_COLUMNS x capacity, column-major, packed to 16 bits (packed-column.ts): one allocation per GPU. */
  values: Uint16Array;
  /** Timestamp of the newest sample that carried this GPU; stale GPUs are pruned by it. */
  lastSeen: number;
  /** The ingest stamp of the last sample that carried this GPU. */
  mark: number;
}

interface NodeSeries {
  ring: RingBuffer;
  /** HOST_COLUMNS x capacity, column-major. */
  host: Float32Array;
  gpus: Map<string, GpuSeries>;
  latest: MetricsBody;
}

/** A reading as stored: anything that is not a number becomes NaN (served as a null point). */
function num(value: unknown): number {
  return typeof value === 'number' ? value : Number.NaN;
}

/** The key a GPU's series are kept under: its UUID, else its canonical PCI bus id. */
export function gpuKey(gpu: Pick<GpuSample, 'uuid' | 'pciBusId'>): string | null {
  if (typeof gpu.uuid === 'string' && gpu.uuid !== '') return gpu.uuid;
  return normalizePciBusId(typeof gpu.pciBusId === 'string' ? gpu.pciBusId : null);
}

/**
 * Recent samples per node in memory: one timestamp ring per node shared by its host and GPU
 * series, host values in Float32Array blocks and GPU values packed to 16 bits. Bounded by construction: a ring never grows past its
 * capacity (retention / interval plus slack, capped), and stale nodes and GPUs are pruned.
 * Float32 keeps 24 bits of mantissa: byte counts round to ~1e-7 of their size, fine for charts;
 * exact values stay in `latest()` and in Prometheus.
 */
export class MetricStore {
  readonly retentionMs: number;
  readonly capacity: number;
  private readonly nodes = new Map<string, NodeSeries>();
  /** The latest sample of nodes whose session another replica holds (it keeps their rings). */
  private readonly remote = new Map<string, MetricsBody>();
  private droppedOutOfOrder = 0;
  private droppedUnkeyedGpus = 0;
  private droppedInvalid = 0;
  /** Incremented per ingested sample; marks which GPUs the current sample carried. */
  private stamp = 0;

  constructor(opts: MetricStoreOptions = {}) {
    const retentionMs = opts.retentionMs ?? 3_600_000;
    const intervalMs = opts.intervalMs ?? 10_000;
    const maxPoints = opts.maxPointsPerSeries ?? 10_000;
    for (const [name, v] of [
      ['retentionMs', retentionMs],
      ['intervalMs', intervalMs],
      ['maxPointsPerSeries', maxPoints],
    ] as const) {
      if (!Number.isFinite(v) || v <= 0) throw new RangeError(`MetricStore: ${name} must be a positive number, got ${v}`);
    }
    this.retentionMs = retentionMs;
    const perWindow = Math.ceil(retentionMs / intervalMs);
    // Slack absorbs agents sampling a little faster than nominal (timer jitter, replays).
    this.capacity = Math.max(2, Math.min(Math.ceil(maxPoints), perWindow + Math.ceil(perWindow * 0.05) + 2));
  }

  /**
   * Adds one sample of a node. A sample not newer than the node's newest one is dropped and
   * counted: the rings are append-only and sorted by time, so inserting into the past would
   * mean shifting columns on the hot path; an agent replaying buffered samples after a
   * reconnect sends them oldest first anyway, and long history belongs to Prometheus.
   */
  ingest(nodeId: string, body: MetricsBody): void {
    const ts = body !== null && typeof body === 'object' ? body.ts : Number.NaN;
    if (typeof ts !== 'number' || !Number.isFinite(ts)) {
      this.droppedInvalid++;
      return;
    }
    this.remote.delete(nodeId);
    let node = this.nodes.get(nodeId);
    if (node === undefined) {
      node = { ring: new RingBuffer(this.capacity), host: valueBlock(HOST_COLUMNS, this.capacity), gpus: new Map(), latest: body };
      this.nodes.set(nodeId, node);
    } else if (!(ts > node.ring.newestTime)) {
      this.droppedOutOfOrder++;
      return;
    }
    node.latest = body;
    const cap = this.capacity;
    const slot = node.ring.append(ts);

    const host = body.host ?? ({} as Partial<MetricsBody['host']>);
    const h = node.host;
    h[slot] = num(host.cpuPct);
    h[cap + slot] = num(host.load1);
    h[2 * cap + slot] = num(host.memoryUsedBytes);
    h[3 * cap + slot] = num(host.memoryTotalBytes);

    const stamp = ++this.stamp;
    const gpus = Array.isArray(body.gpus) ? body.gpus : [];
    let written = 0;
    for (let i = 0; i < gpus.length; i++) {
      const g = gpus[i]!;
      const key = g === null || typeof g !== 'object' ? null : gpuKey(g);
      if (key === null) {
        this.droppedUnkeyedGpus++;
        continue;
      }
      let series = node.gpus.get(key);
      if (series === undefined) series = this.addGpu(node, key);
      series.lastSeen = ts;
      if (series.mark !== stamp) written++;
      series.mark = stamp;
      const v = series.values;
      const k = GPU_COLUMN_SCALES;
      v[slot] = pack(num(g.utilizationPct), k[0]!);
      v[cap + slot] = pack(num(g.memoryUtilizationPct), k[1]!);
      v[2 * cap + slot] = pack(num(g.memoryUsedBytes), k[2]!);
      v[3 * cap + slot] = pack(num(g.memoryTotalBytes), k[3]!);
      v[4 * cap + slot] = pack(num(g.temperatureC), k[4]!);
      v[5 * cap + slot] = pack(num(g.powerDrawW), k[5]!);
      v[6 * cap + slot] = pack(num(g.smClockMhz), k[6]!);
      v[7 * cap + slot] = pack(num(g.memClockMhz), k[7]!);
      v[8 * cap + slot] = pack(num(g.fanPct), k[8]!);
      v[9 * cap + slot] = pack(num(g.eccCorrectedVolatile), k[9]!);
      v[10 * cap + slot] = pack(num(g.eccUncorrectedVolatile), k[10]!);
    }
    // A GPU absent from this sample gets a gap, not the stale value the slot held before.
    if (written !== node.gpus.size) {
      for (const series of node.gpus.values()) {
        if (series.mark === stamp) continue;
        for (let c = 0; c < GPU_COLUMNS; c++) series.values[c * cap + slot] = NO_VALUE;
      }
    }
  }

  private addGpu(node: NodeSeries, key: string): GpuSeries {
    if (node.gpus.size >= MAX_GPUS_PER_NODE) {
      let stalest: GpuSeries | null = null;
      for (const s of node.gpus.values()) if (stalest === null || s.lastSeen < stalest.lastSeen) stalest = s;
      if (stalest) node.gpus.delete(stalest.key);
    }
    const series: GpuSeries = { key, values: packedBlock(GPU_COLUMNS, this.capacity), lastSeen: -Infinity, mark: 0 };
    node.gpus.set(key, series);
    return series;
  }

  /**
   * The latest sample of a node held by another replica (a metric delta relayed over the bus).
   * Only the sample is kept, no rings: lists, heatmaps and alerts need the latest values of every
   * node, while history is asked of the holder (replicas/metric-reads.ts). This is what lets a
   * replica's memory follow the nodes it holds rather than the whole fleet.
   */
  noteRemote(nodeId: string, body: MetricsBody): void {
    const ts = body !== null && typeof body === 'object' ? body.ts : Number.NaN;
    if (typeof ts !== 'number' || !Number.isFinite(ts)) {
      this.droppedInvalid++;
      return;
    }
    const had = this.remote.get(nodeId);
    if (had !== undefined && !(ts > had.ts)) {
      this.droppedOutOfOrder++;
      return;
    }
    this.remote.set(nodeId, body);
  }

  /** Whether this store keeps the node's history (it was ingested here within the retention window). */
  hasHistory(nodeId: string): boolean {
    return this.nodes.has(nodeId);
  }

  /** The last sample of a node as the agent sent it (wherever it was ingested), or null. */
  latest(nodeId: string): MetricsBody | null {
    const local = this.nodes.get(nodeId)?.latest ?? null;
    const remote = this.remote.get(nodeId) ?? null;
    if (remote === null) return local;
    return local === null || remote.ts > local.ts ? remote : local;
  }

  /**
   * Series of a node as `[epochMs, value|null]` points, oldest first: host series (gpu null)
   * then each GPU's (gpu = its key). An unknown node or names give no series.
   */
  query(nodeId: string, q: MetricQuery = {}): NodeMetrics {
    const out: NodeMetrics = { nodeId, series: [] };
    const node = this.nodes.get(nodeId);
    if (node === undefined) return out;
    const wanted = Array.isArray(q.names) ? new Set(q.names) : null;
    const since = typeof q.since === 'number' && !Number.isNaN(q.since) ? q.since : -Infinity;
    const ring = node.ring;
    const from = ring.lowerBound(since);
    const read = (block: Float32Array, column: number): Array<[number, number | null]> => {
      const points: Array<[number, number | null]> = [];
      const base = column * this.capacity;
      for (let i = from; i < ring.size; i++) {
        const s = ring.slot(i);
        const v = block[base + s]!;
        points.push([ring.times[s]!, Number.isFinite(v) ? v : null]);
      }
      return points;
    };
    const readPacked = (block: Uint16Array, column: number): Array<[number, number | null]> => {
      const points: Array<[number, number | null]> = [];
      const base = column * this.capacity;
      const scale = GPU_COLUMN_SCALES[column]!;
      for (let i = from; i < ring.size; i++) {
        const s = ring.slot(i);
        points.push([ring.times[s]!, unpack(block[base + s]!, scale)]);
      }
      return points;
    };
    HOST_SERIES.forEach((name, column) => {
      if (wanted === null || wanted.has(name)) out.series.push({ name, gpu: null, points: read(node.host, column) });
    });
    for (const gpu of node.gpus.values()) {
      GPU_SERIES.forEach((name, column) => {
        if (wanted === null || wanted.has(name)) out.series.push({ name, gpu: gpu.key, points: readPacked(gpu.values, column) });
      });
    }
    return out;
  }

  /** Forgets a node's samples (node deleted or decommissioned). */
  dropNode(nodeId: string): void {
    this.nodes.delete(nodeId);
    this.remote.delete(nodeId);
  }

  /** Drops points older than the retention window, GPUs not seen in it and nodes with nothing left. */
  prune(now: number): void {
    const cutoff = now - this.retentionMs;
    for (const [id, body] of this.remote) if (body.ts < cutoff) this.remote.delete(id);
    for (const [id, node] of this.nodes) {
      node.ring.dropBefore(cutoff);
      if (node.ring.size === 0) {
        this.nodes.delete(id);
        continue;
      }
      for (const [key, gpu] of node.gpus) if (gpu.lastSeen < cutoff) node.gpus.delete(key);
    }
  }

  stats(): MetricStoreStats {
    let series = 0;
    let points = 0;
    let bytes = 0;
    for (const node of this.nodes.values()) {
      const columns = HOST_COLUMNS + node.gpus.size * GPU_COLUMNS;
      series += columns;
      points += columns * node.ring.size;
      bytes += this.capacity * (8 + 4 * HOST_COLUMNS + 2 * node.gpus.size * GPU_COLUMNS);
    }
    return {
      nodes: this.nodes.size,
      series,
      points,
      droppedOutOfOrder: this.droppedOutOfOrder,
      droppedUnkeyedGpus: this.droppedUnkeyedGpus,
      droppedInvalid: this.droppedInvalid,
      bytes,
      remoteNodes: this.remote.size,
    };
  }
}
