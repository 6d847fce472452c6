import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FleetError, isLabelKey, isLabelValue, type BundleDriftData, type ReleaseKind } from '@gpufleet/protocol';
import type { HardwareBackend } from '../hardware/backend.js';
import { HOSTNAME_OVERRIDE, withHostname } from '../hardware/hostname-override.js';
import { RealHardwareBackend } from '../hardware/real-backend.js';
import { Agent } from './agent.js';
import { FileStateStore } from './file-state.js';
import type { HttpRequester } from './http-request.js';
import { lockDataDir } from './data-dir-lock.js';
import { loadIdentity } from './identity.js';
import { joinFleet } from './join.js';
import { systemClock } from './clock.js';
import { createJsonLogger, errorText, isLogLevel, LOG_LEVELS, type Logger } from './logger.js';
import { AGENT_BUNDLED, AGENT_VERSION } from './version.js';
import { RELEASES_DIR, sideloadCommand } from '../updates/sideload-command.js';
import { AgentInstaller, RESTART_EXIT_CODE } from '../updates/agent-installer.js';
import { launchCommand } from '../updates/launch-command.js';
import { trustReleaseRootFile } from '../updates/release-root-option.js';
import { INSTALL_DIR_ENV } from '../updates/launcher.js';
import type { ReleaseInstaller } from '../updates/release-installer.js';
import { createBundleInstaller, type BundleInstaller } from '../bundles/bundle-installer.js';

export const DEFAULT_DATA_DIR = '/var/lib/gpufleet-agent';

/** What the commands touch outside themselves; tests replace all of it. */
export interface CommandDeps {
  /** Name shown in usage lines: `gpufleet-agent`, or `gpufleet agent` from the main CLI. */
  programName?: string;
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
  backend?: (agentVersion: string) => HardwareBackend;
  request?: HttpRequester;
  /** Aborting it stops `run` like SIGTERM does. Default: SIGTERM and SIGINT of this process. */
  signal?: AbortSignal;
  /** Logger for `run`; default JSON lines on stderr at --log-level. */
  logger?: Logger;
  /** Installers of release kinds other than the agent, made once `run` knows its data dir. Default: the bundle installer. */
  installers?: (ctx: { dataDir: string; logger: Logger }) => Partial<Record<ReleaseKind, ReleaseInstaller>>;
  /** The A/B install dir when started by the launcher. Default: $GPUFLEET_AGENT_INSTALL_DIR (the launcher sets it). */
  installDir?: string;
  /** The program `launch` starts when no release is installed. Default: this agent's own bin. */
  selfEntry?: string;
}

class UsageError extends Error {}

function usage(prog: string): string {
  return [
    `usage: ${prog} <command> [options]`,
    '',
    'commands:',
    `  join <token>   join this host to a fleet (makes the node key, pins the server's CA, enrolls)`,
    '    --data-dir DIR   state directory (default /var/lib/gpufleet-agent)',
    '    --label k=v      ask for a label on this node (repeatable)',
    '    --root DID       trust only this fleet root (repeatable); the join is refused when the token names others',
    '    --release-root FILE  trust this fleet release root (1.root.json of `gpufleet releases keys init`) for updates',
    "    --hostname NAME  the name this host reports instead of the OS's (containers, cloned VMs); give run the same",
    '  run            run the agent: connect to the server and report until stopped',
    '    --data-dir DIR   state directory (default /var/lib/gpufleet-agent)',
    `    --log-level L    ${LOG_LEVELS.join(' | ')} (default info)`,
    `    --kernel-log K   where XID lines are read: auto (/dev/kmsg, journalctl, dmesg), off, or a file (default auto)`,
    '    --commands C     on | off: run operator-signed commands and container operations (default on);',
    '                     off refuses them all, whoever signed them (see the systemd unit for a hardened setup)',
    '    --workloads W    on | off: run operator-signed workloads (job allocations) placed on this host (default on);',
    '                     off refuses every allocation; containers need a Docker or Podman API socket',
    '    --updates U      on | off: apply operator-signed rollouts of agent builds and bundles (default on);',
    '                     agent builds install only when the agent runs under `launch`',
    '    --release-root FILE  the fleet release root to trust when this host trusts none yet',
    "    --hostname NAME  the name this host reports instead of the OS's (as given to join)",
    '',
    '  launch -- <run options>  run the agent under a watchdog (what the systemd unit runs): starts the installed',
    '                     agent build, restarts into a new one, and goes back when it fails its self-check',
    '    --install-dir DIR  the A/B folders of agent builds (default <data-dir>/agent-install)',
    '    --health-deadline D  how long a new build has to reconnect and pass its self-check (default 120s)',
    '',
    '  sideload <tar>  verify an offline release bundle (gpufleet releases export) with TUF, as online',
    '    --data-dir DIR   state directory (default /var/lib/gpufleet-agent)',
    '    --root FILE      the fleet release root to trust when this host trusts none yet (1.root.json)',
    '    --install        also install it: an agent build through the install dir (the running `launch` restarts into it);',
    '                     a bundle is applied now (health checks, rollback on failure) and reported when the agent connects',
    '    --install-dir DIR  the A/B folders of agent builds (default <data-dir>/agent-install)',
    "    --bundle-root DIR  where a bundle's files and units land (default /)",
    '    --no-restart     with --install of an agent build: leave the running agent alone (restart it later)',
    '',
    '  --help, -h     show this help',
    '  --version, -V  show the agent version',
    '',
  ].join('\n');
}

/**
 * `gpufleet-agent <argv>`: returns the exit code (0 ok, 1 runtime error, 2 usage error).
 * Errors are one line on stderr, never a stack trace. `gpufleet agent ...` reuses this.
 */
export async function runAgentCommand(argv: string[], deps: CommandDeps = {}): Promise<number> {
  const prog = deps.programName ?? 'gpufleet-agent';
  const out = deps.stdout ?? ((t: string) => void process.stdout.write(t));
  const err = deps.stderr ?? ((t: string) => void process.stderr.write(t));
  try {
    const [command, ...rest] = argv;
    if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
      out(usage(prog));
      return command === undefined ? 2 : 0;
    }
    if (command === '--version' || command === '-V' || command === 'version') {
      out(`${AGENT_VERSION}\n`);
      return 0;
    }
    // `run --help`, `sideload -h`, `launch --help -- ...`: the usage, not an unknown-option error.
    const own = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest;
    if (own.includes('--help') || own.includes('-h')) {
      out(usage(prog));
      return 0;
    }
    if (command === 'join') return await joinCommand(rest, deps, out, prog);
    if (command === 'run') return await runCommand(rest, deps, err);
    if (command === 'sideload') return await sideloadCommand(rest, out, (m) => new UsageError(m), DEFAULT_DATA_DIR);
    if (command === 'launch') {
      return await launchCommand(rest, {
        usage: (m) => new UsageError(m),
        defaultDataDir: DEFAULT_DATA_DIR,
        builtinEntry: deps.selfEntry ?? selfEntry(),
        ...(deps.logger ? { logger: deps.logger } : {}),
        ...(deps.signal ? { signal: deps.signal } : {}),
      });
    }
    throw new UsageError(`unknown command '${command}' (try '${prog} --help')`);
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      err(`${prog}: ${oneLine(errorText(e))}\n`);
      return 2;
    }
    err(`${prog}: error: ${oneLine(errorText(e))}\n`);
    return 1;
  }
}

/** This agent's own program: the bundled agent.mjs in a release, else dist/bin.js next to this file. */
function selfEntry(): string {
  return AGENT_BUNDLED ? process.argv[1]! : fileURLToPath(new URL('../bin.js', import.meta.url));
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

/** Parses repeated `--label k=v` into a map, refusing bad keys and values. */
export function parseLabelArgs(values: string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq <= 0) throw new UsageError(`--label wants key=value, got '${v}'`);
    const key = v.slice(0, eq);
    const value = v.slice(eq + 1);
    if (!isLabelKey(key)) throw new UsageError(`--label: '${key}' is not a valid label key (letters, digits, . _ / -)`);
    if (!isLabelValue(value)) throw new UsageError(`--label: '${value}' is not a valid label value (letters, digits, . _ : / + -)`);
    labels[key] = value;
  }
  return labels;
}

function checkHostname(hostname: string | undefined): void {
  if (hostname !== undefined && !HOSTNAME_OVERRIDE.test(hostname)) {
    throw new UsageError(
      `--hostname must be 1-253 letters, digits, '.', '-' or '_', starting and ending with a letter or digit, got '${hostname.slice(0, 60)}'`,
    );
  }
}

/** This host's hardware, reporting the name `--hostname` gives instead of the OS's when given. */
function hostBackend(deps: CommandDeps, hostname: string | undefined): HardwareBackend {
  checkHostname(hostname);
  const backend = (deps.backend ?? ((v) => new RealHardwareBackend({ agentVersion: v })))(AGENT_VERSION);
  return hostname === undefined ? backend : withHostname(backend, hostname);
}

async function joinCommand(args: string[], deps: CommandDeps, out: (t: string) => void, prog: string): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      'data-dir': { type: 'string' },
      label: { type: 'string', multiple: true },
      root: { type: 'string', multiple: true },
      'release-root': { type: 'string' },
      hostname: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    out(usage(prog));
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'join needs the join token: join <token>' : 'join takes exactly one token');
  const labels = parseLabelArgs(values.label ?? []);
  if (values['release-root'] === '') throw new UsageError('--release-root needs a file');
  const dataDir = values['data-dir'] ?? DEFAULT_DATA_DIR;
  const backend = hostBackend(deps, values.hostname);
  const result = await joinFleet({
    token: positionals[0]!,
    dataDir,
    backend,
    agentVersion: AGENT_VERSION,
    labels,
    roots: values.root ?? [],
    request: deps.request,
    logger: deps.logger,
  });
  out(`joined the fleet at ${result.serverUrl}\n  node id: ${result.nodeId}\n  status:  ${result.status}\n`);
  out(joinTrustText(result, prog));
  if (values['release-root'] !== undefined) out(`${trustReleaseRootFile(dataDir, values['release-root'])}\n`);
  if (result.status === 'PENDING') out(`an administrator must approve this node before it is used: gpufleet nodes approve ${result.nodeId}\n`);
  out(`start the agent: systemctl enable --now gpufleet-agent  (or: ${prog} run --data-dir ${dataDir})\n`);
  return 0;
}

/** What a joined host trusts, in words: the roots (with a hint to pin them) and the labels it vouches for. */
export function joinTrustText(
  result: { roots: readonly string[]; rootsPinned: boolean; labels: Readonly<Record<string, string>> },
  prog = 'gpufleet-agent',
): string {
  let text = '';
  if (result.roots.length === 0) {
    text += 'fleet roots: none in the join token: this host refuses every signed command until it trusts one\n';
  } else if (result.rootsPinned) {
    text += `fleet roots this host trusts (pinned with --root):\n${result.roots.map((r) => `  ${r}\n`).join('')}`;
  } else {
    text += `fleet roots this host trusts (from the join token):\n${result.roots.map((r) => `  ${r}\n`).join('')}`;
    text += `check them with the fleet's admin, and pin them when joining hosts so the server cannot choose them: ${prog} join <token> ${result.roots.map((r) => `--root ${r}`).join(' ')}\n`;
  }
  const labels = Object.entries(result.labels);
  if (labels.length > 0) text += `labels this host vouches for from its join: ${labels.map(([k, v]) => `${k}=${v}`).join(', ')}\n`;
  return text;
}

async function runCommand(args: string[], deps: CommandDeps, err: (t: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      'data-dir': { type: 'string' },
      'log-level': { type: 'string' },
      'kernel-log': { type: 'string' },
      commands: { type: 'string' },
      workloads: { type: 'string' },
      updates: { type: 'string' },
      'release-root': { type: 'string' },
      hostname: { type: 'string' },
    },
  });
  if (positionals.length > 0) throw new UsageError(`run takes no arguments, got '${positionals[0]}'`);
  const commands = values.commands ?? 'on';
  if (commands !== 'on' && commands !== 'off') throw new UsageError(`--commands must be on or off, got '${commands}'`);
  const workloads = values.workloads ?? 'on';
  if (workloads !== 'on' && workloads !== 'off') throw new UsageError(`--workloads must be on or off, got '${workloads}'`);
  const updates = values.updates ?? 'on';
  if (updates !== 'on' && updates !== 'off') throw new UsageError(`--updates must be on or off, got '${updates}'`);
  if (values['release-root'] === '') throw new UsageError('--release-root needs a file');
  checkHostname(values.hostname);
  // Where XID/SXid lines are read from: auto (/dev/kmsg, then journalctl, then dmesg), off, or a file.
  const kernelLog = values['kernel-log'] ?? 'auto';
  if (kernelLog === '') throw new UsageError('--kernel-log needs auto, off or a file path');
  const health = kernelLog === 'off' ? undefined : { kernelLog: { source: kernelLog === 'auto' ? ('auto' as const) : { file: kernelLog } } };
  const level = values['log-level'] ?? 'info';
  if (!isLogLevel(level)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got '${level}'`);
  const dataDir = values['data-dir'] ?? DEFAULT_DATA_DIR;
  const identity = loadIdentity(dataDir);
  if (!identity)
    throw new FleetError('failed_precondition', `no node key in ${dataDir}: join a fleet first (gpufleet-agent join <token> --data-dir ${dataDir})`);
  const unlock = lockDataDir(dataDir);
  try {
    const logger = deps.logger ?? createJsonLogger({ level });
    if (values['release-root'] !== undefined) logger.info(trustReleaseRootFile(dataDir, values['release-root']));
    const backend = hostBackend(deps, values.hostname);
    const restart = { asked: false, agent: null as Agent | null };
    const installDir = deps.installDir ?? process.env[INSTALL_DIR_ENV];
    // Host bundles (containers, files, units) apply through the bundle installer, which also reports drift.
    const bundles: BundleInstaller | null =
      deps.installers || updates === 'off'
        ? null
        : createBundleInstaller({
            dataDir,
            logger,
            onDrift: (data) => void restart.agent?.enqueueEvent({ kind: 'bundle-drift', message: driftText(data), data: { ...data } }),
          });
    const installers: Partial<Record<ReleaseKind, ReleaseInstaller>> = deps.installers
      ? deps.installers({ dataDir, logger })
      : bundles
        ? { bundle: bundles }
        : {};
    if (installDir) {
      installers.agent = new AgentInstaller({
        installDir,
        dataDir,
        runningVersion: AGENT_VERSION,
        clock: systemClock,
        // Drain like a stop, then exit 75: the launcher starts the build `current` names now.
        restart: () => {
          restart.asked = true;
          void restart.agent?.stop();
        },
      });
    }
    const agent = new Agent({
      state: new FileStateStore(dataDir),
      identity,
      backend,
      agentVersion: AGENT_VERSION,
      logger,
      exec: { commandsEnabled: commands === 'on' },
      workloads: { enabled: workloads === 'on', processStateDir: join(dataDir, 'workloads') },
      updates: { enabled: updates === 'on', releasesDir: join(dataDir, RELEASES_DIR), dataDir, installers },
      ...(health ? { health } : {}),
    });
    restart.agent = agent;
    try {
      const code = await runUntilStopped(agent, deps, err);
      return restart.asked && code === 0 ? RESTART_EXIT_CODE : code;
    } finally {
      bundles?.close();
    }
  } finally {
    unlock();
  }
}

function driftText(d: BundleDriftData): string {
  return d.items.length === 0 ? `bundle ${d.name} ${d.version}: no drift` : `bundle ${d.name} ${d.version} drifted: ${d.items.length} item(s)`;
}

/** Runs the agent until a signal (or deps.signal) stops it or the server refuses it. */
async function runUntilStopped(agent: Agent, deps: CommandDeps, err: (t: string) => void): Promise<number> {
  const stop = () => void agent.stop();
  let detach: () => void;
  if (deps.signal) {
    deps.signal.addEventListener('abort', stop, { once: true });
    detach = () => deps.signal!.removeEventListener('abort', stop);
  } else {
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    detach = () => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
    };
  }
  try {
    await agent.start();
    if (deps.signal?.aborted) void agent.stop();
    const exit = await agent.exited;
    if (exit.code !== 0) err(`gpufleet-agent: error: ${oneLine(exit.reason ?? 'the server refused this node')}\n`);
    return exit.code;
  } finally {
    detach();
  }
}
