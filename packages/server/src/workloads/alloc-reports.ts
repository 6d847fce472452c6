import type { AllocHostState, AllocStateData, AllocStatus } from '@gpufleet/protocol';
import type { AllocationPatch, AllocationRecord } from '../store/workload-records.js';
import { FINAL_ALLOC_STATUSES } from './claims/claim-table.js';

export function isFinalStatus(status: AllocStatus): boolean {
  return FINAL_ALLOC_STATUSES.includes(status);
}

const LIVE_HOST_STATES: readonly AllocHostState[] = ['starting', 'running', 'restarting'];

/** What a host report does to an allocation. */
export interface ReportOutcome {
  patch: AllocationPatch | null;
  /** The patch ends the allocation: its claims are released with it. */
  ends: boolean;
  /** The host runs something the server wants stopped: tell it again. */
  restop: boolean;
}

function messageOf(d: AllocStateData): string {
  return d.reason ? `${d.reason}: ${d.message}` : d.message;
}

/**
 * Turns a host's `alloc-state` into the allocation's new fields. The host's word decides the
 * status, with three exceptions: an allocation told to stop stays `stopping` until the host says
 * it ended; a `lost` allocation (replaced after its node stayed away) becomes `stopped` once the
 * host confirms it ended, and is told to stop again while the host still runs it; and a final
 * allocation never comes back to life (the host is told to stop it instead).
 * `healthySince` is when the host last started reporting it running and healthy (or running,
 * without a check), which rolling updates wait on.
 */
export function applyHostReport(a: AllocationRecord, d: AllocStateData, now: number): ReportOutcome {
  const live = LIVE_HOST_STATES.includes(d.state);
  if (isFinalStatus(a.status)) {
    if (a.status === 'lost' && !live)
      return { patch: { status: 'stopped', message: `the host confirmed it ended: ${messageOf(d)}`, updatedAt: now }, ends: false, restop: false };
    return { patch: null, ends: false, restop: live };
  }
  if (live) {
    const healthy = d.state === 'running' ? d.healthy : null;
    const healthySince = d.state === 'running' && d.healthy !== false ? (a.healthySince ?? now) : null;
    return {
      patch: {
        status: a.desired === 'stop' ? 'stopping' : d.state,
        healthy,
        healthySince,
        restarts: d.restarts,
        exitCode: d.exitCode,
        message: messageOf(d),
        updatedAt: now,
      },
      ends: false,
      restop: false,
    };
  }
  return {
    patch: { status: d.state, healthy: null, healthySince: null, restarts: d.restarts, exitCode: d.exitCode, message: messageOf(d), updatedAt: now },
    ends: true,
    restop: false,
  };
}
