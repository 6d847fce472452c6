// Rollout benchmark (issue 14): one control plane (this process, HTTPS with its own CA) and N
// simulated hosts (a child process). A bundle is published in the TUF repository, then rolled out
// to every host in waves with a short healthy-for; each host fetches timestamp, snapshot, targets
// and the bundle over HTTPS (hosts of a wave at once) and reports verifying, installing, healthy.
// Prints time per wave and in all, the server's CPU and the bytes served; writes
// bench/results/rollout-<N>.json.
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { bundleTargetPath, decodeJoinToken, generateEd25519, parseDurationMs, RolloutPlan, signRollout } from '@gpufleet/protocol';
import { initKeyDir, latestRoot, nextTargets, readKeyDir, resolveServerConfig, startServer } from '@gpufleet/server';
import { freePort } from '../packages/server/src/testing/free-port.js';
import { forkAgents, machineInfo, round, sleep } from './support.js';

const here = dirname(fileURLToPath(import.meta.url));
const DAY = 86_400_000;

export async function runRolloutBench(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      hosts: { type: 'string', default: '1000' },
      canary: { type: 'string', default: '0' },
      waves: { type: 'string', default: '10,50,100' },
      'healthy-for': { type: 'string', default: '2s' },
      'bundle-kib': { type: 'string', default: '256' },
      step: { type: 'string', default: '50ms' },
      seed: { type: 'string', default: '1' },
      timeout: { type: 'string', default: '600' },
      tls: { type: 'string', default: 'on' },
    },
  });
  const hosts = Number(values.hosts);
  if (!Number.isInteger(hosts) || hosts < 1) throw new Error(`--hosts must be a positive whole number, got '${values.hosts}'`);
  const bundleKiB = Number(values['bundle-kib']);
  if (!Number.isInteger(bundleKiB) || bundleKiB < 1 || bundleKiB > 100 * 1024)
    throw new Error(`--bundle-kib must be from 1 to 102400, got '${values['bundle-kib']}'`);
  const plan = RolloutPlan.parse({
    canary: Number(values.canary),
    waves: values.waves!.split(',').map((w) => Number(w.replace('%', ''))),
    healthyForMs: parseDurationMs(values['healthy-for']!),
    maxFailures: 0,
  });
  const stepMs = parseDurationMs(values.step!);
  const timeoutMs = Number(values.timeout) * 1000;

  if (values.tls !== 'on' && values.tls !== 'off') throw new Error(`--tls must be on or off, got '${values.tls}'`);
  const tls = values.tls === 'on';

  const dataDir = mkdtempSync(join(tmpdir(), 'gpufleet-bench-rollout-'));
  // Beyond loopback the server serves HTTPS with a CA of its own: hosts fetch releases as they would in a fleet.
  const port = await freePort(tls ? '0.0.0.0' : '127.0.0.1');
  const listen = tls ? { listen: `0.0.0.0:${port}`, publicUrl: `https://127.0.0.1:${port}` } : { listen: `127.0.0.1:${port}` };
  const config = resolveServerConfig({ flags: { ...listen, dataDir, logLevel: 'warn' } });
  const server = await startServer(config, { logger: false, masterKey: 'bench-rollout-master-key-0123456789' });
  const ctx = server.context;
  if (tls && !ctx.caPem) throw new Error('the server did not start with TLS');
  const caFile = tls ? join(dataDir, 'bench-ca.pem') : '';
  if (tls) writeFileSync(caFile, ctx.caPem!);
  const operator = generateEd25519();
  const audit = { actor: 'bench', note: async () => undefined };
  // The operator's key is the fleet root: the server checks the rollout against it, and the join token carries it to the hosts.
  await ctx.trust.roots.init(operator.did, audit);
  const { token } = await server.createJoinToken({ reusable: true, labels: { bench: 'rollout' } });
  if (!decodeJoinToken(token).roots?.includes(operator.did)) throw new Error('the join token does not carry the fleet root');

  // The release: keys made here (as `releases keys init`), uploaded, and a bundle published.
  const keysDir = join(dataDir, 'release-keys');
  initKeyDir({ dir: keysDir, validMs: 30 * DAY, now: Date.now() });
  const kd = readKeyDir(keysDir);
  await ctx.releases.uploadKeys(
    {
      roots: kd.roots.map((r) => JSON.parse(readFileSync(r.file, 'utf8'))),
      snapshotKey: kd.snapshot!.key.privateKeyPem,
      timestampKey: kd.timestamp!.key.privateKeyPem,
    },
    audit,
  );
  const bytes = new Uint8Array(randomBytes(bundleKiB * 1024));
  const path = bundleTargetPath('bench', '1');
  const md = nextTargets({
    current: null,
    root: latestRoot(kd),
    key: kd.targets!.key,
    add: { path, bytes, custom: { kind: 'bundle', name: 'bench', version: '1' } },
    validMs: 30 * DAY,
    now: Date.now(),
  });
  await ctx.releases.publish({ targets: md.toJSON() as Record<string, unknown>, files: [{ path, data: Buffer.from(bytes).toString('base64') }] }, audit);
  const sha256 = createHash('sha256').update(bytes).digest('hex');

  console.log(
    `rollout bench: ${hosts} hosts, bundle of ${bundleKiB} KiB, canary ${plan.canary}, waves ${plan.waves.join(',')}%, healthy-for ${plan.healthyForMs} ms`,
  );
  const agents = await forkAgents(server, join(here, 'rollout-agents.ts'), [server.url, token, String(hosts), values.seed!, caFile, String(stepMs)], hosts);
  console.log(`  ${hosts} agents connected in ${agents.connectSeconds.toFixed(1)} s`);
  await sleep(3000);

  const signed = signRollout(
    {
      v: 1,
      release: { kind: 'bundle', name: 'bench', version: '1' },
      target: { path, sha256 },
      selector: 'bench=rollout',
      plan,
      issuedAt: Date.now(),
      nonce: randomBytes(16).toString('hex'),
      invoker: operator.did,
      capability: null,
    },
    operator.privateKeyPem,
  );
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const started = await ctx.rollouts.create(signed, 'bench');
  const createMs = performance.now() - t0;
  let rssMax = 0;
  for (;;) {
    rssMax = Math.max(rssMax, process.memoryUsage().rss);
    const r = await ctx.store.getRollout(started.id);
    if (r && r.state !== 'running') break;
    if (performance.now() - t0 > timeoutMs)
      throw new Error(`the rollout did not finish within ${timeoutMs / 1000} s: ${JSON.stringify((await ctx.rollouts.get(started.id)).counts)}`);
    await sleep(100);
  }
  const totalMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const final = await ctx.rollouts.get(started.id);
  agents.child.send({ stats: true });
  const stats = await new Promise<{ bytesFetched: number; fetchErrors: number }>((resolve) =>
    agents.child.on('message', (m: { bytesFetched?: number; fetchErrors?: number }) => {
      if (typeof m.bytesFetched === 'number') resolve({ bytesFetched: m.bytesFetched, fetchErrors: m.fetchErrors ?? 0 });
    }),
  );
  const waves = final.steps.map((s) => {
    const ms = Date.parse(s.doneAt!) - Date.parse(s.startedAt!);
    return { name: s.name, hosts: s.hosts, ms, toAllHealthyMs: ms - plan.healthyForMs };
  });
  const result = {
    bench: 'rollout',
    at: new Date().toISOString(),
    machine: machineInfo(),
    hosts,
    store: ctx.store.kind,
    tls,
    bundleBytes: bytes.length,
    plan,
    simulatedStepMs: stepMs,
    state: final.state,
    counts: final.counts,
    connectSeconds: round(agents.connectSeconds),
    startAnsweredMs: round(createMs),
    totalMs: round(totalMs),
    waves: waves.map((w) => ({ ...w, ms: round(w.ms), toAllHealthyMs: round(w.toAllHealthyMs) })),
    serverCpuSeconds: round((cpu.user + cpu.system) / 1e6),
    serverRssMiB: round(rssMax / 2 ** 20),
    bytesServed: stats.bytesFetched,
    bytesServedPerHost: Math.round(stats.bytesFetched / hosts),
    fetchErrors: stats.fetchErrors,
  };
  const table: Record<string, string | number> = { hosts, state: final.state, 'start answered (stored, canary frames out)': `${result.startAnsweredMs} ms` };
  for (const w of result.waves) table[`${w.name}: ${w.hosts} hosts`] = `${w.ms} ms (all healthy after ${w.toAllHealthyMs} ms)`;
  Object.assign(table, {
    'total (start to succeeded)': `${result.totalMs} ms`,
    'server CPU during the rollout': `${result.serverCpuSeconds} s`,
    'server RSS (max)': `${result.serverRssMiB} MiB`,
    'bytes served (metadata + bundle)': `${(stats.bytesFetched / 2 ** 20).toFixed(1)} MiB (${result.bytesServedPerHost} per host)`,
    'fetch errors': stats.fetchErrors,
  });
  console.table(table);
  mkdirSync(join(here, 'results'), { recursive: true });
  const file = join(here, 'results', `rollout-${hosts}${tls ? '' : '-http'}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`written ${file}`);

  await agents.stop();
  await server.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
