import { Command } from 'commander';
import type { CliIo } from '../io.js';

/**
 * `gpufleet agent ...` hands its arguments, untouched, to the agent's own command line (the
 * same as the `gpufleet-agent` binary). The CLI dispatches it before commander parses anything,
 * so agent flags never collide with the global ones; this command only documents it in --help.
 */
export function agentCommand(): Command {
  return new Command('agent')
    .description('run the host agent: `agent join <token>` enrolls this host, `agent run` keeps it connected')
    .argument('[args...]', 'passed to gpufleet-agent')
    .helpOption(false)
    .allowUnknownOption()
    .addHelpText(
      'after',
      `
Everything after "agent" goes to gpufleet-agent; see \`gpufleet agent --help\`.

Examples:
  sudo gpufleet agent join gfj1.eyJ1Ijo...     enroll this host with a join token
  sudo gpufleet agent run                      stay connected and report (after join)`,
    );
}

/** Runs `gpufleet agent <args>` through the agent package; resolves with its exit code. */
export async function runAgent(args: string[], io: CliIo): Promise<number> {
  const { runAgentCommand } = await import('@gpufleet/agent');
  return runAgentCommand(args, { programName: 'gpufleet agent', stdout: io.out, stderr: io.err });
}
