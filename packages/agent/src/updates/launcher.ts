import { spawn, type ChildProcess } from 'node:child_process';
import { errorText, type Logger } from '../runtime/logger.js';
import { RESTART_EXIT_CODE } from './agent-installer.js';
import { InstallLayout } from './install-layout.js';
import { clearPendingUpdate, readPendingUpdate, writePendingUpdate } from './pending-update.js';
import { startableEntry } from './startable-build.js';

/** The environment variable that tells `run` it was started by the launcher, and where the A/B folders are. */
export const INSTALL_DIR_ENV = 'GPUFLEET_AGENT_INSTALL_DIR';

export interface LauncherOptions {
  installDir: string;
  dataDir: string;
  /** Arguments after `run` for every agent started. */
  runArgs: readonly string[];
  /** How long a new build has to pass its self-check. */
  healthDeadlineMs: number;
  /** The agent to start when no release is installed: the launcher's own program. */
  builtinEntry: string;
  /** The version of the built-in agent (said in the report of a build refused for changed files). */
  builtinVersion: string;
  /** The node binary. Default process.execPath. */
  node?: string;
  /** How often the pending record is read (a new build watched, a side-load's restart asked). Default 250 ms. */
  pollMs?: number;
  /** Grace a stopped agent gets before SIGKILL. Default 10 s. */
  stopGraceMs?: number;
  /** Aborting it stops the agent and the launcher (SIGTERM and SIGINT do by default). */
  signal?: AbortSignal;
  logger: Logger;
}

type ChildEnd = { code: number | null; signal: NodeJS.Signals | null; why: 'exited' | 'deadline' | 'stopped' | 'restart' };

/**
 * `gpufleet-agent launch` (issue 14): the small supervisor the systemd unit runs, never replaced
 * by a release. It starts the build the install dir's `current` link names (or its own agent
 * when none is installed) once its files match the hashes recorded at install (startable-build.ts
 * goes back to the build before when not), starts it again when it exits asking to (code 75, after switching
 * builds), and watches a switched-to build: if it does not confirm its self-check within the
 * deadline, or exits before, the launcher stops it, switches `current` back and starts the old
 * build, which reports the failure. A side-load that installed a build and asked for a restart
 * (pending record `launcherRestart: 'asked'`, `current` switched) has the running agent stopped
 * and the new build started and watched, as if the agent had exited 75. Any other exit ends the
 * launcher with the agent's code, so systemd's Restart= applies as before.
 */
export async function runLauncher(o: LauncherOptions): Promise<number> {
  const layout = new InstallLayout(o.installDir);
  const log = o.logger;
  for (;;) {
    if (o.signal?.aborted) return 0;
    // Before the record is read: a refused new build turns a switch in flight into a rolled-back one.
    const entry = startableEntry({ layout, dataDir: o.dataDir, builtinEntry: o.builtinEntry, builtinVersion: o.builtinVersion, logger: log });
    const pending = readPendingUpdate(o.dataDir);
    const watching = pending?.state === 'switched';
    log.info('starting the agent', { entry, ...(watching ? { watch: `${pending.fromVersion} -> ${pending.toVersion}` } : {}) });
    const child = spawn(o.node ?? process.execPath, [entry, 'run', ...o.runArgs], {
      stdio: 'inherit',
      env: { ...process.env, [INSTALL_DIR_ENV]: o.installDir },
    });
    const end = await supervise(child, o, watching ? performance.now() + o.healthDeadlineMs : null, () => restartAsked(o, layout, entry));
    if (end.why === 'stopped') return end.code ?? 0;
    if (end.why === 'restart') continue;
    const record = readPendingUpdate(o.dataDir);
    if (watching && record?.state === 'switched' && end.code !== RESTART_EXIT_CODE) {
      const reason =
        end.why === 'deadline'
          ? `the new agent ${record.toVersion} did not pass its self-check within ${Math.round(o.healthDeadlineMs / 1000)} s`
          : `the new agent ${record.toVersion} exited with ${end.signal ? `signal ${end.signal}` : `code ${end.code}`} before its self-check`;
      if (layout.switchBack()) {
        log.warn('going back to the previous agent build', { reason });
        writePendingUpdate(o.dataDir, { ...record, state: 'rolled-back', reason });
        continue;
      }
      log.error('the new agent failed and there is no build to go back to', { reason });
      clearPendingUpdate(o.dataDir);
    }
    if (end.code === RESTART_EXIT_CODE) continue;
    log.info('the agent exited', { code: end.code, signal: end.signal });
    return end.code ?? 1;
  }
}

/**
 * True when a side-load switched `current` away from `entry` and asked for a restart: marks the
 * request taken first (what `sideload` waits to see), so it is acted on once.
 */
function restartAsked(o: LauncherOptions, layout: InstallLayout, entry: string): boolean {
  const r = readPendingUpdate(o.dataDir);
  if (r?.state !== 'switched' || r.launcherRestart !== 'asked' || (layout.currentEntry() ?? o.builtinEntry) === entry) return false;
  try {
    writePendingUpdate(o.dataDir, { ...r, launcherRestart: 'taken' });
  } catch (err) {
    o.logger.error('could not take the side-loaded restart; restart the agent by hand', { err: errorText(err) });
    return false;
  }
  o.logger.info('restarting the agent into a side-loaded build', { from: r.fromVersion, to: r.toVersion });
  return true;
}

/**
 * Waits for the child: its exit, the launcher's stop, (while watching) the deadline passing
 * unconfirmed, or (otherwise) a side-load asking for a restart.
 */
function supervise(child: ChildProcess, o: LauncherOptions, deadline: number | null, askedToRestart: () => boolean): Promise<ChildEnd> {
  return new Promise((resolve) => {
    let why: ChildEnd['why'] = 'exited';
    let killTimer: NodeJS.Timeout | null = null;
    const stop = (reason: ChildEnd['why']) => {
      if (why !== 'exited') return;
      why = reason;
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), o.stopGraceMs ?? 10_000);
    };
    const onAbort = () => stop('stopped');
    const onSignal = () => stop('stopped');
    o.signal?.addEventListener('abort', onAbort, { once: true });
    if (!o.signal) {
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
    }
    let watching = deadline !== null;
    const poll = setInterval(() => {
      if (why !== 'exited') return;
      if (!watching) {
        if (askedToRestart()) stop('restart');
        return;
      }
      const r = readPendingUpdate(o.dataDir);
      // Confirmed (or reported and cleared): the new build is healthy; stop watching.
      if (r?.state !== 'switched') watching = false;
      else if (deadline !== null && performance.now() > deadline) stop('deadline');
    }, o.pollMs ?? 250);
    let settled = false;
    const done = (code: number | null, signal: NodeJS.Signals | null) => {
      if (settled) return;
      settled = true;
      clearInterval(poll);
      if (killTimer) clearTimeout(killTimer);
      o.signal?.removeEventListener('abort', onAbort);
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      resolve({ code, signal, why });
    };
    // A node that cannot be started at all counts as an agent that exited with 1.
    child.once('error', (err) => {
      o.logger.error('could not start the agent', { err: errorText(err) });
      done(1, null);
    });
    child.once('exit', done);
  });
}
