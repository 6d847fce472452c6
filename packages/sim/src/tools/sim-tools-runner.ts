import { chmodSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CommandRunner,
  DEFAULT_SAFE_PATH,
  errorText,
  silentLogger,
  type CommandRunnerLike,
  type Logger,
  type RunHooks,
  type RunningCommand,
  type RunRequest,
} from '@gpufleet/agent';
import type { FakeHardwareBackend } from '../fake-backend.js';
import { amdSmiList, nvidiaSmiList, nvidiaSmiTable, rocmSmiTable } from './vendor-tool-text.js';

export interface SimToolsRunnerOptions {
  /** The host whose GPUs the tools show. */
  backend: FakeHardwareBackend;
  /** This host's own folder for its tools; it goes first on the PATH of every command. */
  dir: string;
  /** Runs the commands; default a real CommandRunner with that PATH. */
  runner?: CommandRunnerLike;
  logger?: Logger;
}

/** One simulated invocation: the arguments (joined by spaces) and what it prints. */
interface ToolCase {
  args: string[];
  text: string;
}

const EOF_MARK = 'GPUFLEET_SIM_EOF';

/** A POSIX sh script that prints the case its arguments select, or says what is simulated. */
function toolScript(tool: string, hostname: string, cases: ToolCase[], failure: { message: string; exitCode: number } | null): string {
  const head = `#!/bin/sh\n# ${tool} of the simulated host ${hostname} (gpufleet sim): what its fake hardware shows now.\n`;
  if (failure) {
    // A failing tool fails whatever it is asked, as nvidia-smi does when it meets a lost GPU.
    return `${head}cat <<'${EOF_MARK}'\n${failure.message.replaceAll(EOF_MARK, '')}\n${EOF_MARK}\nexit ${failure.exitCode}\n`;
  }
  const known = cases.map((c) => `'${[tool, ...c.args].join(' ')}'`).join(', ');
  let body = 'case "$*" in\n';
  for (const c of cases) {
    const pattern = c.args.length === 0 ? "''" : c.args.map((a) => `'${a}'`).join('|');
    body += `  ${pattern})\n    cat <<'${EOF_MARK}'\n${c.text.replaceAll(EOF_MARK, '')}${EOF_MARK}\n    ;;\n`;
  }
  body += `  *)\n    echo "${tool} on simulated host ${hostname}: only ${known.replaceAll('"', '')} are simulated" >&2\n    exit 2\n    ;;\nesac\n`;
  return head + body;
}

/**
 * The command runner of a simulated host: before each command it writes the host's vendor
 * tools (`nvidia-smi` on NVIDIA hosts; `amd-smi`, `rocm-smi` on AMD hosts) into its folder
 * as small scripts that print what the fake backend models at that moment (GPUs that fell
 * off the bus are gone, a failing tool fails), then runs the command with that folder first
 * on PATH. So `gpufleet exec -- nvidia-smi -L` on a simulated host answers like a real one.
 */
export class SimToolsRunner implements CommandRunnerLike {
  /** PATH of the commands this runner starts. */
  readonly path: string;
  private readonly runner: CommandRunnerLike;

  constructor(private readonly o: SimToolsRunnerOptions) {
    this.path = `${o.dir}:${DEFAULT_SAFE_PATH}`;
    this.runner = o.runner ?? new CommandRunner({ path: this.path });
  }

  /** Writes the host's tools as its backend shows them now; returns their paths. */
  async writeTools(): Promise<string[]> {
    const b = this.o.backend;
    const readout = await b.gpus();
    const failure = readout.failures[0] ? { message: readout.failures[0].message, exitCode: readout.failures[0].exitCode ?? 1 } : null;
    const gpus = readout.snapshots;
    const tools: [string, ToolCase[]][] =
      b.spec.vendor === 'nvidia'
        ? [
            [
              'nvidia-smi',
              [
                { args: ['-L'], text: nvidiaSmiList(gpus) },
                { args: ['--list-gpus'], text: nvidiaSmiList(gpus) },
                { args: [], text: nvidiaSmiTable(b.spec, gpus, new Date(b.clock.now())) },
              ],
            ],
          ]
        : [
            ['amd-smi', [{ args: ['list'], text: amdSmiList(gpus) }]],
            ['rocm-smi', [{ args: [], text: rocmSmiTable(b.spec, gpus) }]],
          ];
    mkdirSync(this.o.dir, { recursive: true, mode: 0o755 });
    const written: string[] = [];
    for (const [tool, cases] of tools) {
      const path = join(this.o.dir, tool);
      // Written aside and renamed: a command running at the same moment never sees half a script.
      const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
      writeFileSync(tmp, toolScript(tool, b.hostname, cases, failure), { mode: 0o755 });
      chmodSync(tmp, 0o755);
      renameSync(tmp, path);
      written.push(path);
    }
    return written;
  }

  start(request: RunRequest, hooks: RunHooks): RunningCommand {
    let inner: RunningCommand | null = null;
    let canceled = false;
    const done = this.writeTools()
      .catch((err: unknown) => {
        // Stale or missing tools are no reason not to run the command (its output is the runner's alone).
        (this.o.logger ?? silentLogger).warn('could not write the simulated vendor tools', { host: this.o.backend.hostname, err: errorText(err) });
      })
      .then(() => {
        inner = this.runner.start(request, hooks);
        if (canceled) inner.cancel();
        return inner.done;
      });
    return {
      done,
      cancel: () => {
        canceled = true;
        inner?.cancel();
      },
    };
  }
}
