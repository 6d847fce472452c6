import type { ReleaseKind, UpdateStateData } from '@gpufleet/protocol';
import type { VerifiedRelease } from './release-verifier.js';

/**
 * What applies a verified release on this host, one per release kind (issue 14): the agent
 * installer (A/B folders, restart into the new build, watchdog) and the bundle applier
 * (containers, files, units). The update handler verifies the rollout and the TUF target, then
 * hands the verified file to the installer of its kind; the installer never sees unverified bytes.
 */
export interface ReleaseInstaller {
  readonly kind: ReleaseKind;
  /** The version of this release name running on this host now; null when none is installed. */
  runningVersion(name: string): string | null;
  /**
   * Installs and starts `release` (a verified file). Calls `progress` for each step it reaches
   * ('installing', 'restarting'); resolves with the final report: 'healthy' when the new version
   * runs and passed its checks, 'failed' (rolledBack says whether the old one is back) when not.
   * An agent installer may resolve with 'restarting' and report 'healthy' from the new process.
   */
  apply(release: VerifiedRelease, progress: (state: 'installing' | 'restarting', message: string) => void): Promise<InstallOutcome>;
  /** Goes back to the version installed before the current one; 'rolled-back', or 'failed' with why. */
  rollback(name: string, reason: string): Promise<InstallOutcome>;
}

/** What an installer says at the end of apply or rollback; the handler adds the rollout id and kind. */
export type InstallOutcome = Pick<UpdateStateData, 'state' | 'fromVersion' | 'runningVersion' | 'rolledBack' | 'message'>;
