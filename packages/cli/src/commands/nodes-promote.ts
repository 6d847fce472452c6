import type { Command } from 'commander';
import { parseDurationMs, type PromoteRequest, type PromoteResult } from '@gpufleet/protocol';
import type { CliDeps } from '../command-deps.js';
import { ApiClient, seg } from '../api-client.js';
import { checkDuration } from '../args.js';
import { resolveConnection, type ConnectionFlags } from '../connection.js';
import { UsageError } from '../errors.js';
import { print, termSafe } from '../output.js';

interface PromoteFlags extends ConnectionFlags {
  installCommand?: string;
  reason?: string;
  timeout: string;
}

/** What the server does, said before the request (its answer lists each step as it went). */
const PLAN = 'token, agent check (install if missing), node key, join, start, session';
/** The request waits this much longer than the promote itself may take. */
const HTTP_SLACK_MS = 30_000;

function formatMs(ms: number): string {
  return ms < 1000 ? `${ms}ms` : `${(ms / 1000).toFixed(1)}s`;
}

/** One line per step on stderr (the result itself goes to stdout). */
export function stepLines(result: PromoteResult): string {
  const width = Math.max(...result.steps.map((s) => s.step.length));
  return result.steps.map((s) => `  ${s.step.padEnd(width)}  ${termSafe(s.detail)} (${formatMs(s.tookMs)})\n`).join('');
}

/** `gpufleet nodes promote NODE`: an SSH node becomes an agent host, keeping its id, name, labels, groups and history. */
export function addPromoteCommand(nodes: Command, deps: CliDeps): void {
  nodes
    .command('promote')
    .description('turn a node managed over SSH into an agent host: installs and starts the agent over SSH; the node keeps its id')
    .argument('<node>', 'node id, id prefix or hostname (a node added with nodes add --ssh)')
    .option('--install-command <cmd>', "run on the host when gpufleet-agent is missing (default: the server's --agent-install-command)")
    .option('--reason <text>', 'why, for the audit log')
    .option('--timeout <duration>', 'how long the whole promote may take, the agent connecting included', '5m')
    .addHelpText(
      'after',
      `
Steps (run by the server; a failure names its step, revokes the token, leaves an SSH node):
  token        a single-use join token for this node only
  agent-check  gpufleet-agent --version over SSH (install: the install command when it is missing)
  node-key     the node's own key, written to <data dir>/node.key (0600) on stdin, so its id stays
  join         gpufleet-agent join TOKEN --data-dir DIR
  start        a systemd unit, or a background process where there is no systemd
  session      the agent connects; the node is MODE agent, the server drops its copy of the key

The agent command and data dir on the host are the server's --promote-agent-command and
--promote-data-dir. The host's SSH record and login stay stored on the server.

Examples:
  gpufleet nodes promote gpu-07
  gpufleet nodes promote gpu-07 --install-command 'apt-get install -y gpufleet-agent'
  gpufleet nodes promote gpu-07 --timeout 10m -o json`,
    )
    .action(async (ref: string, _opts, cmd: Command) => {
      const o = deps.opts<PromoteFlags>(cmd);
      const timeout = checkDuration(o.timeout, '--timeout');
      const timeoutMs = parseDurationMs(timeout);
      if (timeoutMs < 10_000 || timeoutMs > 3_600_000) throw new UsageError(`--timeout '${o.timeout}' must be from 10s to 1h`);
      if (o.installCommand !== undefined && o.installCommand.trim() === '') throw new UsageError('--install-command is empty');
      const format = deps.format(cmd);
      const body: PromoteRequest = {
        timeout,
        ...(o.installCommand !== undefined ? { installCommand: o.installCommand } : {}),
        ...(o.reason !== undefined ? { reason: o.reason } : {}),
      };
      const client = new ApiClient(resolveConnection({ server: o.server, token: o.token, context: o.context }, deps.io), {
        timeoutMs: timeoutMs + HTTP_SLACK_MS,
      });
      deps.io.err(`promoting ${termSafe(ref)} (up to ${timeout}): ${PLAN} ...\n`);
      const result = await client.post<PromoteResult>(`/api/v1/ssh-hosts/${seg(ref)}/promote`, body);
      deps.io.err(stepLines(result));
      print(deps.io, format, {
        data: result,
        text: () => `${result.hostname} (${result.nodeId}) is an agent host now: MODE ${result.mode}, in ${formatMs(result.tookMs)}\n`,
      });
    });
}
