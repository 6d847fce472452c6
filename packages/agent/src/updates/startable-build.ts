import { AGENT_RELEASE_NAME } from '@gpufleet/protocol';
import { errorText, type Logger } from '../runtime/logger.js';
import type { InstallLayout, Slot } from './install-layout.js';
import { readPendingUpdate, writePendingUpdate } from './pending-update.js';
import { keepSideloadReport } from './sideload-reports.js';

/**
 * Which agent build the launcher may start (issue 14): the one `current` names when its files
 * are as they were installed (slot-manifest.ts), else the build before it, else the built-in
 * agent. A refused build is reported by the build that starts instead, when it next connects:
 * as the failure of the switch in flight when there is one (the pending record goes
 * 'rolled-back', exactly as when a new build fails its self-check, so the rollout sees it), or
 * else as a failed update of its own (kept like a side-loaded report until the agent starts).
 */
export function startableEntry(o: { layout: InstallLayout; dataDir: string; builtinEntry: string; builtinVersion: string; logger: Logger }): string {
  const { layout } = o;
  for (let slot = layout.current; slot !== null; slot = layout.current) {
    const problem = layout.problem(slot);
    if (problem === null) {
      const entry = layout.currentEntry();
      if (entry) return entry;
    }
    const version = layout.slotVersion(slot);
    const why = `agent ${version ?? 'build'} in slot ${slot} was not started: ${problem ?? 'its entry point is missing'}`;
    if (!layout.switchBack()) layout.dropCurrent();
    o.logger.error('not starting a changed agent build; going back', { slot, problem: why, now: layout.current ?? 'built-in' });
    record(o, slot, version, why);
  }
  return o.builtinEntry;
}

function record(o: { layout: InstallLayout; dataDir: string; builtinVersion: string; logger: Logger }, slot: Slot, version: string | null, why: string): void {
  const now = o.layout.current;
  const running = now === null ? o.builtinVersion : o.layout.slotVersion(now);
  try {
    const pending = readPendingUpdate(o.dataDir);
    if (pending?.state === 'switched') {
      writePendingUpdate(o.dataDir, { ...pending, state: 'rolled-back', reason: why.slice(0, 2048) });
      return;
    }
    keepSideloadReport(o.dataDir, {
      rolloutId: null,
      kind: 'agent',
      name: AGENT_RELEASE_NAME,
      version: (version ?? 'unknown').slice(0, 64),
      fromVersion: version?.slice(0, 64) ?? null,
      runningVersion: running?.slice(0, 64) ?? null,
      state: 'failed',
      rolledBack: true,
      reason: null,
      message: `${why}; running ${now === null ? 'the built-in agent' : `slot ${now}`} instead`.slice(0, 4096),
    });
  } catch (err) {
    // The build that starts still runs; only the report is lost, and the launcher's log has it.
    o.logger.error('could not keep the report of a refused agent build', { slot, err: errorText(err) });
  }
}
