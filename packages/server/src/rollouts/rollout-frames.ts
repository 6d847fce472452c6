import type { RolloutRecord } from '../store/rollout-records.js';
import type { RolloutFrame } from './rollout-machine.js';

/** How update frames reach hosts: the session table, which relays to the replica holding a session. */
export interface UpdateFrameSender {
  sendSerialized(nodeId: string, text: string): boolean;
}

/**
 * Sends a decision's frames: the apply frame (the operator's signed rollout, verbatim) is
 * serialised once for all hosts of a wave. A host that is not connected misses it; it gets it
 * when its session is ready again (RolloutService.onSessionReady). Returns how many went out.
 */
export function sendFrames(sender: UpdateFrameSender, rollout: RolloutRecord, frames: readonly RolloutFrame[]): number {
  let apply: string | null = null;
  let sent = 0;
  for (const f of frames) {
    let text: string;
    if (f.op === 'apply') {
      apply ??= JSON.stringify({ t: 'update', body: { op: 'apply', rolloutId: rollout.id, rollout: rollout.signed } });
      text = apply;
    } else {
      text = JSON.stringify({
        t: 'update',
        body: { op: 'rollback', rolloutId: rollout.id, kind: rollout.kind, name: rollout.name, reason: f.reason.slice(0, 500) },
      });
    }
    if (sender.sendSerialized(f.nodeId, text)) sent++;
  }
  return sent;
}
