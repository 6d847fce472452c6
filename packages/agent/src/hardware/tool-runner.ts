import { execFile } from 'node:child_process';

/** What running a vendor tool came to. */
export type ToolResult =
  | { kind: 'missing' }
  | { kind: 'ok'; stdout: string; stderr: string }
  | { kind: 'failed'; exitCode: number | null; output: string; timedOut: boolean };

export interface RunToolOptions {
  /** The tool is killed (SIGKILL) past this many milliseconds. */
  timeoutMs: number;
  /** Variables added to (and overriding) the agent's own environment. */
  env?: NodeJS.ProcessEnv;
}

/** Most output kept from one tool run; an `nvidia-smi -q -x` of 8 GPUs is about 1 MiB. */
export const MAX_TOOL_OUTPUT_BYTES = 8 * 1024 * 1024;

// If a tool's children keep its pipes open after it was killed, node would wait for them:
// past this grace the result is given anyway.
const KILL_GRACE_MS = 1000;

/**
 * Runs a vendor tool directly (no shell, so arguments are never interpreted) and reports the
 * outcome as data: a tool that is not installed is `missing`, a non-zero exit, a signal, a
 * timeout or too much output is `failed`. Never rejects.
 */
export function runTool(command: string, args: string[], opts: RunToolOptions): Promise<ToolResult> {
  return new Promise((resolve) => {
    let settled = false;
    let backstop: NodeJS.Timeout | undefined;
    const finish = (result: ToolResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(backstop);
      resolve(result);
    };

    let child: ReturnType<typeof execFile>;
    try {
      child = execFile(
        command,
        args,
        {
          timeout: opts.timeoutMs,
          killSignal: 'SIGKILL',
          maxBuffer: MAX_TOOL_OUTPUT_BYTES,
          encoding: 'utf8',
          env: opts.env ? { ...process.env, ...opts.env } : process.env,
          windowsHide: true,
        },
        (err, stdout, stderr) => {
          if (!err) return finish({ kind: 'ok', stdout, stderr });
          const e = err as NodeJS.ErrnoException & { killed?: boolean; signal?: NodeJS.Signals | null };
          if (e.code === 'ENOENT' && e.syscall?.startsWith('spawn')) return finish({ kind: 'missing' });
          finish({
            kind: 'failed',
            exitCode: typeof e.code === 'number' ? e.code : null,
            output: joinOutput(stdout, stderr, describeSpawnError(e)),
            // execFile kills with our signal only on its timeout (or the maxBuffer limit, which
            // sets its own code), so a kill with that signal and no code means it timed out.
            timedOut: e.killed === true && e.signal === 'SIGKILL' && e.code !== 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER',
          });
        },
      );
    } catch (err) {
      // Synchronous spawn errors: invalid arguments (a NUL byte in an argument, for instance).
      finish({ kind: 'failed', exitCode: null, output: String(err), timedOut: false });
      return;
    }

    backstop = setTimeout(() => {
      child.stdout?.destroy();
      child.stderr?.destroy();
      finish({ kind: 'failed', exitCode: null, output: `${command} did not exit after ${opts.timeoutMs} ms`, timedOut: true });
    }, opts.timeoutMs + KILL_GRACE_MS);
    backstop.unref();
  });
}

/** The signature backends take, so tests can hand in a fake runner. */
export type ToolExec = typeof runTool;

function joinOutput(stdout: string, stderr: string, extra: string | null): string {
  return [stdout, stderr, extra]
    .filter((s): s is string => !!s && s.trim() !== '')
    .join('\n')
    .trim();
}

/** Why the child ended, when the output alone would not say (killed, permission, too much output). */
function describeSpawnError(e: NodeJS.ErrnoException & { signal?: NodeJS.Signals | null }): string | null {
  if (e.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') return `output exceeded ${MAX_TOOL_OUTPUT_BYTES} bytes`;
  if (typeof e.code === 'string') return e.message;
  if (e.signal) return `killed by ${e.signal}`;
  return null;
}
