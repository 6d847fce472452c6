// Fanout benchmark: one control plane (this process) and N simulated agents (a child process).
// An operator key made here is the fleet root the agents trust (it travels in their join token);
// `echo ok` signed with it is submitted to every host R times over REST, and each time we measure
// from the POST to every host's result stored (the run final). Prints p50/p99 and writes
// bench/results/fanout-<N>.json. Targets (DESIGN.md §9): 1,000 hosts < 1 s, 10,000 < 5 s.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { decodeJoinToken, encodeJoinToken, generateEd25519, signCommand } from '@gpufleet/protocol';
import { resolveServerConfig, startServer } from '@gpufleet/server';
import { forkAgents, machineInfo, round, sleep } from './support.js';

const here = dirname(fileURLToPath(import.meta.url));

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export async function runFanoutBench(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      agents: { type: 'string', default: '1000' },
      runs: { type: 'string', default: '20' },
      exec: { type: 'string', default: 'sim' },
      seed: { type: 'string', default: '1' },
      timeout: { type: 'string', default: '120' },
    },
  });
  const agents = Number(values.agents);
  const runs = Number(values.runs);
  const timeoutS = Number(values.timeout);
  if (!Number.isInteger(agents) || agents < 1) throw new Error(`--agents must be a positive whole number, got '${values.agents}'`);
  if (!Number.isInteger(runs) || runs < 1 || runs > 1000) throw new Error(`--runs must be from 1 to 1000, got '${values.runs}'`);
  if (values.exec !== 'sim' && values.exec !== 'real')
    throw new Error(`--exec must be sim (hosts answer like echo, in-process) or real (each host spawns echo), got '${values.exec}'`);
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new Error(`--timeout must be seconds, got '${values.timeout}'`);

  const dataDir = mkdtempSync(join(tmpdir(), 'gpufleet-bench-fanout-'));
  const config = resolveServerConfig({ flags: { listen: '127.0.0.1:0', dataDir, logLevel: 'warn' } });
  const server = await startServer(config, { logger: false });
  const ctx = server.context;
  if (!('runs' in ctx) || !ctx.runs) throw new Error('this server has no runs service wired in (server.ts must create RunService)');
  const operator = generateEd25519();
  // The operator's key is the fleet root: it goes into the join token the agents enroll with.
  const created = decodeJoinToken((await server.createJoinToken({ reusable: true, labels: { bench: 'fanout' } })).token);
  const token = encodeJoinToken({ ...created, roots: [operator.did] });

  console.log(`fanout bench: ${agents} agents, ${runs} runs of \`echo ok\` to every host, exec ${values.exec}`);
  const agentProcess = await forkAgents(server, join(here, 'fanout-agents.ts'), [server.url, token, String(agents), values.seed!, values.exec!], agents);
  const { connectSeconds } = agentProcess;
  // Let the first inventories and metrics settle so they do not share the first runs.
  await sleep(3000);

  const adminToken = server.adminToken!;
  const finished = new Map<string, () => void>();
  const unsubscribe = ctx.hub.subscribe((e) => {
    if (e.type === 'run' && e.change === 'finished') finished.get(e.runId)?.();
  });

  /** One run: POST to final, plus the time until the last command frame left. */
  const oneRun = async () => {
    const payload = {
      v: 1 as const,
      runId: `bench-${randomBytes(8).toString('hex')}`,
      nonce: randomBytes(16).toString('hex'),
      issuedAt: Date.now(),
      ability: 'exec/run' as const,
      target: 'simulated=true',
      command: { kind: 'argv' as const, argv: ['echo', 'ok'] },
      env: {},
      cwd: null,
      timeoutMs: timeoutS * 1000,
      runAs: null,
      invoker: operator.did,
      capability: null,
    };
    const command = signCommand(payload, operator.privateKeyPem);
    const done = new Promise<number>((resolve) => finished.set(payload.runId, () => resolve(performance.now())));
    const t0 = performance.now();
    const res = await fetch(`${server.url}/api/v1/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ command }),
    });
    const submitted = performance.now();
    if (res.status !== 201) throw new Error(`submit answered ${res.status}: ${await res.text()}`);
    const body = (await res.json()) as { targets: unknown[] };
    if (body.targets.length !== agents) throw new Error(`the run has ${body.targets.length} targets, expected ${agents}`);
    const timer = sleep(timeoutS * 1000).then(() => -1);
    const end = await Promise.race([done, timer]);
    finished.delete(payload.runId);
    const view = await ctx.runs.get(payload.runId);
    if (end < 0) throw new Error(`run ${payload.runId} did not finish within ${timeoutS} s: ${JSON.stringify(view.counts)}`);
    const ok = view.counts.succeeded ?? 0;
    const firstProblem = view.targets?.find((t) => t.state !== 'succeeded');
    return {
      ms: end - t0,
      submitMs: submitted - t0,
      ok,
      counts: view.counts,
      problem: firstProblem ? `${firstProblem.hostname}: ${firstProblem.state} ${firstProblem.reason ?? ''}` : null,
    };
  };

  console.log(`  ${agents} agents connected in ${connectSeconds.toFixed(1)} s; warm-up run`);
  const warm = await oneRun();
  console.log(`  warm-up: ${warm.ms.toFixed(0)} ms (${warm.ok}/${agents} ok)${warm.problem ? `; e.g. ${warm.problem}` : ''}`);
  await sleep(1000);
  const samples: Array<{ ms: number; submitMs: number; ok: number }> = [];
  const cpu0 = process.cpuUsage();
  let rssMax = 0;
  for (let i = 0; i < runs; i++) {
    const r = await oneRun();
    samples.push(r);
    rssMax = Math.max(rssMax, process.memoryUsage().rss);
    if (r.ok !== agents) console.log(`  run ${i + 1}: only ${r.ok}/${agents} ok: ${JSON.stringify(r.counts)}; e.g. ${r.problem}`);
    // Give the outbox acks and store writes of this run a moment before the next one.
    await sleep(500);
  }
  const cpu = process.cpuUsage(cpu0);
  unsubscribe();
  const times = samples.map((s) => s.ms).sort((a, b) => a - b);
  const submits = samples.map((s) => s.submitMs).sort((a, b) => a - b);
  const result = {
    bench: 'fanout',
    at: new Date().toISOString(),
    machine: machineInfo(),
    agents,
    runs,
    exec: values.exec,
    command: 'echo ok',
    store: server.context.store.kind,
    connectSeconds: round(connectSeconds),
    allResultsMs: {
      min: round(times[0]!),
      p50: round(percentile(times, 50)),
      p99: round(percentile(times, 99)),
      max: round(times.at(-1)!),
      mean: round(times.reduce((a, b) => a + b, 0) / times.length),
    },
    submitMs: { p50: round(percentile(submits, 50)), p99: round(percentile(submits, 99)) },
    allSucceeded: samples.every((s) => s.ok === agents),
    serverCpuSecondsPerRun: round((cpu.user + cpu.system) / 1e6 / runs),
    serverRssMiB: round(rssMax / 2 ** 20),
    samplesMs: samples.map((s) => round(s.ms)),
  };
  console.table({
    agents: agents,
    runs: `${runs} (+1 warm-up)`,
    exec: values.exec,
    'POST -> all results, p50': `${result.allResultsMs.p50} ms`,
    'POST -> all results, p99': `${result.allResultsMs.p99} ms`,
    'min / max': `${result.allResultsMs.min} / ${result.allResultsMs.max} ms`,
    'POST answered (stored + sent), p50': `${result.submitMs.p50} ms`,
    'every host ok in every run': result.allSucceeded,
    'server CPU per run': `${result.serverCpuSecondsPerRun} s`,
    'server RSS (max)': `${result.serverRssMiB} MiB`,
  });
  mkdirSync(join(here, 'results'), { recursive: true });
  const file = join(here, 'results', `fanout-${agents}${values.exec === 'real' ? '-real' : ''}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`written ${file}`);

  await agentProcess.stop();
  await server.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
