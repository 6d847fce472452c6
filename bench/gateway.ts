// Gateway benchmark: one control plane (this process) and N simulated agents (a child process),
// each with 8 GPUs reporting every 10 s. Prints agents connected, frames/s, ingest lag p50/p99,
// server CPU % and RSS, and false OFFLINE transitions; writes JSON under bench/results/.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseDurationMs } from '@gpufleet/protocol';
import { resolveServerConfig, startServer } from '@gpufleet/server';
import { forkAgents, machineInfo, round, sleep } from './support.js';

const here = dirname(fileURLToPath(import.meta.url));

export async function runGatewayBench(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      agents: { type: 'string', default: '1000' },
      duration: { type: 'string', default: '60s' },
      retention: { type: 'string', default: '1h' },
      seed: { type: 'string', default: '1' },
    },
  });
  const agents = Number(values.agents);
  if (!Number.isInteger(agents) || agents < 1) throw new Error(`--agents must be a positive whole number, got '${values.agents}'`);
  const durationMs = parseDurationMs(values.duration!);
  const dataDir = mkdtempSync(join(tmpdir(), 'gpufleet-bench-'));
  const config = resolveServerConfig({ flags: { listen: '127.0.0.1:0', dataDir, logLevel: 'warn', metricsRetention: values.retention } });
  const server = await startServer(config, { logger: false });
  const ctx = server.context;
  const { token } = await server.createJoinToken({ reusable: true, labels: { bench: 'gateway' } });

  console.log(
    `gateway bench: ${agents} agents x 8 GPUs, metrics every ${config.metricsIntervalMs / 1000} s, heartbeat ${config.heartbeatIntervalMs / 1000} s, measuring ${durationMs / 1000} s`,
  );
  const agentProcess = await forkAgents(server, join(here, 'gateway-agents.ts'), [server.url, token, String(agents), values.seed!], agents);
  const { connectSeconds } = agentProcess;
  // Let the staggered first samples settle before measuring.
  await sleep(config.metricsIntervalMs);

  // Phase 2: steady state.
  const frames0 = ctx.stats.totalFrames();
  const metrics0 = ctx.stats.framesByType.get('metrics') ?? 0;
  const offline0 = ctx.registry.offlineTransitions;
  ctx.stats.resetLag();
  const cpu0 = process.cpuUsage();
  const t0 = Date.now();
  let rssMax = 0;
  let minSessions = Number.MAX_SAFE_INTEGER;
  while (Date.now() - t0 < durationMs) {
    await sleep(1000);
    rssMax = Math.max(rssMax, process.memoryUsage().rss);
    minSessions = Math.min(minSessions, ctx.gateway.sessionCount);
  }
  const wall = (Date.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const result = {
    bench: 'gateway',
    at: new Date().toISOString(),
    machine: machineInfo(),
    agents,
    gpusPerAgent: 8,
    metricsRetention: values.retention,
    connectSeconds: round(connectSeconds),
    agentsConnectedMin: minSessions,
    framesPerSecond: round((ctx.stats.totalFrames() - frames0) / wall),
    metricsFramesPerSecond: round(((ctx.stats.framesByType.get('metrics') ?? 0) - metrics0) / wall),
    ingestLagP50Ms: round(ctx.stats.lagPercentile(50) * 1000),
    ingestLagP99Ms: round(ctx.stats.lagPercentile(99) * 1000),
    serverCpuPercent: round(((cpu.user + cpu.system) / 1e6 / wall) * 100),
    serverRssMiB: round(rssMax / 2 ** 20),
    falseOfflineTransitions: ctx.registry.offlineTransitions - offline0,
    refusedFrames: Object.fromEntries(ctx.stats.refusedByReason),
  };
  console.table({
    'agents connected (min during run)': `${result.agentsConnectedMin} / ${agents}`,
    'connect time': `${result.connectSeconds} s`,
    'frames/s ingested': result.framesPerSecond,
    'metrics frames/s': result.metricsFramesPerSecond,
    'ingest lag p50': `${result.ingestLagP50Ms} ms`,
    'ingest lag p99': `${result.ingestLagP99Ms} ms`,
    'server CPU': `${result.serverCpuPercent} % of one core`,
    'server RSS (max)': `${result.serverRssMiB} MiB`,
    'false OFFLINE transitions': result.falseOfflineTransitions,
  });
  mkdirSync(join(here, 'results'), { recursive: true });
  const file = join(here, 'results', `gateway-${agents}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`written ${file}`);

  await agentProcess.stop();
  await server.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
