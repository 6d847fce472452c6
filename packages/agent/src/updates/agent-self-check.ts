import { AGENT_RELEASE_NAME, type UpdateStateData } from '@gpufleet/protocol';
import { errorText, type Logger } from '../runtime/logger.js';
import { clearPendingUpdate, readPendingUpdate, writePendingUpdate, type PendingUpdate } from './pending-update.js';
import { rememberUpdateFailure } from './update-failures.js';

/**
 * What an agent does at start with the pending-update record (issue 14). The build a switch
 * went to owes a self-check: once the server welcomed it and it finished one collection, it
 * marks the record confirmed (the launcher stops watching) and reports 'healthy' (or
 * 'rolled-back' after an ordered rollback). The build the launcher went back to reports the
 * failure with the launcher's reason. A build that is neither (the agent was restarted without
 * the launcher) reports the update failed, since the new build never ran.
 */
export class AgentSelfCheck {
  private owed: PendingUpdate | null = null;

  constructor(
    private readonly o: {
      dataDir: string;
      runningVersion: string;
      report: (data: UpdateStateData) => void;
      logger: Logger;
    },
  ) {}

  /** True while this build still owes its self-check. */
  get pending(): boolean {
    return this.owed !== null;
  }

  /**
   * A collection finished (`welcomed`: the server had welcomed this agent when it began). The
   * self-check passes with the first one after a welcome, or the first one at all when the
   * switch needs no server (a side-loaded build).
   */
  collected(welcomed: boolean): void {
    if (this.owed && (welcomed || this.owed.needsServer === false)) this.healthy();
  }

  /** Reads the record at start: reports what is settled, remembers a self-check owed. */
  start(): void {
    const r = readPendingUpdate(this.o.dataDir);
    if (!r) return;
    const me = this.o.runningVersion;
    const isTarget = r.op === 'update' ? me === r.toVersion : me !== r.fromVersion;
    if (r.state === 'rolled-back') {
      this.finish(r, 'failed', true, r.reason ?? 'the new agent did not pass its self-check; the launcher went back');
    } else if (!isTarget) {
      if (r.state === 'switched') {
        this.finish(r, 'failed', true, `the agent started as ${me}, not the new build ${r.toVersion}: is it run by \`gpufleet-agent launch\`?`);
      } else {
        clearPendingUpdate(this.o.dataDir);
      }
    } else if (r.state === 'confirmed') {
      // Confirmed, then stopped before the report was made: make it now.
      this.finish(r, r.op === 'update' ? 'healthy' : 'rolled-back', r.op === 'rollback', this.healthyText(r));
    } else {
      this.owed = r;
      this.o.logger.info('this agent build owes its self-check', { from: r.fromVersion, to: r.toVersion });
    }
  }

  /** The agent was welcomed and finished one collection: the self-check passed. */
  healthy(): void {
    const r = this.owed;
    if (!r) return;
    this.owed = null;
    try {
      writePendingUpdate(this.o.dataDir, { ...r, state: 'confirmed' });
    } catch (err) {
      this.o.logger.error('could not confirm the update; the launcher may go back', { err: errorText(err) });
      return;
    }
    this.finish(r, r.op === 'update' ? 'healthy' : 'rolled-back', r.op === 'rollback', this.healthyText(r));
  }

  private healthyText(r: PendingUpdate): string {
    return r.op === 'update'
      ? `agent ${this.o.runningVersion} runs and passed its self-check (was ${r.fromVersion})`
      : `back on agent ${this.o.runningVersion} (was ${r.fromVersion}): ${r.reason ?? 'rollback ordered'}`;
  }

  private finish(r: PendingUpdate, state: 'healthy' | 'failed' | 'rolled-back', rolledBack: boolean, message: string): void {
    if (state === 'failed' && r.op === 'update' && r.rolloutId !== null) {
      try {
        rememberUpdateFailure(this.o.dataDir, { rolloutId: r.rolloutId, version: r.version, message });
      } catch (err) {
        this.o.logger.warn('could not note the failed update', { err: errorText(err) });
      }
    }
    this.o.report({
      rolloutId: r.rolloutId,
      kind: 'agent',
      name: AGENT_RELEASE_NAME,
      version: r.version,
      fromVersion: r.fromVersion,
      runningVersion: this.o.runningVersion,
      state,
      rolledBack,
      reason: null,
      message,
    });
    clearPendingUpdate(this.o.dataDir);
  }
}
