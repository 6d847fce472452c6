import { Command } from 'commander';
import { decodeJoinToken } from '@gpufleet/protocol';
import type { CliDeps } from '../command-deps.js';
import { ApiClient } from '../api-client.js';
import { intOption } from '../args.js';
import { normalizeServerUrl, resolveConnection } from '../connection.js';
import { UsageError } from '../errors.js';
import { cliVersion, stopInOrder, waitForInterrupt } from '../lifecycle.js';

/**
 * The join token the simulated hosts use: --token when it is a join token (gfj1...), otherwise
 * a fresh reusable one made through the API with the API token the CLI would use.
 */
async function simJoinToken(deps: CliDeps, flags: { server?: string; token?: string; context?: string }): Promise<{ token: string; serverUrl: string }> {
  if (flags.token?.startsWith('gfj1.')) {
    const payload = decodeJoinToken(flags.token);
    return { token: flags.token, serverUrl: flags.server ? normalizeServerUrl(flags.server) : payload.url };
  }
  const client = new ApiClient(resolveConnection(flags, deps.io));
  const created = await client.post<{ token: string }>('/api/v1/join-tokens', {
    reusable: true,
    labels: { sim: 'true' },
    description: 'gpufleet sim',
    expiresIn: '24h',
  });
  return { token: created.token, serverUrl: client.server };
}

export function simCommand(deps: CliDeps): Command {
  return new Command('sim')
    .description('run simulated GPU hosts (the real agent code on fake hardware) against a server')
    .option('--nodes <n>', 'how many hosts', intOption('--nodes', 1, 100_000), 24)
    .option('--seed <n>', 'random seed: the same seed gives the same fleet', intOption('--seed', 0, 2 ** 31 - 1), 1)
    .option('--agent-version <version>', 'agent version the simulated hosts report')
    .addHelpText(
      'after',
      `
--token may be a join token (gfj1...) or an API token (gft_...); with an API token, or none
(the local admin token is used), a reusable join token labeled sim=true is created for the run.
The hosts mix H100, A100, L40S and MI300X machines and carry the label simulated=true.

Examples:
  gpufleet sim --nodes 50                                  against the local server
  gpufleet sim --nodes 200 --seed 7 --server http://127.0.0.1:7420 --token gfj1.eyJ1Ijo...
  gpufleet nodes ls -l simulated=true                      what they look like`,
    )
    .action(async (_opts, cmd: Command) => {
      const { io } = deps;
      const o = deps.opts<{ nodes: number; seed: number; agentVersion?: string; server?: string; token?: string; context?: string }>(cmd);
      if (o.agentVersion !== undefined && !/^[\w.+-]{1,64}$/.test(o.agentVersion)) throw new UsageError(`--agent-version '${o.agentVersion}' is not a version`);
      const { token, serverUrl } = await simJoinToken(deps, o);
      const { startSimFleet } = await import('@gpufleet/sim');
      const fleet = await startSimFleet({ serverUrl, token, count: o.nodes, seed: o.seed, agentVersion: o.agentVersion ?? `${cliVersion()}-sim` });
      io.out(`${o.nodes} simulated hosts (seed ${o.seed}) joined ${serverUrl}; Ctrl-C stops them\n`);
      const signal = await waitForInterrupt(io);
      io.err(`${signal}: stopping the simulated hosts...\n`);
      await stopInOrder(io, [{ name: 'simulated fleet', stop: () => fleet.stop() }]);
      io.err('stopped\n');
    });
}
