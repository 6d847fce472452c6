import { resolve } from 'node:path';
import { Command } from 'commander';
import { stringify } from 'yaml';
import { FleetError, decodeJoinToken } from '@gpufleet/protocol';
import type { CliDeps } from '../command-deps.js';
import { ApiClient } from '../api-client.js';
import { intOption } from '../args.js';
import { normalizeServerUrl, resolveConnection } from '../connection.js';
import { CliError, UsageError } from '../errors.js';
import { cliVersion, stopInOrder, waitForInterrupt } from '../lifecycle.js';
import { simInjectCommand } from './sim-inject.js';

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

/**
 * `gpufleet sim run FILE`: one scenario against a fresh in-process server. Progress goes to
 * stderr, the report (or the result as JSON/YAML with -o) to stdout; exit 1 when an assertion
 * fails, 2 when the file is not a valid scenario.
 */
function simRunCommand(deps: CliDeps): Command {
  return new Command('run')
    .description('run a scenario file: a fresh server, a simulated fleet, timed faults and assertions')
    .argument('<file>', 'scenario YAML (see packages/sim/scenarios/)')
    .option('--keep-data', 'keep the temporary server data dir and kernel logs, and print where')
    .option('-q, --quiet', 'no progress lines on stderr')
    .addHelpText(
      'after',
      `
A scenario names a fleet, server settings, events (faults at times) and assertions checked
through the REST API every 100 ms:

  fleet: {nodes: 2, mix: {H100: 1}, seed: 7}
  server: {heartbeatInterval: 200ms, metricsInterval: 250ms}
  events:
    - {at: 500ms, inject: xid, host: sim-h100-001, gpu: 3, code: 79}
  assert:
    - {within: 3s, expect: {node: sim-h100-001, gpu: 3, state: UNHEALTHY}}
    - {expect: {alert: {rule: GpuUnhealthy, state: firing, node: sim-h100-001}}}
    - {never: {node: sim-h100-002, status: OFFLINE}, during: 2s, at: 0s}

inject: xid, sxid, ecc-storm, row-remap, thermal, fall-off-bus, tool-failure, agent-crash,
network-drop, clear. Exit code 0 when every assertion passed, 1 when one failed, 2 for a bad file.

Examples:
  gpufleet sim run packages/sim/scenarios/xid-79-fatal.yaml
  gpufleet sim run my-scenario.yaml -o json`,
    )
    .action(async (file: string, _opts, cmd: Command) => {
      const { io } = deps;
      const o = deps.opts<{ keepData?: boolean; quiet?: boolean }>(cmd);
      const format = deps.format(cmd);
      const sim = await import('@gpufleet/sim');
      let scenario: ReturnType<typeof sim.loadScenario>;
      try {
        scenario = sim.loadScenario(resolve(io.cwd, file));
      } catch (err) {
        if (!FleetError.is(err, 'invalid_argument')) throw err;
        // Every problem on its own line, each naming its line and field.
        io.err(`${err.message}\n`);
        throw new UsageError(`${file} is not a valid scenario`);
      }
      const log = o.quiet || format === 'json' || format === 'yaml' ? undefined : (line: string) => io.err(`  ${line}\n`);
      log?.(
        `running ${scenario.name}: ${plural(scenario.hostnames.length, 'host')}, ${plural(scenario.events.length, 'event')}, ${plural(scenario.assertions.length, 'assertion')}`,
      );
      const result = await sim.runScenario(scenario, { log, keepData: o.keepData });
      if (format === 'json') io.out(`${JSON.stringify(result, null, 2)}\n`);
      else if (format === 'yaml') io.out(stringify(result));
      else io.out(sim.formatScenarioReport(result));
      if (!result.passed) {
        const failed = result.assertions.filter((a) => !a.passed).length;
        throw new CliError(`scenario ${scenario.name} failed: ${result.error ?? `${failed} of ${result.assertions.length} assertions failed`}`);
      }
    });
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
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
  gpufleet sim run packages/sim/scenarios/xid-79-fatal.yaml   a fault scenario on a fresh server
  gpufleet sim inject sim-h100-001 xid 79 --gpu 3          a fault on the running demo's fleet
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
    })
    .addCommand(simRunCommand(deps))
    .addCommand(simInjectCommand(deps));
}
