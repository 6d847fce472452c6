import { execFile } from 'node:child_process';

/** The end of a host command: its exit code (null when it was killed) and its output, cut short. */
export interface HostCommandResult {
  code: number | null;
  output: string;
}

/**
 * Runs a host command (a bundle's hooks, `systemctl`). Injected so that tests can see the
 * systemctl calls on machines where systemd does not run, and still run the hooks for real.
 */
export type HostCommandRunner = (argv: readonly string[], opts: { env: Record<string, string>; timeoutMs: number }) => Promise<HostCommandResult>;

const MAX_OUTPUT = 64 * 1024;

/** Runs commands as child processes (no shell: argv as given), the bundle's variables added to the agent's environment. */
export const execCommandRunner: HostCommandRunner = (argv, opts) =>
  new Promise((resolve) => {
    execFile(
      argv[0]!,
      argv.slice(1),
      { env: { ...process.env, ...opts.env }, timeout: opts.timeoutMs, maxBuffer: MAX_OUTPUT, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        const output = `${stdout}${stderr}`.slice(-4096);
        if (!err) return resolve({ code: 0, output });
        const e = err as NodeJS.ErrnoException & { code?: number | string; killed?: boolean };
        if (typeof e.code === 'number') return resolve({ code: e.code, output });
        resolve({ code: null, output: e.killed ? `${output}(killed after ${opts.timeoutMs} ms)` : `${output}${e.message}` });
      },
    );
  });

/** A failed command as one line: `sh -c ... exited with 3: <last output line>`. */
export function commandFailure(what: string, argv: readonly string[], r: HostCommandResult): string {
  const last = r.output.trim().split('\n').pop()?.slice(0, 300) ?? '';
  const how = r.code === null ? 'did not finish' : `exited with ${r.code}`;
  return `${what} (${argv.join(' ').slice(0, 120)}) ${how}${last ? `: ${last}` : ''}`;
}
