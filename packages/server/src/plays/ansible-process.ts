import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

/** How long a canceled or timed-out ansible-playbook gets after SIGINT before SIGKILL. */
export const KILL_GRACE_MS = 10_000;

/**
 * Runs the program in place of the shell (same pid, exit status and signals) with a watcher
 * beside it in its process group: once stdin, a pipe from this process, closes (we ended it,
 * or this replica died, SIGKILL included), the watcher kills the whole group. So a replica that
 * dies takes its ansible-playbook and every ansible worker and ssh with it: no task starts
 * after a survivor ended the play (issue 13). The watcher reads a copy of stdin (sh gives a
 * background job /dev/null), ignores the SIGINT of a stop as background jobs of sh do, and holds
 * none of the output pipes.
 */
const DIE_WITH_PARENT = 'exec 3<&0; ( cat <&3; kill -KILL 0 ) >/dev/null 2>&1 & exec "$@" </dev/null 3<&-';

export interface AnsibleRun {
  /** Resolves with the exit code (null when killed by a signal) once the process and its pipes closed. */
  done: Promise<{ code: number | null; signal: string | null }>;
  /** SIGINT to the whole process group (ansible-playbook and its ssh children), SIGKILL after the grace. */
  stop(): void;
}

/**
 * Starts ansible-playbook in its own process group (so a stop reaches its ssh children too) and
 * hands over stdout and stderr line by line.
 */
export function startAnsible(o: {
  program: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  onStdout: (line: string) => void;
  onStderr: (line: string) => void;
  graceMs?: number;
}): AnsibleRun {
  // stdin is a pipe this process never writes: it closes when we end it or when we die.
  const child = spawn('/bin/sh', ['-c', DIE_WITH_PARENT, 'ansible', o.program, ...o.args], {
    cwd: o.cwd,
    env: o.env,
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin!.on('error', () => undefined);
  let killTimer: NodeJS.Timeout | null = null;
  const signalGroup = (signal: NodeJS.Signals) => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // Already gone.
    }
  };
  const out = createInterface({ input: child.stdout! });
  const err = createInterface({ input: child.stderr! });
  out.on('line', o.onStdout);
  err.on('line', o.onStderr);
  const closed = (rl: ReturnType<typeof createInterface>) => new Promise<void>((r) => rl.once('close', () => r()));
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    child.once('error', (e) => {
      o.onStderr(`cannot start ${o.program}: ${e.message}`);
      resolve({ code: 127, signal: null });
    });
    child.once('exit', (code, signal) => {
      // Its watcher ends the group's leftovers (ssh children) and itself.
      child.stdin!.end();
      resolve({ code, signal });
    });
  });
  const done = Promise.all([exited, closed(out), closed(err)]).then(([r]) => {
    if (killTimer) {
      clearTimeout(killTimer);
      // The ssh children of a stopped run may linger after ansible-playbook; they are ours to end.
      signalGroup('SIGKILL');
    }
    return r;
  });
  return {
    done,
    stop() {
      if (killTimer) return;
      signalGroup('SIGINT');
      killTimer = setTimeout(() => signalGroup('SIGKILL'), o.graceMs ?? KILL_GRACE_MS);
      killTimer.unref();
    },
  };
}
