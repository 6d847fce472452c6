// End-to-end placement benchmark (issue 10): one control plane (this process) and N simulated
// hosts (a child process: the real agent with the simulator's fake executors). An operator key
// made here is the fleet root; a job of M single-GPU allocations, signed with it, is submitted
// over REST, and we measure from the POST to every allocation `running` as the server reports
// it (the hosts verified the signed job and the placement, started the fake workload, and their
// reports came back through the outbox). Each run then stops and purges the job and waits for
// its allocations to end before the next one.
//   npm run bench -- placement --e2e [--hosts 1000] [--gpus 8] [--e2e-allocs 1000] [--e2e-runs 3]
// Prints a table and one JSON line, writes bench/results/placement-e2e-<hosts>.json.
// Target (DESIGN.md §9, issue 10): 1,000 single-GPU allocations running on 1,000 hosts in < 5 s.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { generateEd25519, parseJobFile, signJob, type AllocationView, type JobPayload, type JobSummaryView, type SubmitJobResponse } from '@gpufleet/protocol';
import { resolveServerConfig, startServer } from '@gpufleet/server';
import { forkAgents, machineInfo, percentile, round, sleep } from './support.js';

const here = dirname(fileURLToPath(import.meta.url));
const POLL_MS = 50;

interface RunResult {
  job: string;
  /** POST /jobs answered (stored, planned, placements sent). */
  submitMs: number;
  placed: number;
  /** From the POST to the server seeing every allocation running; null when it timed out. */
  allRunningMs: number | null;
  running: number;
  /** When each allocation last changed (became running), from the POST: p50 / p99 / max. */
  perAllocMs: { p50: number; p99: number; max: number };
  problem: string | null;
}

export async function runPlacementE2e(argv: string[]): Promise<void> {
  // Not strict: bench/placement.ts hands over its whole command line (--nodes, --allocs are its own).
  const { values } = parseArgs({
    args: argv,
    strict: false,
    options: {
      hosts: { type: 'string', default: '1000' },
      gpus: { type: 'string', default: '8' },
      'e2e-allocs': { type: 'string' },
      'e2e-runs': { type: 'string', default: '3' },
      'e2e-timeout': { type: 'string', default: '60' },
      seed: { type: 'string', default: '1' },
    },
  });
  const hosts = Number(values.hosts);
  const gpus = Number(values.gpus);
  const allocs = Number(values['e2e-allocs'] ?? values.hosts);
  const runs = Number(values['e2e-runs']);
  const timeoutS = Number(values['e2e-timeout']);
  const seed = Number(values.seed);
  if (!Number.isInteger(hosts) || hosts < 1 || hosts > 20_000) throw new Error(`--hosts must be from 1 to 20000, got '${values.hosts}'`);
  if (!Number.isInteger(gpus) || gpus < 1 || gpus > 64) throw new Error(`--gpus must be from 1 to 64, got '${values.gpus}'`);
  if (!Number.isInteger(allocs) || allocs < 1 || allocs > hosts * gpus)
    throw new Error(`--e2e-allocs must be from 1 to hosts x GPUs (${hosts * gpus}), got '${values['e2e-allocs']}'`);
  if (!Number.isInteger(runs) || runs < 1 || runs > 100) throw new Error(`--e2e-runs must be from 1 to 100, got '${values['e2e-runs']}'`);
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new Error(`--e2e-timeout must be seconds, got '${values['e2e-timeout']}'`);
  if (!Number.isInteger(seed)) throw new Error(`--seed must be a whole number, got '${values.seed}'`);

  const dataDir = mkdtempSync(join(tmpdir(), 'gpufleet-bench-placement-e2e-'));
  const config = resolveServerConfig({ flags: { listen: '127.0.0.1:0', dataDir, logLevel: 'warn' } });
  const server = await startServer(config, { logger: false });
  const adminToken = server.adminToken;
  if (!adminToken) throw new Error('the fresh server made no admin token');
  const api = async <T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: T }> => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
  };

  let agents: Awaited<ReturnType<typeof forkAgents>> | null = null;
  try {
    // The operator's key becomes the fleet root before any host joins: join tokens carry the roots.
    const operator = generateEd25519();
    const root = await api('POST', '/api/v1/roots/init', { did: operator.did });
    if (root.status !== 201 && root.status !== 200) throw new Error(`roots init answered ${root.status}: ${JSON.stringify(root.body)}`);
    const { token } = await server.createJoinToken({ reusable: true, labels: { bench: 'placement-e2e' } });

    console.log(`placement e2e bench: ${hosts} simulated hosts x ${gpus} GPUs (fake executors), jobs of ${allocs} single-GPU allocations, ${runs} runs`);
    agents = await forkAgents(server, join(here, 'placement-e2e-agents.ts'), [server.url, token, String(hosts), String(seed), String(gpus)], hosts);
    console.log(`  ${hosts} agents connected in ${agents.connectSeconds.toFixed(1)} s`);
    await waitForInventories(api, hosts, gpus);
    // Let the first inventories and metrics settle so they do not share the first run.
    await sleep(3000);

    // Other work on the machine shows in these figures: say how busy it was.
    const loadBefore = loadavg()[0]!;
    const results: RunResult[] = [];
    const cpu0 = process.cpuUsage();
    let rssMax = 0;
    for (let i = 0; i <= runs; i++) {
      const warm = i === 0;
      const r = await oneRun(api, operator, `e2e-${warm ? 'warm' : i}`, allocs, timeoutS);
      rssMax = Math.max(rssMax, process.memoryUsage().rss);
      const line = `${r.allRunningMs === null ? `NOT all running after ${timeoutS} s` : `${round(r.allRunningMs)} ms`} (${r.running}/${allocs} running, POST ${round(r.submitMs)} ms)${r.problem ? `; ${r.problem}` : ''}`;
      console.log(`  ${warm ? 'warm-up' : `run ${i}`}: ${line}`);
      if (!warm) results.push(r);
      await stopAndPurge(api, r.job, timeoutS);
    }
    const cpu = process.cpuUsage(cpu0);

    const done = results.filter((r) => r.allRunningMs !== null).map((r) => r.allRunningMs!);
    const sorted = [...done].sort((a, b) => a - b);
    const result = {
      bench: 'placement-e2e',
      at: new Date().toISOString(),
      machine: machineInfo(),
      loadAverage1m: { before: round(loadBefore), after: round(loadavg()[0]!) },
      hosts,
      gpusPerHost: gpus,
      allocations: allocs,
      runs,
      store: server.context.store.kind,
      executor: 'simulated (fake container executor, 5-50 ms start)',
      connectSeconds: round(agents.connectSeconds),
      allRunningMs: sorted.length === 0 ? null : { min: round(sorted[0]!), p50: round(percentile(sorted, 50)), max: round(sorted.at(-1)!) },
      submitMs: {
        p50: round(
          percentile(
            results.map((r) => r.submitMs).sort((a, b) => a - b),
            50,
          ),
        ),
      },
      everyRunComplete: results.every((r) => r.allRunningMs !== null),
      targetMet: results.every((r) => r.allRunningMs !== null && r.allRunningMs < 5000),
      serverCpuSecondsPerRun: round((cpu.user + cpu.system) / 1e6 / (runs + 1)),
      serverRssMiB: round(rssMax / 2 ** 20),
      samples: results.map((r) => ({
        allRunningMs: r.allRunningMs === null ? null : round(r.allRunningMs),
        submitMs: round(r.submitMs),
        perAllocMs: r.perAllocMs,
      })),
    };
    console.table({
      'hosts x GPUs': `${hosts} x ${gpus}`,
      'allocations per job': allocs,
      runs: `${runs} (+1 warm-up)`,
      'POST -> all running, p50': result.allRunningMs ? `${result.allRunningMs.p50} ms` : 'n/a',
      'min / max': result.allRunningMs ? `${result.allRunningMs.min} / ${result.allRunningMs.max} ms` : 'n/a',
      'POST answered (placed + sent), p50': `${result.submitMs.p50} ms`,
      'every allocation running in every run': result.everyRunComplete,
      'target < 5 s met': result.targetMet,
      'server CPU per run': `${result.serverCpuSecondsPerRun} s`,
      'server RSS (max)': `${result.serverRssMiB} MiB`,
      'load average (1 min) before / after': `${result.loadAverage1m.before} / ${result.loadAverage1m.after}`,
    });
    console.log(JSON.stringify(result));
    mkdirSync(join(here, 'results'), { recursive: true });
    const file = join(here, 'results', `placement-e2e-${hosts}.json`);
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`written ${file}`);
  } finally {
    await agents?.stop();
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

type Api = <T>(method: 'GET' | 'POST', path: string, body?: unknown) => Promise<{ status: number; body: T }>;

/** Waits until the server lists every host with its GPUs: a placement before that would find fewer nodes. */
async function waitForInventories(api: Api, hosts: number, gpus: number): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const r = await api<{ total?: number }>('GET', '/api/v1/gpus?limit=1');
    const n = typeof r.body?.total === 'number' ? r.body.total : 0;
    if (n >= hosts * gpus) return;
    if (Date.now() > deadline) throw new Error(`only ${n} of ${hosts * gpus} GPUs listed after 2 minutes`);
    await sleep(500);
  }
}

/** One job: sign, POST, then poll the job until every allocation runs (or the timeout). */
async function oneRun(api: Api, operator: { did: string; privateKeyPem: string }, name: string, allocs: number, timeoutS: number): Promise<RunResult> {
  const source = `name: ${name}\nallocations:\n  web:\n    count: ${allocs}\n    image: bench/sim-workload:1\n    resources: { gpus: 1 }\n`;
  const payload: JobPayload = {
    v: 1,
    job: parseJobFile(source, { file: `${name}.yaml` }),
    issuedAt: Date.now(),
    nonce: randomBytes(16).toString('hex'),
    invoker: operator.did,
    capability: null,
  };
  const signed = signJob(payload, operator.privateKeyPem);
  const startedAt = Date.now();
  const t0 = performance.now();
  const res = await api<SubmitJobResponse>('POST', '/api/v1/jobs', { signed, source });
  const submitMs = performance.now() - t0;
  if (res.status !== 201 && res.status !== 200) throw new Error(`submit answered ${res.status}: ${JSON.stringify(res.body).slice(0, 500)}`);
  const placed = Array.isArray(res.body.plan?.placements) ? res.body.plan.placements.length : 0;
  const failure = res.body.plan?.failures?.[0]?.message ?? null;

  let allRunningMs: number | null = null;
  let running = 0;
  const deadline = t0 + timeoutS * 1000;
  while (performance.now() < deadline) {
    const r = await api<{ items: JobSummaryView[] }>('GET', '/api/v1/jobs');
    const job = Array.isArray(r.body?.items) ? r.body.items.find((j) => j.name === name) : undefined;
    running = job?.running ?? 0;
    if (running >= allocs) {
      allRunningMs = performance.now() - t0;
      break;
    }
    await sleep(POLL_MS);
  }
  // When each allocation last changed (it became running): the spread behind the total.
  const list = await api<{ items: AllocationView[] }>('GET', `/api/v1/allocations?job=${encodeURIComponent(name)}`);
  const items = Array.isArray(list.body?.items) ? list.body.items : [];
  const times = items
    .filter((a) => a.status === 'running')
    .map((a) => Date.parse(a.updatedAt) - startedAt)
    .sort((a, b) => a - b);
  const notRunning = items.find((a) => a.status !== 'running');
  return {
    job: name,
    submitMs,
    placed,
    allRunningMs,
    running,
    perAllocMs: { p50: round(percentile(times, 50)), p99: round(percentile(times, 99)), max: round(times.at(-1) ?? Number.NaN) },
    problem:
      placed < allocs
        ? `only ${placed} placed: ${failure ?? 'no reason given'}`
        : notRunning
          ? `e.g. ${notRunning.name} on ${notRunning.hostname} is ${notRunning.status}: ${notRunning.message}`
          : null,
  };
}

/** Stops and purges the job, then waits until none of its allocations is active (their GPUs are free again). */
async function stopAndPurge(api: Api, name: string, timeoutS: number): Promise<void> {
  const r = await api('POST', `/api/v1/jobs/${encodeURIComponent(name)}/stop`, { purge: true, reason: 'benchmark run done' });
  if (r.status !== 200 && r.status !== 204) throw new Error(`stopping ${name} answered ${r.status}: ${JSON.stringify(r.body).slice(0, 300)}`);
  const deadline = Date.now() + timeoutS * 1000;
  for (;;) {
    const left = await api<{ items: AllocationView[] }>('GET', '/api/v1/allocations?active=true');
    const n = Array.isArray(left.body?.items) ? left.body.items.length : 0;
    if (n === 0) return;
    if (Date.now() > deadline) throw new Error(`${n} allocations still active ${timeoutS} s after stopping ${name}`);
    await sleep(200);
  }
}
