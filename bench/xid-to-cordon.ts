// XID-to-cordon benchmark: one control plane (this process) and a simulated fleet (a child
// process) whose agents each watch their own fake kernel log. Fatal XID lines are written into
// the logs of hosts picked at random; for each, the time from the line written to (a) the GPU
// CORDONED/UNHEALTHY on the server and (b) the GpuUnhealthy alert firing. Prints p50/p95/p99/max
// and writes bench/results/xid-to-cordon.json. Target: p99 < 1 s.
import { fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseDurationMs, xidSeverity } from '@gpufleet/protocol';
import { resolveServerConfig, startServer } from '@gpufleet/server';
import { hashString, mulberry32 } from '@gpufleet/sim';
import { machineInfo, round, sleep } from './support.js';

const here = dirname(fileURLToPath(import.meta.url));
const preciseNow = () => performance.timeOrigin + performance.now();
const ALERT_RULE = 'GpuUnhealthy';

interface Injection {
  id: number;
  host: string;
  nodeId: string;
  gpu: number;
  gpuKey: string;
  sentAt: number;
  writtenAt: number | null;
  verdictAt: number | null;
  cordonAt: number | null;
  alertAt: number | null;
  error: string | null;
}

export async function runXidToCordonBench(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      hosts: { type: 'string', default: '1000' },
      injections: { type: 'string', default: '100' },
      interval: { type: 'string', default: '100ms' },
      code: { type: 'string', default: '79' },
      seed: { type: 'string', default: '1' },
      timeout: { type: 'string', default: '10s' },
    },
  });
  const hosts = Number(values.hosts);
  const injections = Number(values.injections);
  const code = Number(values.code);
  const seed = Number(values.seed);
  if (!Number.isInteger(hosts) || hosts < 1) throw new Error(`--hosts must be a positive whole number, got '${values.hosts}'`);
  if (!Number.isInteger(injections) || injections < 1 || injections > hosts * 8)
    throw new Error(`--injections must be from 1 to ${hosts * 8} (hosts x 8 GPUs), got '${values.injections}'`);
  if (!Number.isInteger(code) || xidSeverity(code) !== 'critical')
    throw new Error(`--code must be a fatal XID (catalog severity critical), e.g. 79, 48, 95, 119; got '${values.code}'`);
  const intervalMs = parseDurationMs(values.interval!);
  const timeoutMs = parseDurationMs(values.timeout!);

  const dataDir = mkdtempSync(join(tmpdir(), 'gpufleet-bench-xid-'));
  const config = resolveServerConfig({ flags: { listen: '127.0.0.1:0', dataDir, logLevel: 'warn' } });
  const server = await startServer(config, { logger: false });
  const ctx = server.context;
  const { token } = await server.createJoinToken({ reusable: true, labels: { bench: 'xid-to-cordon' } });

  console.log(
    `xid-to-cordon bench: ${hosts} hosts x 8 GPUs, ${injections} XID ${code} injections every ${intervalMs} ms; agents poll their kernel log every 100 ms`,
  );
  const started = Date.now();
  const child = fork(join(here, 'xid-to-cordon-agents.ts'), [server.url, token, String(hosts), String(seed), join(dataDir, 'kernel')], {
    execArgv: ['--import', 'tsx', '--max-old-space-size=8192'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const childDone = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  type HostInfo = { hostname: string; nodeId: string; gpus: Array<{ index: number; uuid: string }> };
  // Filled in by the child's ready message (an object, so the type survives the callback).
  const fleet: { hosts: HostInfo[] | null } = { hosts: null };
  const byId = new Map<number, Injection>();
  child.on('message', (msg: { ready?: boolean; hosts?: HostInfo[]; injected?: number; writtenAt?: number; error?: string }) => {
    if (msg.ready) fleet.hosts = msg.hosts!;
    if (msg.injected !== undefined) {
      const inj = byId.get(msg.injected);
      if (!inj) return;
      if (msg.error) inj.error = msg.error;
      else inj.writtenAt = msg.writtenAt!;
    }
  });

  try {
    // Phase 1: every agent connected with its inventory (the server must know each GPU's UUID).
    let lastPrint = 0;
    for (;;) {
      const withInventory = ctx.registry.all().filter((n) => n.gpus.length === 8).length;
      if (fleet.hosts && ctx.gateway.sessionCount >= hosts && withInventory >= hosts) break;
      if (Date.now() - lastPrint > 5000) {
        lastPrint = Date.now();
        console.log(
          `  connecting: ${ctx.gateway.sessionCount}/${hosts} sessions, ${withInventory} inventories (${((Date.now() - started) / 1000).toFixed(0)} s)`,
        );
      }
      if (Date.now() - started > 20 * 60_000) throw new Error('the fleet did not connect within 20 minutes');
      if (child.exitCode !== null) throw new Error(`the agent process exited with code ${child.exitCode}`);
      await sleep(250);
    }
    const connectSeconds = (Date.now() - started) / 1000;
    await sleep(2000); // let the staggered first samples settle

    // Phase 2: the injections, on hosts and GPUs drawn from the seed (one per host at most).
    const rng = mulberry32(hashString(`${seed}:xid-to-cordon`));
    const fleetHosts = fleet.hosts!;
    const order = fleetHosts.map((_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rng() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const plan: Injection[] = [];
    for (let k = 0; k < injections; k++) {
      const h = fleetHosts[order[k % order.length]!]!;
      const gpu = k < order.length ? Math.floor(rng() * 8) : (Math.floor(k / order.length) + Math.floor(rng() * 8)) % 8;
      const uuid = h.gpus.find((g) => g.index === gpu)!.uuid;
      plan.push({
        id: k,
        host: h.hostname,
        nodeId: h.nodeId,
        gpu,
        gpuKey: uuid,
        sentAt: 0,
        writtenAt: null,
        verdictAt: null,
        cordonAt: null,
        alertAt: null,
        error: null,
      });
    }
    const open = new Map<string, Injection[]>();
    const check = (nodeId: string) => {
      const list = open.get(nodeId);
      if (!list) return;
      const now = preciseNow();
      for (const inj of list) {
        if (inj.cordonAt === null && ctx.registry.states.gpuState(nodeId, inj.gpuKey) !== 'READY') inj.cordonAt = now;
        if (inj.alertAt === null) {
          for (const a of ctx.alerts.instances()) {
            if (a.nodeId === nodeId && a.gpu === inj.gpuKey && a.rule.name === ALERT_RULE && a.state === 'firing') inj.alertAt = now;
          }
        }
      }
      const left = list.filter((i) => i.cordonAt === null || i.alertAt === null);
      if (left.length === 0) open.delete(nodeId);
      else open.set(nodeId, left);
    };
    const unsubscribe = ctx.hub.subscribe((e) => {
      if (e.type === 'health' && e.verdict === 'unhealthy' && e.gpuKey !== null) {
        for (const inj of open.get(e.nodeId) ?? []) if (inj.gpuKey === e.gpuKey && inj.verdictAt === null) inj.verdictAt = preciseNow();
      }
      // After the event's other listeners (the alert engine among them) have run.
      if (e.type === 'health' || e.type === 'node') setImmediate(() => check(e.nodeId));
    });
    // A safety net for a state reached without a hub event of its own.
    const poll = setInterval(() => {
      for (const nodeId of [...open.keys()]) check(nodeId);
    }, 10);

    const t0 = Date.now();
    for (const inj of plan) {
      byId.set(inj.id, inj);
      open.set(inj.nodeId, [...(open.get(inj.nodeId) ?? []), inj]);
      inj.sentAt = preciseNow();
      child.send({ inject: { id: inj.id, host: inj.host, gpu: inj.gpu, code } });
      await sleep(intervalMs);
    }
    const deadline = Date.now() + timeoutMs;
    while (open.size > 0 && Date.now() < deadline) await sleep(50);
    clearInterval(poll);
    unsubscribe();
    const injectSeconds = (Date.now() - t0) / 1000;

    const done = plan.filter((i) => i.writtenAt !== null);
    const lat = (pick: (i: Injection) => number | null) =>
      done
        .map((i) => pick(i))
        .filter((v): v is number => v !== null)
        .map((v) => v);
    const cordon = lat((i) => (i.cordonAt === null ? null : i.cordonAt - i.writtenAt!));
    const alert = lat((i) => (i.alertAt === null ? null : i.alertAt - i.writtenAt!));
    const verdict = lat((i) => (i.verdictAt === null ? null : i.verdictAt - i.writtenAt!));
    const both = lat((i) => (i.cordonAt === null || i.alertAt === null ? null : Math.max(i.cordonAt, i.alertAt) - i.writtenAt!));
    const missed = plan
      .filter((i) => i.cordonAt === null || i.alertAt === null || i.writtenAt === null)
      .map((i) => `${i.host} GPU ${i.gpu}${i.error ? `: ${i.error}` : ''}`);
    const result = {
      bench: 'xid-to-cordon',
      at: new Date().toISOString(),
      machine: machineInfo(),
      hosts,
      gpusPerHost: 8,
      injections,
      xidCode: code,
      intervalMs,
      kernelLogPollMs: 100,
      connectSeconds: round(connectSeconds),
      injectSeconds: round(injectSeconds),
      lineToVerdictMs: stats(verdict),
      lineToCordonMs: stats(cordon),
      lineToAlertMs: stats(alert),
      lineToCordonAndAlertMs: stats(both),
      missed,
      targetP99Ms: 1000,
      targetMet: missed.length === 0 && stats(both).p99 < 1000,
    };
    console.table({
      'line -> verdict': row(result.lineToVerdictMs),
      'line -> GPU UNHEALTHY': row(result.lineToCordonMs),
      'line -> alert firing': row(result.lineToAlertMs),
      'line -> both': row(result.lineToCordonAndAlertMs),
    });
    console.log(`${done.length - missed.length}/${injections} injections cordoned and alerted; target p99 < 1 s: ${result.targetMet ? 'met' : 'NOT met'}`);
    if (missed.length > 0) console.log(`missed: ${missed.slice(0, 10).join('; ')}`);
    mkdirSync(join(here, 'results'), { recursive: true });
    const file = join(here, 'results', 'xid-to-cordon.json');
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`written ${file}`);
  } finally {
    child.send({ stop: true });
    await Promise.race([childDone, sleep(30_000)]);
    child.kill('SIGKILL');
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function stats(values: number[]): { n: number; p50: number; p95: number; p99: number; max: number; mean: number } {
  if (values.length === 0) return { n: 0, p50: NaN, p95: NaN, p99: NaN, max: NaN, mean: NaN };
  const s = [...values].sort((a, b) => a - b);
  const p = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil((q / 100) * s.length) - 1))]!;
  return { n: s.length, p50: round(p(50)), p95: round(p(95)), p99: round(p(99)), max: round(s.at(-1)!), mean: round(s.reduce((a, b) => a + b, 0) / s.length) };
}

function row(s: ReturnType<typeof stats>): Record<string, string> {
  return { n: String(s.n), p50: `${s.p50} ms`, p95: `${s.p95} ms`, p99: `${s.p99} ms`, max: `${s.max} ms` };
}
