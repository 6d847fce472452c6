import { CommanderError } from 'commander';
import { createDeps } from './command-deps.js';
import { errorLine, exitCodeOf } from './errors.js';
import type { CliIo } from './io.js';
import { termSafe } from './output.js';
import { asksForVersion, buildProgram, versionText } from './program.js';
import { runAgent } from './commands/agent.js';

export interface RunOptions {
  /** Clock for relative times ("3m ago"); tests pin it. */
  now?: () => number;
}

/**
 * Runs one `gpufleet` command line (without the node and script words) and returns the exit
 * code: 0 ok, 2 usage error, 1 anything else. Every error is one `error: ...` line on stderr.
 */
export async function runCli(argv: readonly string[], io: CliIo, opts: RunOptions = {}): Promise<number> {
  try {
    // The agent has its own command line; its flags must not meet the global ones.
    if (argv[0] === 'agent') return await runAgent(argv.slice(1), io);
    if (asksForVersion(argv)) {
      io.out(versionText());
      return 0;
    }
    const program = buildProgram(createDeps(io, opts.now));
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (err) {
    const code = exitCodeOf(err);
    // 'commander.help': help was printed for a command missing its subcommand; it says enough.
    const helpShown = err instanceof CommanderError && err.code === 'commander.help';
    // Server messages may quote host-reported text: escaped like every other such string.
    if (code !== 0 && !helpShown) io.err(`${termSafe(errorLine(err))}\n`);
    if (io.env.GPUFLEET_DEBUG && err instanceof Error && err.stack) io.err(`${err.stack}\n`);
    return code;
  }
}
