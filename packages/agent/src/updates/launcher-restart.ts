import { existsSync } from 'node:fs';
import { pendingUpdatePath, readPendingUpdate, writePendingUpdate } from './pending-update.js';

/**
 * `sideload --install` of an agent build asks the running launcher to restart the agent into it
 * (issue 14): the installer's pending record carries `launcherRestart: 'asked'`, and a launcher
 * supervising this data dir marks it 'taken' within its poll interval as it stops the old agent.
 * This waits for that mark. When none comes, no launcher runs here (or it is an older one): the
 * request is withdrawn, so a launcher started later does not restart an agent the operator was
 * told to restart, and `sideload` says so.
 */
export async function awaitLauncherRestart(dataDir: string, o: { waitMs: number; pollMs?: number }): Promise<boolean> {
  const until = performance.now() + o.waitMs;
  for (;;) {
    const r = readPendingUpdate(dataDir);
    // A record that no longer parses was not written by a launcher: nothing says it restarted.
    if (r === null) return !existsSync(pendingUpdatePath(dataDir));
    // Taken, or already past it (the new build confirmed, or the launcher went back).
    if (r.state !== 'switched' || r.launcherRestart === 'taken') return true;
    if (r.launcherRestart !== 'asked') return false;
    if (performance.now() >= until) {
      const { launcherRestart: _withdrawn, ...rest } = r;
      writePendingUpdate(dataDir, rest);
      return false;
    }
    await new Promise((resolve) => setTimeout(resolve, o.pollMs ?? 100));
  }
}
