// What a sorted page of the node table and its sparklines cost with a large fleet registered.
// A real server (HTTP, auth, validation, views, JSON) with N nodes put straight into its
// registry and metric store (no agents: this measures the read path, not the gateway):
//   npx tsx bench/node-list-sort.ts [--nodes 10000] [--gpus 8] [--samples 90] [--requests 40]
// writes bench/results/node-list-sort.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { emptyGpuSnapshot, gpuInfoOf, gpuSampleOf, type MetricsBody } from '@gpufleet/protocol';
import { startTestServer, type TestServer } from '../packages/server/src/testing/test-server.js';
import type { NodeRecord } from '../packages/server/src/store/store.js';
import { machineInfo, percentile, round } from './support.js';

const here = dirname(fileURLToPath(import.meta.url));

function node(i: number, gpus: number, now: number): NodeRecord {
  const hostname = `bench-${String(i).padStart(5, '0')}`;
  // Base58 has no 0, O, I or l: the index is spelled in letters it does have.
  const id = `did:key:z6Mk${String(i)
    .replace(/\d/g, (d) => 'abcdefghij'[Number(d)]!)
    .padStart(44, 'x')}`;
  return {
    id,
    hostname,
    adminState: 'active',
    tokenLabels: {},
    userLabels: { rack: `r${i % 40}` },
    facts: {
      hostname,
      os: { id: 'debian', name: 'Debian', version: '12' },
      kernel: '6.1',
      arch: 'x64',
      cpu: { model: 'x', cores: 64, threads: 128 },
      memoryTotalBytes: 2 ** 40,
      disks: [],
      network: [],
      containerRuntime: null,
      agentVersion: 'bench',
      bootTime: null,
    },
    gpus: Array.from({ length: gpus }, (_, g) =>
      gpuInfoOf({ ...emptyGpuSnapshot('nvidia', g), uuid: `GPU-${i}-${g}`, pciBusId: `0000:${(0x17 + g).toString(16)}:00.0`, name: 'NVIDIA H100 80GB HBM3' }),
    ),
    toolFailures: [],
    agentVersion: 'bench',
    simulated: true,
    joinTokenId: null,
    enrolledAt: now,
    lastSeenAt: null,
    ackedSeq: 0,
    cordonReason: null,
    mode: 'agent',
  };
}

function sample(i: number, k: number, gpus: number, ts: number): MetricsBody {
  // Deterministic readings that differ per node and move per sample; every tenth node is silent.
  const g = Array.from({ length: gpus }, (_, j) => ({
    ...gpuSampleOf({ ...emptyGpuSnapshot('nvidia', j), uuid: `GPU-${i}-${j}` }),
    utilizationPct: (i * 7 + j * 13 + k) % 101,
    temperatureC: 35 + ((i * 3 + j + k) % 50),
    powerDrawW: 100 + ((i + j * 5 + k) % 600),
  }));
  return { ts, host: { cpuPct: 10, load1: 1, load5: 1, load15: 1, memoryUsedBytes: 1e10, memoryTotalBytes: 1e11, disks: [], net: [] }, gpus: g };
}

async function time(t: TestServer, path: string, requests: number): Promise<{ p50Ms: number; p95Ms: number; maxMs: number; bytes: number }> {
  const ms: number[] = [];
  let bytes = 0;
  for (let i = 0; i < requests + 3; i++) {
    const start = performance.now();
    const r = await t.api('GET', path);
    const took = performance.now() - start;
    if (r.status !== 200) throw new Error(`${path}: HTTP ${r.status} ${r.text.slice(0, 200)}`);
    bytes = r.text.length;
    if (i >= 3) ms.push(took); // the first ones warm the JIT
  }
  ms.sort((a, b) => a - b);
  return { p50Ms: round(percentile(ms, 50)), p95Ms: round(percentile(ms, 95)), maxMs: round(ms.at(-1)!), bytes };
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      nodes: { type: 'string', default: '10000' },
      gpus: { type: 'string', default: '8' },
      samples: { type: 'string', default: '90' },
      requests: { type: 'string', default: '40' },
    },
  });
  const nodes = Number(values.nodes);
  const gpus = Number(values.gpus);
  const samples = Number(values.samples);
  const requests = Number(values.requests);
  // 15 minutes of history is what the sparklines read; a longer retention only costs memory here.
  const t = await startTestServer({ metricsRetention: '15m' });
  try {
    const { registry, metrics } = t.server.context;
    const now = Date.now();
    const loadStart = performance.now();
    for (let i = 0; i < nodes; i++) {
      const n = node(i, gpus, now);
      await registry.add(n);
      if (i % 10 === 9) continue;
      for (let k = 0; k < samples; k++) metrics.ingest(n.id, sample(i, k, gpus, now - (samples - k) * 10_000));
      registry.seen(n.id);
    }
    console.log(`${nodes} nodes x ${gpus} GPUs registered, ${samples} samples each, in ${round((performance.now() - loadStart) / 1000)} s`);

    for (let i = 0; i < 5; i++) registry.list({ sort: '-util', limit: 200 }); // JIT warm-up
    const listStart = performance.now();
    for (let i = 0; i < requests; i++) registry.list({ sort: '-util', limit: 200 });
    const registryListMs = round((performance.now() - listStart) / requests);

    const firstPage = (await t.api('GET', '/api/v1/nodes?sort=-util&limit=200')).body.items as { id: string }[];
    const ids = firstPage.map((n) => n.id.replace(/^did:key:/, '')).join(',');
    const result = {
      bench: 'node-list-sort',
      machine: machineInfo(),
      nodes,
      gpusPerNode: gpus,
      samplesPerNode: samples,
      requests,
      registryListSortUtilMs: registryListMs,
      http: {
        'GET /api/v1/nodes?limit=200': await time(t, '/api/v1/nodes?limit=200', requests),
        'GET /api/v1/nodes?sort=-util&limit=200': await time(t, '/api/v1/nodes?sort=-util&limit=200', requests),
        'GET /api/v1/nodes?sort=-temp&limit=200&offset=9800': await time(t, '/api/v1/nodes?sort=-temp&limit=200&offset=9800', requests),
        'GET /api/v1/nodes?sort=hostname&limit=200': await time(t, '/api/v1/nodes?sort=hostname&limit=200', requests),
        'GET /api/v1/sparklines (200 ids, 15m, 30 points)': await time(t, `/api/v1/sparklines?ids=${ids}&since=15m&points=30`, requests),
        'GET /api/v1/fleet/heatmap (every GPU)': await time(t, '/api/v1/fleet/heatmap', Math.min(requests, 10)),
      },
    };
    console.log(JSON.stringify(result, null, 2));
    mkdirSync(join(here, 'results'), { recursive: true });
    writeFileSync(join(here, 'results', 'node-list-sort.json'), `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await t.close();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
