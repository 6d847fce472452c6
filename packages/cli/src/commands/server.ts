import { join } from 'node:path';
import { Command } from 'commander';
import type { CliDeps } from '../command-deps.js';
import { listenError, stopInOrder, waitForInterrupt } from '../lifecycle.js';
import { UsageError } from '../errors.js';

/** Flags of `gpufleet server` (each also GPUFLEET_<NAME> and a key of the --config YAML file). */
export function addServerOptions(cmd: Command): Command {
  return cmd
    .option('--config <file>', 'YAML file with any of these settings (kebab-case or camelCase keys)')
    .option('--listen <host:port>', 'address to listen on (default 127.0.0.1:7420; beyond loopback means TLS)')
    .option('--data-dir <dir>', 'database, TLS material and admin token (default ./gpufleet-data)')
    .option('--database <url>', 'postgres://... to use PostgreSQL (default: embedded SQLite in the data dir)')
    .option('--store <url>', 'the same as --database')
    .option('--bus <urls>', 'nats://host:4222 (comma-separated for a NATS cluster) to run as one of several replicas (default: alone, in-process)')
    .option('--bus-namespace <name>', 'prefix of every subject and bucket on the bus; one per control plane sharing a NATS (default gpufleet)')
    .option('--replica-name <name>', "this replica's name, unique among the live replicas (default: the host name)")
    .option('--public-url <url>', 'URL agents and CLIs use to reach this server')
    .option('--tls-cert <file>', 'TLS certificate (PEM) instead of the self-made CA')
    .option('--tls-key <file>', 'TLS private key (PEM) for --tls-cert')
    .option('--heartbeat-interval <duration>', 'agent heartbeat (default 5s)')
    .option('--offline-after <beats>', 'missed heartbeats before a node is OFFLINE (default 3)')
    .option('--metrics-interval <duration>', 'agent sampling interval (default 10s)')
    .option('--metrics-retention <duration>', 'in-memory metrics window (default 1h)')
    .option('--events-retention <duration>', 'how long stored agent events are kept (default 30d)')
    .option('--events-per-node <n>', 'most stored agent events per node; the oldest go first (default 100000)')
    .option('--max-body-bytes <n>', 'largest request body (default 1048576)')
    .option('--health-policy <file>', 'YAML health policy (default: the shipped policy/default-health-policy.yaml)')
    .option('--drain-timeout <duration>', 'how long a drain waits for running work (default 10m)')
    .option('--offline-grace <duration>', 'how long an OFFLINE node keeps its verdict before it reads unknown (default 10m)')
    .option('--alert-rules <file>', 'YAML alert rules and receivers (default: the shipped policy/default-alert-rules.yaml)')
    .option('--pools <file>', 'pools file applied at start (providers and pools; see examples/pools/); default: keep those applied before')
    .option('--pool-reconcile <duration>', 'how often each pool is compared with its desired size (default 2s)')
    .option('--ssh-facts-interval <duration>', 'how often the facts of nodes managed over SSH are collected again (default 1m)')
    .option('--promote-agent-command <cmd>', 'nodes promote: the agent command on the hosts, words split at spaces (default gpufleet-agent)')
    .option('--promote-data-dir <dir>', 'nodes promote: the agent data dir on the hosts (default /var/lib/gpufleet-agent)')
    .option('--agent-install-command <cmd>', 'nodes promote: run on a host without the agent (default: none, such a promote is refused)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (default info)');
}

/** Announces a started server: URL, CA fingerprint and the admin token or where it is kept. */
export function serverBanner(running: { url: string; adminToken: string | null; adminTokenFile: string; caFingerprint?: string | null }): string {
  let text = `gpufleet control plane running at ${running.url} (API, dashboard and agent endpoint)\n`;
  if (running.caFingerprint) text += `CA fingerprint (sha256): ${running.caFingerprint}\n  (for \`gpufleet login --ca-fingerprint\`; join tokens carry it)\n`;
  if (running.adminToken) {
    text += `\nAdmin API token, shown only this once (also saved 0600 in ${running.adminTokenFile}):\n\n  ${running.adminToken}\n\n`;
  } else {
    text += `Admin API token: in ${running.adminTokenFile} (created on the first start)\n`;
  }
  return text;
}

/** The parsed flags as the server config takes them: `--store` is another name for `--database`. */
export function serverFlags(opts: Record<string, unknown>): Record<string, unknown> & { config?: string } {
  const { store, ...flags } = opts;
  if (store !== undefined) {
    if (flags.database !== undefined && flags.database !== store) throw new UsageError('--store and --database name the same setting: give one of them');
    flags.database = store;
  }
  return flags;
}

export function serverCommand(deps: CliDeps): Command {
  const cmd = new Command('server').description('run the control plane (API, dashboard, agent gateway) until Ctrl-C');
  addServerOptions(cmd).addHelpText(
    'after',
    `
Settings come from flags, then GPUFLEET_* variables (GPUFLEET_LISTEN, GPUFLEET_DATA_DIR, ...),
then the --config file, then defaults. The first start prints an admin token once and saves it
in <data-dir>/admin-token (mode 0600); the CLI on this machine finds it there.

Examples:
  gpufleet server                                       loopback, plain HTTP, ./gpufleet-data
  gpufleet server --listen 0.0.0.0:7420 --public-url https://fleet.example.com:7420
  gpufleet server --database postgres://fleet@db/fleet --log-level warn
  gpufleet server --pools examples/pools/sim.yaml       a demo pool of simulated GPU hosts

  Three replicas sharing one PostgreSQL and one NATS (every replica answers for the whole fleet):
  gpufleet server --store postgres://fleet@db/fleet --bus nats://127.0.0.1:4222 --listen 0.0.0.0:7420 --replica-name cp-1
  gpufleet server --store postgres://fleet@db/fleet --bus nats://127.0.0.1:4222 --listen 0.0.0.0:7421 --replica-name cp-2
  gpufleet server --store postgres://fleet@db/fleet --bus nats://127.0.0.1:4222 --listen 0.0.0.0:7422 --replica-name cp-3
  GPUFLEET_DATA_DIR=/var/lib/gpufleet gpufleet server --config /etc/gpufleet/server.yaml`,
  );
  cmd.action(async (_opts, self: Command) => {
    const { io } = deps;
    const { config: file, ...flags } = serverFlags(self.opts());
    // Loaded on demand: the server's native database driver is not needed by other commands.
    const { resolveServerConfig, startServer } = await import('@gpufleet/server');
    const config = resolveServerConfig({ flags, env: io.env, ...(file ? { file } : {}) });
    // Pools files may name `type: sim` providers: simulated hosts started inside this process,
    // whose fake kernel logs (<data-dir>/sim-kernel-logs/<provider>/<host>.log) take driver lines.
    const { makeSimProviderFactory } = await import('@gpufleet/sim');
    const sim = makeSimProviderFactory({ kernelLogDir: join(config.dataDir, 'sim-kernel-logs') });
    const running = await startServer(config, { providers: { sim } }).catch((err: unknown) => {
      throw listenError(err, `${config.listenHost}:${config.listenPort}`);
    });
    io.out(serverBanner(running));
    io.out('Press Ctrl-C to stop.\n');
    const signal = await waitForInterrupt(io);
    io.err(`${signal}: stopping the control plane...\n`);
    const ok = await stopInOrder(io, [{ name: 'control plane', stop: () => running.stop() }]);
    io.err(ok ? 'stopped\n' : 'stopped with errors\n');
  });
  return cmd;
}
