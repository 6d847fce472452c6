import { readFileSync } from 'node:fs';
import { AGENT_RELEASE_NAME, FleetError } from '@gpufleet/protocol';
import type { Clock } from '../runtime/clock.js';
import { unpackAgentRelease } from './agent-release.js';
import { BUILTIN, InstallLayout } from './install-layout.js';
import { writePendingUpdate } from './pending-update.js';
import type { InstallOutcome, ReleaseInstaller } from './release-installer.js';
import type { VerifiedRelease } from './release-verifier.js';

/** Exit code that asks `gpufleet-agent launch` to start the agent again (into the build `current` names now). */
export const RESTART_EXIT_CODE = 75;

export interface AgentInstallerOptions {
  /** The A/B folders (`gpufleet-agent launch --install-dir`). */
  installDir: string;
  /** Where the pending-update record goes (the agent's data dir). */
  dataDir: string;
  /** This process's agent version. */
  runningVersion: string;
  /** Stops this agent and exits with RESTART_EXIT_CODE (called after the final report is enqueued). */
  restart: () => void;
  clock: Clock;
  /** Whether the new build's self-check waits for the server's welcome. Default true; false for side-loading. */
  needsServer?: boolean;
  /** Ask the running launcher to restart the agent into the new build (a side-load: this process is not the agent). Default false. */
  askLauncherToRestart?: boolean;
}

/**
 * Installs agent builds (issue 14): unpacks the verified release into the slot the running
 * build does not use, writes the pending-update record, switches `current`, and restarts into
 * it through the launcher, which watches the new build's self-check and switches back when it
 * fails. The result of an apply is 'restarting': the new process reports 'healthy', or the old
 * one 'failed' after the launcher brought it back.
 */
export class AgentInstaller implements ReleaseInstaller {
  readonly kind = 'agent' as const;
  readonly layout: InstallLayout;

  constructor(private readonly o: AgentInstallerOptions) {
    this.layout = new InstallLayout(o.installDir);
  }

  runningVersion(name: string): string | null {
    return name === AGENT_RELEASE_NAME ? this.o.runningVersion : null;
  }

  async apply(release: VerifiedRelease, progress: (state: 'installing' | 'restarting', message: string) => void): Promise<InstallOutcome> {
    if (release.kind !== 'agent') throw new FleetError('invalid_argument', `the agent installer got a ${release.kind} release`);
    const from = this.o.runningVersion;
    const files = unpackAgentRelease(readFileSync(release.file), release.version);
    const slot = this.layout.inactive;
    progress('installing', `unpacking agent ${release.version} into ${this.layout.slotDir(slot)}`);
    this.layout.fill(slot, files);
    writePendingUpdate(this.o.dataDir, {
      v: 1,
      rolloutId: release.rolloutId ?? null,
      op: 'update',
      fromVersion: from,
      toVersion: release.version,
      version: release.version,
      state: 'switched',
      switchedAt: this.o.clock.now(),
      reason: null,
      ...(this.o.needsServer === false ? { needsServer: false } : {}),
      ...(this.o.askLauncherToRestart ? { launcherRestart: 'asked' as const } : {}),
    });
    // After the record: a launcher asked to restart acts only once `current` names the new build.
    this.layout.switchTo(slot);
    setTimeout(() => this.o.restart(), 50);
    return {
      state: 'restarting',
      fromVersion: from,
      runningVersion: from,
      rolledBack: false,
      message: `agent ${release.version} installed in slot ${slot}; restarting into it`,
    };
  }

  async rollback(name: string, reason: string): Promise<InstallOutcome> {
    const from = this.o.runningVersion;
    const previous = this.layout.previous;
    const fail = (message: string): InstallOutcome => ({ state: 'failed', fromVersion: from, runningVersion: from, rolledBack: false, message });
    if (name !== AGENT_RELEASE_NAME) return fail(`the agent installer rolls back ${AGENT_RELEASE_NAME}, not ${name}`);
    if (previous === null) return fail('there is no agent build to go back to on this host');
    const to = previous === BUILTIN ? 'the built-in agent' : (this.layout.slotVersion(previous) ?? 'unknown');
    writePendingUpdate(this.o.dataDir, {
      v: 1,
      rolloutId: null,
      op: 'rollback',
      fromVersion: from,
      toVersion: to,
      version: from,
      state: 'switched',
      switchedAt: this.o.clock.now(),
      reason: reason.slice(0, 2048),
    });
    this.layout.switchBack();
    setTimeout(() => this.o.restart(), 50);
    return { state: 'restarting', fromVersion: from, runningVersion: from, rolledBack: false, message: `going back to agent ${to}: ${reason}` };
  }
}
