import { Command, Help, Option } from 'commander';
import type { CliDeps } from './command-deps.js';
import type { CliIo } from './io.js';
import { OUTPUT_FORMATS } from './output.js';
import { cliVersion } from './lifecycle.js';
import { agentCommand } from './commands/agent.js';
import { alertsCommand } from './commands/alerts.js';
import { allocsCommand } from './commands/allocs.js';
import { apiTokensCommand } from './commands/api-tokens.js';
import { replicasCommand } from './commands/replicas.js';
import { releasesCommand } from './commands/releases.js';
import { rolloutsCommand } from './commands/rollouts.js';
import { auditCommand } from './commands/audit.js';
import { capsCommand } from './commands/caps.js';
import { containersCommand } from './commands/containers.js';
import { demoCommand } from './commands/demo.js';
import { diagnoseCommand } from './commands/diagnose.js';
import { eventsCommand } from './commands/events.js';
import { execCommand } from './commands/exec.js';
import { gpusCommand } from './commands/gpus.js';
import { healthCommand } from './commands/health.js';
import { jobsCommand } from './commands/jobs.js';
import { keysCommand } from './commands/keys.js';
import { loginCommands } from './commands/login.js';
import { nodesCommand } from './commands/nodes.js';
import { addPromoteCommand } from './commands/nodes-promote.js';
import { poolsCommand } from './commands/pools.js';
import { playsCommand } from './commands/plays.js';
import { templatesCommand } from './commands/templates.js';
import { groupsCommand } from './commands/groups.js';
import { varsCommand } from './commands/vars.js';
import { addSshNodeCommands, credentialsCommand, sshHostsCommand } from './commands/ssh-hosts.js';
import { rootsCommand } from './commands/roots.js';
import { runsCommand } from './commands/runs.js';
import { scriptsCommand } from './commands/scripts.js';
import { serverCommand } from './commands/server.js';
import { simCommand } from './commands/sim.js';
import { tokensCommand } from './commands/tokens.js';
import { topCommand } from './commands/top.js';

/** Every command shares the program's output wiring and throws instead of exiting. */
function wire(cmd: Command, io: CliIo): void {
  cmd
    .exitOverride()
    .showSuggestionAfterError(true)
    // Commander's own error text is dropped here; the caller prints it as one `error:` line.
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s), outputError: () => undefined });
  for (const sub of cmd.commands) wire(sub, io);
}

// Program options that take a value: a version request is only looked for before the subcommand.
const VALUE_OPTIONS = new Set(['-o', '--output', '--server', '--token', '--context']);

/**
 * Whether the command line asks for the CLI's version: `-V`/`--version` before any subcommand.
 * After a subcommand `--version` belongs to that subcommand (`scripts show X --version 2`), so
 * it is not a program option that commander would take from anywhere on the line.
 */
export function asksForVersion(argv: readonly string[]): boolean {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-V' || arg === '--version') return true;
    if (arg === '--' || !arg.startsWith('-')) return false;
    if (VALUE_OPTIONS.has(arg)) i++;
  }
  return false;
}

/** The CLI's version line (`gpufleet --version`). */
export function versionText(): string {
  return `${cliVersion()}\n`;
}

// Listed in the program's help only: asksForVersion handles it before commander parses.
const VERSION_HELP = new Option('-V, --version', 'print the version');

/** The `gpufleet` command tree with its global options. */
export function buildProgram(deps: CliDeps): Command {
  const program = new Command('gpufleet')
    .description('gpufleet: see and manage every GPU host of a fleet from one control plane')
    .addOption(new Option('-o, --output <format>', 'output format').choices([...OUTPUT_FORMATS]).default('table'))
    .option('--server <url>', 'control plane URL (default: the current context, else http://127.0.0.1:7420)')
    .option('--token <token>', 'API token (default: GPUFLEET_TOKEN, the current context, or the local admin token)')
    .option('--context <name>', 'saved context to use (see `gpufleet context ls`)')
    .configureHelp({
      visibleOptions(cmd) {
        const list = Help.prototype.visibleOptions.call(this, cmd);
        return cmd.parent ? list : [VERSION_HELP, ...list];
      },
    })
    .addHelpText(
      'after',
      `
Getting started:
  gpufleet demo                                   server + this machine + 24 simulated hosts
  gpufleet nodes ls                               then, in another terminal
  gpufleet gpus ls -l gpu.model=H100 -o wide
  gpufleet top

Your own fleet:
  gpufleet server --listen 0.0.0.0:7420           prints an admin token on the first start
  gpufleet login --server https://HOST:7420 --token gft_... --ca-fingerprint <sha256>
  gpufleet tokens create --labels region=eu --reusable --expires 24h
  gpufleet-agent join gfj1...                     on each GPU host

Server and token come from --server/--token, then GPUFLEET_SERVER/GPUFLEET_TOKEN, then the
current context, then ./gpufleet-data/admin-token for the local server. Every command has --help.`,
    );

  const nodes = nodesCommand(deps);
  addSshNodeCommands(nodes, deps);
  addPromoteCommand(nodes, deps);
  program.addCommand(nodes);
  program.addCommand(sshHostsCommand(deps));
  program.addCommand(credentialsCommand(deps));
  program.addCommand(gpusCommand(deps));
  program.addCommand(eventsCommand(deps));
  program.addCommand(healthCommand(deps));
  program.addCommand(topCommand(deps));
  program.addCommand(alertsCommand(deps));
  program.addCommand(execCommand(deps));
  program.addCommand(runsCommand(deps));
  program.addCommand(jobsCommand(deps));
  program.addCommand(allocsCommand(deps));
  program.addCommand(poolsCommand(deps));
  program.addCommand(groupsCommand(deps));
  program.addCommand(varsCommand(deps));
  program.addCommand(templatesCommand(deps));
  program.addCommand(playsCommand(deps));
  program.addCommand(tokensCommand(deps));
  program.addCommand(apiTokensCommand(deps));
  program.addCommand(replicasCommand(deps));
  program.addCommand(releasesCommand(deps));
  program.addCommand(rolloutsCommand(deps));
  program.addCommand(auditCommand(deps));
  program.addCommand(rootsCommand(deps));
  program.addCommand(scriptsCommand(deps));
  program.addCommand(keysCommand(deps));
  program.addCommand(capsCommand(deps));
  program.addCommand(containersCommand(deps));
  for (const c of loginCommands(deps)) program.addCommand(c);
  program.addCommand(diagnoseCommand(deps));
  program.addCommand(serverCommand(deps));
  program.addCommand(agentCommand());
  program.addCommand(simCommand(deps));
  program.addCommand(demoCommand(deps));
  wire(program, deps.io);
  return program;
}
