import { describe, expect, it } from 'vitest';
import { NODE_STATUSES, emptyGpuSnapshot, gpuInfoOf, gpuSampleOf, type GpuInfo, type GpuSample, type GpuVendor, type MetricsBody } from '@gpufleet/protocol';
import { readFixture } from '../../../agent/src/testing/fixtures.js';
import { checkExposition, parseSampleLine, type ParsedFamily, type ParsedSample } from './__tests__/exposition-checker.js';
import { DCGM_FIELDS, throttleBitmask } from './dcgm-fields.js';
import { escapeLabelValue, formatValue, sanitizeLabelName } from './exposition.js';
import {
  dcgmPciBusId,
  gpuMetricKey,
  renderPrometheus,
  renderPrometheusChunks,
  type PrometheusInput,
  type PrometheusNode,
  type PrometheusServerStats,
} from './prometheus.js';

const GIB = 1024 ** 3;
const NOW = 1_767_000_000_000;

interface GpuSpec {
  vendor?: GpuVendor;
  index: number;
  uuid: string | null;
  pci: string | null;
  name: string | null;
  sample?: Partial<GpuSample>;
}

function node(id: string, hostname: string, gpus: GpuSpec[], patch: Partial<PrometheusNode> = {}): PrometheusNode {
  const infos: GpuInfo[] = gpus.map((g) => gpuInfoOf({ ...emptyGpuSnapshot(g.vendor ?? 'nvidia', g.index), uuid: g.uuid, pciBusId: g.pci, name: g.name }));
  const samples: GpuSample[] = gpus.map((g) => ({
    ...gpuSampleOf({ ...emptyGpuSnapshot(g.vendor ?? 'nvidia', g.index), uuid: g.uuid, pciBusId: g.pci }),
    utilizationPct: 87,
    memoryUtilizationPct: 41,
    memoryUsedBytes: 20 * GIB,
    memoryTotalBytes: 80 * GIB,
    temperatureC: 44,
    memoryTemperatureC: 35,
    powerDrawW: 312.25,
    smClockMhz: 1980,
    memClockMhz: 2619,
    eccCorrectedVolatile: 3,
    eccUncorrectedVolatile: 1,
    eccCorrectedAggregate: 12,
    eccUncorrectedAggregate: 2,
    ...g.sample,
  }));
  const latest: MetricsBody = {
    ts: NOW - 4000,
    host: { cpuPct: 37.5, load1: 2, load5: 1, load15: 1, memoryUsedBytes: 12 * GIB, memoryTotalBytes: 512 * GIB, disks: [], net: [] },
    gpus: samples,
  };
  return { id, hostname, status: 'READY', labels: {}, gpus: infos, latest, connected: true, ...patch };
}

function server(patch: Partial<PrometheusServerStats> = {}): PrometheusServerStats {
  return {
    sessions: 2,
    framesByType: new Map([
      ['metrics', 120],
      ['heartbeat', 40],
    ]),
    refusedByReason: new Map([['invalid_frame', 3]]),
    lagBuckets: [0.01, 0.1, 1],
    lagCounts: [5, 3, 1, 2],
    lagSum: 7.5,
    lagCount: 11,
    ...patch,
  };
}

const PROCESS = { residentMemoryBytes: 123_456_789, heapUsedBytes: 5_000_000, cpuUserSeconds: 1.5, cpuSystemSeconds: 0.25, startTimeSeconds: 1_766_000_000 };

function render(nodes: PrometheusNode[], extra: Partial<PrometheusInput> = {}): Map<string, ParsedFamily> {
  return checkExposition(renderPrometheus({ nodes, server: server(), now: NOW, process: PROCESS, ...extra }));
}

function only(families: Map<string, ParsedFamily>, name: string, where: Record<string, string> = {}): ParsedSample {
  const hits = (families.get(name)?.samples ?? []).filter((s) => Object.entries(where).every(([k, v]) => s.labels.some(([n, x]) => n === k && x === v)));
  if (hits.length !== 1) throw new Error(`${hits.length} samples of ${name} ${JSON.stringify(where)}`);
  return hits[0]!;
}

/** Sample lines of the real dcgm-exporter fixture. */
function fixtureSamples(): ParsedSample[] {
  return readFixture('exporters', 'dcgm-exporter_metrics_samples_real.prom')
    .split('\n')
    .filter((l) => l.startsWith('DCGM_'))
    .map((l) => parseSampleLine(l, true));
}

// The H100 of the fixture's dcgm-exporter 4.x block, as an agent reports it.
const H100: GpuSpec = { index: 0, uuid: 'GPU-58e8f5ea-13cc-013a-d88f-2bcf5ae8bc77', pci: '0000:1a:00.0', name: 'NVIDIA H100 80GB HBM3' };

describe('renderPrometheus: dcgm-exporter compatibility', () => {
  it('labels GPU series exactly like the real dcgm-exporter 4.x lines, minus MIG and Kubernetes labels', () => {
    const fam = render([node('did:key:z1', 'gsrh100-074', [H100])]);
    const ours = only(fam, 'DCGM_FI_DEV_GPU_UTIL');
    const real = fixtureSamples().find((s) => s.name === 'DCGM_FI_PROF_GR_ENGINE_ACTIVE' && s.labels.some(([n]) => n === 'Hostname'))!;
    const skip = new Set(['GPU_I_PROFILE', 'GPU_I_ID', 'DCGM_FI_DRIVER_VERSION', 'container', 'namespace', 'pod']);
    const realIdentity = real.labels.filter(([n]) => !skip.has(n));
    // dcgm-exporter's identity labels first, in its order; then newer dashboards' lower-case
    // hostname and the node id to join with gpufleet_node_* series.
    expect(ours.labels.slice(0, 6)).toEqual(realIdentity);
    expect(ours.labels.map(([n]) => n)).toEqual(['gpu', 'UUID', 'pci_bus_id', 'device', 'modelName', 'Hostname', 'hostname', 'node']);
    expect(ours.labels.slice(6)).toEqual([
      ['hostname', 'gsrh100-074'],
      ['node', 'did:key:z1'],
    ]);
  });

  it('joins GPU series with node series on node, also when hostnames repeat or need escaping', () => {
    const fam = render([node('did:key:zA', 'same "host"', [H100]), node('did:key:zB', 'same "host"', [{ ...H100, uuid: 'GPU-other' }])]);
    const gpuNodes = fam.get('DCGM_FI_DEV_GPU_UTIL')!.samples.map((s) => Object.fromEntries(s.labels).node);
    const connected = fam.get('gpufleet_node_connected')!.samples.map((s) => Object.fromEntries(s.labels).node);
    expect(gpuNodes).toEqual(['did:key:zA', 'did:key:zB']);
    expect(connected).toEqual(gpuNodes);
    expect(fam.get('DCGM_FI_DEV_GPU_UTIL')!.samples.map((s) => Object.fromEntries(s.labels).hostname)).toEqual(['same "host"', 'same "host"']);
  });

  it('writes remapped rows and PCIe replays where the agent reported them, and no line (never a 0) where not', () => {
    const fam = render([
      node('a', 'new-agent', [{ ...H100, sample: { remappedRowsCorrectable: 2, remappedRowsUncorrectable: 1, pcieReplayCount: 9 } }]),
      node('b', 'old-agent', [{ ...H100, uuid: 'GPU-old' }]),
      node('c', 'no-value', [{ ...H100, uuid: 'GPU-na', sample: { remappedRowsCorrectable: null, pcieReplayCount: null } }]),
    ]);
    const values = (name: string) => fam.get(name)!.samples.map((s) => [Object.fromEntries(s.labels).node, s.value]);
    expect(fam.get('DCGM_FI_DEV_PCIE_REPLAY_COUNTER')!.type).toBe('counter');
    expect(values('DCGM_FI_DEV_PCIE_REPLAY_COUNTER')).toEqual([['a', 9]]);
    expect(values('DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS')).toEqual([['a', 2]]);
    expect(values('DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS')).toEqual([['a', 1]]);
    // What only DCGM knows is not made up: no family at all.
    for (const name of fam.keys()) expect(name).not.toMatch(/^DCGM_FI_PROF_|^DCGM_FI_DEV_TOTAL_ENERGY|^DCGM_FI_DEV_NVLINK/);
  });

  it("writes pci_bus_id in the fixtures' nvidia-smi form for NVIDIA GPUs", () => {
    const realPci = fixtureSamples().flatMap((s) => s.labels.filter(([n]) => n === 'pci_bus_id').map(([, v]) => v));
    expect(realPci.length).toBeGreaterThan(3);
    const form = /^[0-9A-F]{8}:[0-9A-F]{2}:[0-9A-F]{2}\.[0-7]$/;
    for (const v of realPci) expect(v).toMatch(form);
    for (const raw of ['0000:b1:00.0', '00000000:B1:00.0', 'PCI:0000:b1:00', 'b1:00.0']) expect(dcgmPciBusId(raw, 'nvidia')).toBe('00000000:B1:00.0');
    const fam = render([node('n', 'h', [{ index: 1, uuid: 'GPU-x', pci: '0000:65:00.0', name: 'NVIDIA A30' }])]);
    expect(only(fam, 'DCGM_FI_DEV_FB_USED').labels.find(([n]) => n === 'pci_bus_id')![1]).toMatch(form);
    expect(dcgmPciBusId(null, 'nvidia')).toBe('');
    expect(dcgmPciBusId('garbage', 'nvidia')).toBe('');
  });

  it("uses the types of dcgm-exporter's default counters list", () => {
    const csv = readFixture('exporters', 'dcgm-exporter_default-counters.csv');
    const types = new Map<string, string>();
    for (const raw of csv.split('\n')) {
      const line = raw.replace(/^#\s*/, '');
      const m = /^(DCGM_FI_[A-Z0-9_]+)\s*,\s*(\w+)\s*,/.exec(line);
      if (m) types.set(m[1]!, m[2]!);
    }
    const fam = render([node('n', 'h', [H100])]);
    let compared = 0;
    for (const field of DCGM_FIELDS) {
      expect(fam.has(field.name)).toBe(true);
      const expected = types.get(field.name);
      if (expected === undefined) continue; // not in the default list (FB_TOTAL, FAN_SPEED, ...)
      expect(fam.get(field.name)!.type, field.name).toBe(expected);
      compared++;
    }
    expect(compared).toBeGreaterThanOrEqual(14);
    for (const required of [
      'DCGM_FI_DEV_GPU_UTIL',
      'DCGM_FI_DEV_MEM_COPY_UTIL',
      'DCGM_FI_DEV_FB_USED',
      'DCGM_FI_DEV_FB_FREE',
      'DCGM_FI_DEV_GPU_TEMP',
      'DCGM_FI_DEV_MEMORY_TEMP',
      'DCGM_FI_DEV_POWER_USAGE',
      'DCGM_FI_DEV_SM_CLOCK',
      'DCGM_FI_DEV_MEM_CLOCK',
      'DCGM_FI_DEV_XID_ERRORS',
      'DCGM_FI_DEV_ECC_SBE_VOL_TOTAL',
      'DCGM_FI_DEV_ECC_DBE_VOL_TOTAL',
      'DCGM_FI_DEV_ECC_SBE_AGG_TOTAL',
      'DCGM_FI_DEV_ECC_DBE_AGG_TOTAL',
      'DCGM_FI_DEV_CLOCK_THROTTLE_REASONS',
    ]) {
      expect(fam.get(required)?.samples.length, required).toBe(1);
    }
  });

  it("reports values in dcgm's units: MiB for framebuffer, W, C, MHz, %", () => {
    const odd = 81_559 * 1024 * 1024 + 100; // not a whole number of MiB
    const n = node('did:key:z1', 'h', [
      { ...H100, sample: { memoryTotalBytes: odd, memoryUsedBytes: 3744 * 1024 * 1024, throttleReasons: ['sw_power_cap', 'hw_slowdown'] } },
    ]);
    const fam = render([n]);
    expect(only(fam, 'DCGM_FI_DEV_FB_USED').value).toBe(3744);
    expect(only(fam, 'DCGM_FI_DEV_FB_TOTAL').value).toBe(81_559);
    expect(only(fam, 'DCGM_FI_DEV_FB_FREE').value).toBe(81_559 - 3744);
    expect(only(fam, 'DCGM_FI_DEV_POWER_USAGE').value).toBe(312.25);
    expect(only(fam, 'DCGM_FI_DEV_GPU_TEMP').value).toBe(44);
    expect(only(fam, 'DCGM_FI_DEV_MEMORY_TEMP').value).toBe(35);
    expect(only(fam, 'DCGM_FI_DEV_SM_CLOCK').value).toBe(1980);
    expect(only(fam, 'DCGM_FI_DEV_MEM_CLOCK').value).toBe(2619);
    expect(only(fam, 'DCGM_FI_DEV_GPU_UTIL').value).toBe(87);
    expect(only(fam, 'DCGM_FI_DEV_MEM_COPY_UTIL').value).toBe(41);
    expect(only(fam, 'DCGM_FI_DEV_ECC_SBE_VOL_TOTAL').value).toBe(3);
    expect(only(fam, 'DCGM_FI_DEV_ECC_DBE_VOL_TOTAL').value).toBe(1);
    expect(only(fam, 'DCGM_FI_DEV_ECC_SBE_AGG_TOTAL').value).toBe(12);
    expect(only(fam, 'DCGM_FI_DEV_ECC_DBE_AGG_TOTAL').value).toBe(2);
    expect(only(fam, 'DCGM_FI_DEV_CLOCK_THROTTLE_REASONS').value).toBe(0x4 | 0x8);
    expect(only(fam, 'DCGM_FI_DEV_XID_ERRORS').value).toBe(0);
    expect(fam.get('DCGM_FI_DEV_FAN_SPEED')!.samples).toEqual([]); // null: no line at all
  });

  it('reports the last XID per GPU, by UUID or by node and PCI id', () => {
    const a = node('did:key:zA', 'a', [H100, { index: 1, uuid: null, pci: '0000:3b:00.0', name: 'NVIDIA L40S' }]);
    const b = node('did:key:zB', 'b', [{ index: 0, uuid: null, pci: '0000:3b:00.0', name: 'NVIDIA L40S' }]);
    const lastXid = new Map([
      [gpuMetricKey(a.id, { uuid: H100.uuid, pciBusId: null })!, 79],
      [gpuMetricKey(b.id, { uuid: null, pciBusId: '00000000:3B:00.0' })!, 48],
    ]);
    const fam = render([a, b], { lastXid });
    expect(only(fam, 'DCGM_FI_DEV_XID_ERRORS', { Hostname: 'a', gpu: '0' }).value).toBe(79);
    expect(only(fam, 'DCGM_FI_DEV_XID_ERRORS', { Hostname: 'a', gpu: '1' }).value).toBe(0);
    expect(only(fam, 'DCGM_FI_DEV_XID_ERRORS', { Hostname: 'b' }).value).toBe(48);
  });

  it('exports non-NVIDIA GPUs under the same names with their own device and model', () => {
    const fam = render([node('n', 'mi300', [{ vendor: 'amd', index: 2, uuid: null, pci: '0000:0C:00.0', name: 'AMD Instinct MI300X' }])]);
    const s = only(fam, 'DCGM_FI_DEV_GPU_TEMP');
    expect(s.labels).toEqual([
      ['gpu', '2'],
      ['UUID', ''],
      ['pci_bus_id', '0000:0c:00.0'],
      ['device', 'amd2'],
      ['modelName', 'AMD Instinct MI300X'],
      ['Hostname', 'mi300'],
      ['hostname', 'mi300'],
      ['node', 'n'],
    ]);
    expect(only(fam, 'gpufleet_gpus', { vendor: 'amd' }).labels).toEqual([
      ['vendor', 'amd'],
      ['model', 'AMD Instinct MI300X'],
    ]);
  });
});

describe('renderPrometheus: format and fleet series', () => {
  it('writes a well-formed exposition with HELP and TYPE once per family', () => {
    const nodes = [
      node('did:key:z1', 'a', [H100]),
      node('did:key:z2', 'b', [], { status: 'OFFLINE', connected: false }),
      node('did:key:z3', 'c', [], { status: 'PENDING', latest: null, connected: false }),
    ];
    const text = renderPrometheus({ nodes, server: server(), now: NOW, process: PROCESS });
    const fam = checkExposition(text);
    for (const f of fam.values()) {
      expect(f.help, f.name).not.toBeNull();
      expect(f.type, f.name).not.toBeNull();
    }
    expect(text.split('\n').filter((l) => l.startsWith('# TYPE DCGM_FI_DEV_GPU_UTIL ')).length).toBe(1);
    expect([...renderPrometheusChunks({ nodes, server: server(), now: NOW, process: PROCESS })].join('')).toBe(text);
    expect(text).not.toMatch(/ NaN$/m);
  });

  it('splits a large fleet into bounded chunks that join to the whole text', () => {
    const gpus = Array.from({ length: 8 }, (_, i) => ({ ...H100, index: i, uuid: `GPU-${i}`, pci: `0000:${(0x10 + i).toString(16)}:00.0` }));
    const template = node('did:key:z0', 'h0', gpus);
    const nodes = Array.from({ length: 1100 }, (_, i) => ({ ...template, id: `did:key:z${i}`, hostname: `h${i}` }));
    const input = { nodes, server: server(), now: NOW, process: PROCESS };
    const chunks = [...renderPrometheusChunks(input)];
    const text = renderPrometheus(input);
    expect(chunks.join('')).toBe(text);
    for (const c of chunks) {
      expect(c.endsWith('\n')).toBe(true);
      expect(c.split('\n').length - 1).toBeLessThanOrEqual(8192 + 2);
    }
    // 8,800 GPUs per DCGM family: each family needs two chunks.
    expect(chunks.filter((c) => c.startsWith('DCGM_FI_DEV_GPU_UTIL{')).length).toBe(1);
    expect(checkExposition(text).get('DCGM_FI_DEV_GPU_UTIL')!.samples).toHaveLength(8800);
  });

  it('escapes backslash, double quote and newline in label values', () => {
    const nasty = 'a"b\\c\nd';
    const n = node('did:key:z"\\', nasty, [{ ...H100, name: 'Model "X"\\\n' }], { labels: { 'team.name/x': nasty, '9lives': 'v' } });
    const text = renderPrometheus({ nodes: [n], server: server({ refusedByReason: new Map([['bad "frame"', 1]]) }), now: NOW, process: PROCESS });
    expect(text).toContain('Hostname="a\\"b\\\\c\\nd"');
    expect(text).toContain('modelName="Model \\"X\\"\\\\\\n"');
    const fam = checkExposition(text);
    expect(only(fam, 'DCGM_FI_DEV_GPU_UTIL').labels.find(([k]) => k === 'Hostname')![1]).toBe(nasty);
    expect(only(fam, 'gpufleet_node_labels').labels).toEqual([
      ['node', 'did:key:z"\\'],
      ['hostname', nasty],
      ['label_team_name_x', nasty],
      ['label__9lives', 'v'],
    ]);
    expect(only(fam, 'gpufleet_frames_refused_total').labels).toEqual([['reason', 'bad "frame"']]);
    expect(escapeLabelValue('plain')).toBe('plain');
    expect(escapeLabelValue('line\nbreak')).toBe('line\\nbreak');
    expect(escapeLabelValue('back\\slash')).toBe('back\\\\slash');
    expect(escapeLabelValue('"')).toBe('\\"');
    expect(escapeLabelValue('\\"\n')).toBe('\\\\\\"\\n');
    expect(sanitizeLabelName('')).toBe('_');
  });

  it('exports node status, counts, host readings and GPU inventory', () => {
    const nodes = [
      node('did:key:z1', 'a', [H100, { ...H100, index: 1, uuid: 'GPU-2', pci: '0000:1b:00.0' }]),
      node('did:key:z2', 'b', [{ ...H100, uuid: 'GPU-3', name: 'NVIDIA L40S' }], { status: 'OFFLINE', connected: false }),
      node('did:key:z3', 'c', [], { status: 'CORDONED' }),
    ];
    const fam = render(nodes);
    expect(fam.get('gpufleet_node_status')!.samples).toHaveLength(3 * NODE_STATUSES.length);
    expect(only(fam, 'gpufleet_node_status', { node: 'did:key:z2', status: 'OFFLINE' }).value).toBe(1);
    expect(only(fam, 'gpufleet_node_status', { node: 'did:key:z2', status: 'READY' }).value).toBe(0);
    expect(only(fam, 'gpufleet_nodes', { status: 'READY' }).value).toBe(1);
    expect(only(fam, 'gpufleet_nodes', { status: 'OFFLINE' }).value).toBe(1);
    expect(only(fam, 'gpufleet_nodes', { status: 'PENDING' }).value).toBe(0);
    expect(only(fam, 'gpufleet_gpus', { model: 'NVIDIA H100 80GB HBM3' }).value).toBe(2);
    expect(only(fam, 'gpufleet_gpus', { model: 'NVIDIA L40S' }).value).toBe(1);
    expect(only(fam, 'gpufleet_node_cpu_percent', { node: 'did:key:z1' }).value).toBe(37.5);
    expect(only(fam, 'gpufleet_node_memory_used_bytes', { node: 'did:key:z1' }).value).toBe(12 * GIB);
    expect(only(fam, 'gpufleet_node_metrics_age_seconds', { node: 'did:key:z1' }).value).toBe(4);
    expect(only(fam, 'gpufleet_node_connected', { node: 'did:key:z2' }).value).toBe(0);
    // The disconnected node's stale readings are not exported as current.
    expect(fam.get('DCGM_FI_DEV_GPU_UTIL')!.samples.map((s) => s.labels.find(([k]) => k === 'Hostname')![1])).toEqual(['a', 'a']);
    expect(fam.get('gpufleet_node_cpu_percent')!.samples).toHaveLength(2);
  });

  it('exports the server counters, a cumulative lag histogram and process figures', () => {
    const fam = render([], {
      metricStore: { nodes: 1, series: 92, points: 900, droppedOutOfOrder: 4, droppedUnkeyedGpus: 0, droppedInvalid: 1, bytes: 4096 },
      server: server({ storeWrite: { buckets: [0.001, 0.01], counts: [7, 2, 1], sum: 0.05, count: 10 } }),
    });
    expect(only(fam, 'gpufleet_agent_sessions').value).toBe(2);
    expect(only(fam, 'gpufleet_frames_total', { type: 'metrics' }).value).toBe(120);
    expect(fam.get('gpufleet_frames_total')!.type).toBe('counter');
    expect(only(fam, 'gpufleet_frames_refused_total', { reason: 'invalid_frame' }).value).toBe(3);
    const lag = fam.get('gpufleet_ingest_lag_seconds')!;
    expect(lag.type).toBe('histogram');
    expect(lag.samples.map((s) => [s.name, s.labels[0]?.[1] ?? null, s.value])).toEqual([
      ['gpufleet_ingest_lag_seconds_bucket', '0.01', 5],
      ['gpufleet_ingest_lag_seconds_bucket', '0.1', 8],
      ['gpufleet_ingest_lag_seconds_bucket', '1', 9],
      ['gpufleet_ingest_lag_seconds_bucket', '+Inf', 11],
      ['gpufleet_ingest_lag_seconds_sum', null, 7.5],
      ['gpufleet_ingest_lag_seconds_count', null, 11],
    ]);
    const store = fam.get('gpufleet_store_write_seconds')!.samples;
    expect(store.find((x) => x.name === 'gpufleet_store_write_seconds_bucket' && x.labels[0]![1] === '0.01')!.value).toBe(9);
    expect(store.find((x) => x.name === 'gpufleet_store_write_seconds_count')!.value).toBe(10);
    expect(only(fam, 'gpufleet_metric_samples_dropped_total', { reason: 'out_of_order' }).value).toBe(4);
    expect(only(fam, 'gpufleet_metric_store_series').value).toBe(92);
    expect(only(fam, 'process_resident_memory_bytes').value).toBe(123_456_789);
    expect(only(fam, 'process_cpu_seconds_total').value).toBe(1.75);
    // Without injected figures the process's own are read.
    const own = checkExposition(renderPrometheus({ nodes: [], server: server(), now: NOW }));
    expect(only(own, 'process_resident_memory_bytes').value).toBeGreaterThan(1024 * 1024);
  });

  it('survives garbage readings without writing NaN or crashing', () => {
    const n = node('did:key:z1', 'a', [
      {
        ...H100,
        sample: { utilizationPct: Number.NaN, temperatureC: null, powerDrawW: Number.POSITIVE_INFINITY, throttleReasons: ['bogus' as never, 'gpu_idle'] },
      },
    ]);
    (n.latest!.gpus as unknown[]).push(null, 5);
    const broken = {
      ...node('did:key:z2', 'b', []),
      latest: { ts: NOW, host: null, gpus: 'x' } as unknown as MetricsBody,
      gpus: null as unknown as GpuInfo[],
      labels: null as unknown as Record<string, string>,
    };
    const fam = render([n, broken]);
    expect(fam.get('DCGM_FI_DEV_GPU_UTIL')!.samples).toEqual([]);
    expect(fam.get('DCGM_FI_DEV_GPU_TEMP')!.samples).toEqual([]);
    expect(only(fam, 'DCGM_FI_DEV_POWER_USAGE').value).toBe(Infinity);
    expect(only(fam, 'DCGM_FI_DEV_CLOCK_THROTTLE_REASONS').value).toBe(1);
    expect(fam.get('gpufleet_node_cpu_percent')!.samples).toHaveLength(1);
    expect(throttleBitmask(null)).toBe(0);
    expect(formatValue(Number.NaN)).toBeNull();
    expect(formatValue(-Infinity)).toBe('-Inf');
  });
});

describe('exposition checker', () => {
  it('refuses malformed expositions (so the checks above can fail)', () => {
    expect(() => checkExposition('a 1')).toThrow(/newline/);
    expect(() => checkExposition('a{b="x} 1\n')).toThrow();
    expect(() => checkExposition('a{b="x\\q"} 1\n')).toThrow(/escape/);
    expect(() => checkExposition('# TYPE a gauge\n# TYPE a gauge\na 1\n')).toThrow(/TYPE twice/);
    expect(() => checkExposition('a{x="1"} 1\nb 2\na{x="2"} 3\n')).toThrow(/two places/);
    expect(() => checkExposition('a 1\na 2\n')).toThrow(/duplicate/);
    expect(() => checkExposition('a one\n')).toThrow(/bad value/);
    expect(() => checkExposition('a{b="1",b="2"} 1\n')).toThrow(/repeated/);
    expect(checkExposition('# HELP a x\n# TYPE a gauge\na{b="1"} 1\n').get('a')!.samples).toHaveLength(1);
  });
});
