import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { relative, resolve } from 'node:path';
import { Command } from 'commander';
import { parseDurationMs } from '@gpufleet/protocol';
import type { CliDeps } from '../command-deps.js';
import { ApiClient } from '../api-client.js';
import { checkDuration, intOption } from '../args.js';
import { LOCAL_SERVER } from '../connection.js';
import { CliError } from '../errors.js';
import { cliVersion, listenError, stopInOrder, waitForInterrupt } from '../lifecycle.js';
import { startLocalAgent } from '../local-agent.js';
import { demoSimPaths, demoTryLines, ensureDemoRoot, faultLine, shownPath, type DemoRoot } from './demo-setup.js';

interface Part {
  name: string;
  stop: () => Promise<void>;
}

/** What the demo prints once everything runs: where to look and what to try. */
export function demoBanner(d: {
  url: string;
  adminToken: string;
  tokenFrom: 'new' | string;
  local: string;
  nodes: number;
  seed: number;
  envNeeded: boolean;
  /** Signing and fault lines (demoTryLines). */
  more?: string;
}): string {
  const tokenLine =
    d.tokenFrom === 'new' ? `${d.adminToken}  (shown once; also saved in the data dir)` : `${d.adminToken}  (made on an earlier run; read from ${d.tokenFrom})`;
  let text = `\ngpufleet demo is running\n\n`;
  text += `  API and dashboard   ${d.url}\n`;
  text += `  admin API token     ${tokenLine}\n`;
  text += `  this machine        ${d.local}\n`;
  text +=
    d.nodes > 0
      ? `  simulated fleet     ${d.nodes} hosts (seed ${d.seed}): H100, A100, L40S and MI300X machines\n\n`
      : '  simulated fleet     none (--nodes 0)\n\n';
  text += 'Try, in another terminal in this folder:\n\n';
  if (d.envNeeded) text += `  export GPUFLEET_SERVER=${d.url} GPUFLEET_TOKEN=${d.adminToken}\n`;
  // npx finds the bin npm linked in this checkout; `gpufleet` alone works once it is on PATH.
  text += '  npx gpufleet nodes ls\n  npx gpufleet gpus ls -l gpu.model=H100\n  npx gpufleet top\n\n';
  text += d.more ?? '';
  text += "Ctrl-C stops the simulated fleet, this machine's agent and the server, in that order.\n";
  return text;
}

export function demoCommand(deps: CliDeps): Command {
  return new Command('demo')
    .description('start a server, enroll this machine and a simulated fleet, and show what to try')
    .option('--nodes <n>', 'simulated hosts', intOption('--nodes', 0, 10_000), 24)
    .option('--data-dir <dir>', "server data (and this machine's agent state)", './gpufleet-data')
    .option('--seed <n>', 'random seed of the simulated fleet', intOption('--seed', 0, 2 ** 31 - 1), 1)
    .option('--listen <host:port>', 'server address', '127.0.0.1:7420')
    .option('--no-local-agent', "do not enroll this machine's real agent")
    .option('--no-faults', 'do not inject a random fault into the simulated fleet now and then')
    .option('--fault-interval <duration>', 'time between the random faults', '3m')
    .addHelpText(
      'after',
      `
Run it again with the same --data-dir and the fleet, tokens and admin token are still there.
The demo makes an operator key (DATA_DIR/demo-operator.key, unencrypted: for the demo only) and
makes it the fleet root before any host joins, so signed commands work at once. Simulated hosts
answer nvidia-smi (or amd-smi, rocm-smi) from their fake hardware; \`gpufleet sim inject\` puts a
fault on one, and the demo injects a random one every few minutes (--no-faults: none).

Examples:
  gpufleet demo                          24 simulated hosts plus this machine
  gpufleet demo --nodes 200 --seed 7     a bigger fleet
  gpufleet demo --no-faults              no random faults
  gpufleet demo --data-dir /tmp/fleet --listen 127.0.0.1:7500`,
    )
    .action(async (_opts, cmd: Command) => {
      const { io } = deps;
      const o = deps.opts<{ nodes: number; dataDir: string; seed: number; listen: string; localAgent: boolean; faults: boolean; faultInterval: string }>(cmd);
      const faultEveryMs = o.faults ? parseDurationMs(checkDuration(o.faultInterval, '--fault-interval')) : null;
      const agentVersion = cliVersion();
      const { resolveServerConfig, startServer } = await import('@gpufleet/server');
      const config = resolveServerConfig({ flags: { listen: o.listen, dataDir: resolve(io.cwd, o.dataDir), logLevel: 'warn' }, env: io.env });
      const parts: Part[] = [];
      const stopAll = () => stopInOrder(io, [...parts].reverse());
      try {
        io.err(`starting the control plane on ${o.listen} (data in ${config.dataDir})...\n`);
        // Pools applied to the demo may use `type: sim`: their hosts' kernel logs sit beside the demo
        // fleet's, and `gpufleet sim inject` reaches them as it reaches the fleet's.
        const sim = await import('@gpufleet/sim');
        const poolHosts = new sim.SimProviderHosts({ seed: o.seed });
        const simProvider = sim.makeSimProviderFactory({ hosts: poolHosts, kernelLogDir: demoSimPaths(config.dataDir).kernelLogs });
        const running = await startServer(config, { providers: { sim: simProvider } }).catch((err: unknown) => {
          throw listenError(err, o.listen);
        });
        parts.push({ name: 'control plane', stop: () => running.stop() });

        let adminToken = running.adminToken;
        let tokenFrom = 'new';
        if (!adminToken) {
          try {
            adminToken = readFileSync(running.adminTokenFile, 'utf8').trim();
          } catch (err) {
            throw new CliError(
              `the admin token was made on an earlier run but ${running.adminTokenFile} cannot be read (${(err as NodeJS.ErrnoException).code}): use another --data-dir`,
            );
          }
          tokenFrom = running.adminTokenFile;
        }
        // The root first: join tokens carry the roots, and hosts trust the roots their token carried.
        let root: DemoRoot | null = null;
        try {
          root = await ensureDemoRoot(new ApiClient({ server: running.url, token: adminToken, source: 'demo' }), config.dataDir, deps.now());
        } catch (err) {
          // Monitoring still works without it; only signed commands need a root.
          io.err(`warning: could not set up the demo's signing key and fleet root: ${(err as Error).message}\n`);
        }
        const { token: joinToken } = await running.createJoinToken({
          labels: { demo: 'true' },
          reusable: true,
          description: 'gpufleet demo',
          expiresIn: '24h',
        });

        let local = 'not enrolled (--no-local-agent)';
        if (o.localAgent) {
          io.err('enrolling this machine with its real hardware...\n');
          try {
            const agent = await startLocalAgent({ demoDataDir: config.dataDir, serverUrl: running.url, joinToken, agentVersion });
            parts.push({ name: "this machine's agent", stop: () => agent.stop() });
            local = `${hostname()} ${agent.joined ? 'joined' : 'reconnected'} with ${agent.gpuCount} GPU${agent.gpuCount === 1 ? '' : 's'}`;
          } catch (err) {
            // The demo is still worth running on a machine whose agent cannot start.
            local = `could not join: ${(err as Error).message.split('\n')[0]}`;
            io.err(`warning: this machine's agent did not start: ${(err as Error).message.split('\n')[0]}\n`);
          }
        }

        let nvidiaHost: string | null = null;
        if (o.nodes > 0) {
          io.err(`starting ${o.nodes} simulated hosts...\n`);
          const paths = demoSimPaths(config.dataDir);
          // Kernel logs and link proxies let every fault kind act; tools answer nvidia-smi and friends.
          const fleet = await sim.startSimFleet({
            serverUrl: running.url,
            token: joinToken,
            count: o.nodes,
            seed: o.seed,
            agentVersion: `${agentVersion}-sim`,
            kernelLog: { dir: paths.kernelLogs },
            tools: { dir: paths.tools },
            linkProxy: true,
            workloads: poolHosts.workloads,
          });
          parts.push({ name: 'simulated fleet', stop: () => fleet.stop() });
          const injector = new sim.FaultInjector({ fleet: poolHosts.withFleet(fleet), seed: o.seed });
          parts.push({ name: 'fault injector', stop: () => injector.dispose() });
          const control = new sim.SimControlServer({ hosts: () => [...fleet.agents, ...poolHosts.simHosts()], injector, file: paths.control });
          await control.start();
          parts.push({ name: 'sim control endpoint', stop: () => control.stop() });
          if (faultEveryMs !== null) {
            const faults = new sim.RandomFaults({
              hosts: () => fleet.agents,
              injector,
              intervalMs: faultEveryMs,
              firstAfterMs: Math.min(faultEveryMs, 45_000),
              seed: o.seed,
              onFault: (r) => faultLine(io, r),
            });
            faults.start();
            parts.push({ name: 'random faults', stop: async () => faults.stop() });
          }
          nvidiaHost = fleet.agents.find((a) => a.backend.spec.vendor === 'nvidia' && a.backend.gpuIds().length > 3)?.hostname ?? null;
        }

        // The bare `gpufleet` commands find this server only at the default address and data dir.
        const defaultDir = relative(io.cwd, config.dataDir) === 'gpufleet-data';
        const envNeeded = running.url !== LOCAL_SERVER || !defaultDir;
        const dataDirArg = defaultDir ? null : shownPath(relative(io.cwd, config.dataDir) || '.');
        const keyArg = root ? shownPath(relative(io.cwd, root.key.path)) : null;
        const more = demoTryLines({ keyArg, root, nvidiaHost, dataDirArg, faultsEveryMs: faultEveryMs });
        io.out(demoBanner({ url: running.url, adminToken, tokenFrom, local, nodes: o.nodes, seed: o.seed, envNeeded, more }));
      } catch (err) {
        await stopAll();
        throw err;
      }
      const signal = await waitForInterrupt(io);
      io.err(`${signal}: stopping...\n`);
      const ok = await stopAll();
      io.err(ok ? 'demo stopped\n' : 'demo stopped with errors\n');
    });
}
