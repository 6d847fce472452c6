import { SOLE_ALERT_SENDER } from '../notice-ledger.js';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { emptyGpuSnapshot, gpuInfoOf, gpuSampleOf, type GpuSample, type MetricsBody, type NodeStatus } from '@gpufleet/protocol';
import type { NodeRecord } from '../../store/store.js';
import type { AlertFleet } from '../engine-options.js';
import { AlertEngine, type AlertEngineOptions } from '../alert-engine.js';
import { parseAlertRules } from '../alert-rules.js';

export const T0 = Date.UTC(2025, 5, 1, 12, 0, 0);

export class TestClock {
  constructor(public t = T0) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): number {
    this.t += ms;
    return this.t;
  }
}

export const uuidOf = (node: string, index: number) => `GPU-${node}-${index}`;

export function makeNode(id: string, opts: { gpus?: number; labels?: Record<string, string>; hostname?: string } = {}): NodeRecord {
  const gpus = Array.from({ length: opts.gpus ?? 2 }, (_, i) =>
    gpuInfoOf({ ...emptyGpuSnapshot('nvidia', i), uuid: uuidOf(id, i), pciBusId: `0000:${(0x17 + i).toString(16)}:00.0`, name: 'NVIDIA H100 80GB HBM3' }),
  );
  const hostname = opts.hostname ?? id;
  return {
    id,
    hostname,
    adminState: 'active',
    tokenLabels: {},
    userLabels: opts.labels ?? {},
    facts: {
      hostname,
      os: { id: 'debian', name: 'Debian', version: '12' },
      kernel: '6.1',
      arch: 'x86_64',
      cpu: { model: 'x', cores: 8, threads: 16 },
      memoryTotalBytes: 1e11,
      disks: [],
      network: [],
      containerRuntime: null,
      agentVersion: '0.1.0',
      bootTime: null,
    },
    gpus,
    toolFailures: [],
    agentVersion: '0.1.0',
    simulated: true,
    joinTokenId: null,
    enrolledAt: T0 - 86_400_000,
    lastSeenAt: T0 - 1000,
    ackedSeq: 0,
    cordonReason: null,
    mode: 'agent',
  };
}

export function gpuSample(node: string, index: number, fields: Partial<GpuSample> = {}): GpuSample {
  return { ...gpuSampleOf({ ...emptyGpuSnapshot('nvidia', index), uuid: uuidOf(node, index) }), ...fields };
}

export function metricsOf(ts: number, gpus: GpuSample[], host: Partial<MetricsBody['host']> = {}): MetricsBody {
  return { ts, host: { cpuPct: 10, load1: 1, load5: 1, load15: 1, memoryUsedBytes: 1e10, memoryTotalBytes: 1e11, disks: [], net: [], ...host }, gpus };
}

/** An in-memory fleet: nodes, their status, labels and latest samples, set by the test. */
export class FakeFleet implements AlertFleet {
  readonly nodes = new Map<string, NodeRecord>();
  readonly statuses = new Map<string, NodeStatus>();
  readonly metrics = new Map<string, MetricsBody>();
  private readonly labelMaps = new Map<string, Record<string, string>>();

  add(node: NodeRecord, status: NodeStatus = 'READY'): NodeRecord {
    this.nodes.set(node.id, node);
    this.statuses.set(node.id, status);
    this.labelMaps.set(node.id, { hostname: node.hostname, ...node.userLabels });
    return node;
  }
  setLabels(id: string, labels: Record<string, string>): void {
    // A new object, as NodeRegistry does: the engine's selector cache keys on identity.
    this.labelMaps.set(id, { hostname: this.nodes.get(id)!.hostname, ...labels });
  }
  all(): NodeRecord[] {
    return [...this.nodes.values()];
  }
  get(id: string): NodeRecord | undefined {
    return this.nodes.get(id);
  }
  status(node: NodeRecord): NodeStatus {
    return this.statuses.get(node.id) ?? 'OFFLINE';
  }
  labelsOf(id: string): Record<string, string> {
    return this.labelMaps.get(id) ?? {};
  }
  isOnline(id: string): boolean {
    const s = this.statuses.get(id);
    return s === 'READY' || s === 'CORDONED';
  }
  latest = (id: string): MetricsBody | null => this.metrics.get(id) ?? null;
}

/** A settings store in memory (what SilenceBook persists through). */
export class MemorySettings {
  readonly values = new Map<string, string>();
  async getSetting(key: string): Promise<string | undefined> {
    return this.values.get(key);
  }
  async setSetting(key: string, value: string): Promise<void> {
    this.values.set(key, value);
  }
}

export function engineFor(yaml: string, fleet: FakeFleet, clock: TestClock, extra: Partial<AlertEngineOptions> = {}): AlertEngine {
  return new AlertEngine({
    rules: parseAlertRules(yaml, 'test.yaml', {}),
    fleet,
    leadership: SOLE_ALERT_SENDER,
    latestMetrics: fleet.latest,
    clock,
    evaluationIntervalMs: 0,
    externalUrl: () => 'https://fleet.example:7420',
    ...extra,
  });
}

export interface SeenPost {
  at: number;
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: unknown;
}

export interface Receiver {
  url: string;
  posts: SeenPost[];
  /** Resolves once `n` requests arrived. */
  waitFor(n: number, timeoutMs?: number): Promise<SeenPost[]>;
  close(): Promise<void>;
}

/**
 * A real HTTP receiver on a loopback port. `reply(n)` gives the status of the n-th request
 * (1-based); 'hang' never answers (for timeouts).
 */
export async function startReceiver(reply: (n: number) => number | 'hang' = () => 200): Promise<Receiver> {
  const posts: SeenPost[] = [];
  const waiters: Array<{ n: number; resolve: (p: SeenPost[]) => void }> = [];
  const hanging: Array<() => void> = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      posts.push({ at: Date.now(), method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: text ? JSON.parse(text) : null });
      for (const w of waiters.splice(0))
        if (posts.length >= w.n) w.resolve([...posts]);
        else waiters.push(w);
      const status = reply(posts.length);
      if (status === 'hang') {
        hanging.push(() => res.destroy());
        return;
      }
      res.writeHead(status, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    posts,
    waitFor(n, timeoutMs = 5000) {
      if (posts.length >= n) return Promise.resolve([...posts]);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`receiver got ${posts.length} of ${n} requests in ${timeoutMs} ms`)), timeoutMs);
        waiters.push({ n, resolve: (p) => (clearTimeout(timer), resolve(p)) });
      });
    },
    close() {
      for (const h of hanging) h();
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
