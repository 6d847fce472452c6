import { readFileSync } from 'node:fs';

/**
 * Whether a process is alive: `kill -0` succeeds and it is not a zombie (an exited child whose
 * parent has not reaped it yet still answers kill -0, but runs nothing).
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    // No /proc entry: gone between the two checks.
    return false;
  }
}

/** Resolves once none of `pids` is alive; rejects after `timeoutMs` naming the survivors. */
export async function waitGone(pids: readonly number[], timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const alive = pids.filter(processAlive);
    if (alive.length === 0) return;
    if (Date.now() > until) throw new Error(`processes still alive: ${alive.join(', ')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
