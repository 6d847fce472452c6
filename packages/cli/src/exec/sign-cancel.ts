import { commandDeadline, signCancel, type SignedCancel } from '@gpufleet/protocol';
import { CliError } from '../errors.js';

/** What a signed cancel needs to know of the command it stops. */
export interface CancelTarget {
  runId: string;
  nonce: string;
  issuedAt: number;
  timeoutMs: number;
}

/**
 * A cancel of exactly this command signed with the operator's key, kept by hosts until the
 * command's own deadline (after it no host would start the command anyway). Hosts honour it when
 * the key is the command's invoker or a fleet root.
 */
export function signedCancelFor(target: CancelTarget, key: { did: string; privateKeyPem: string }, now: number): SignedCancel {
  const until = Math.max(now, commandDeadline(target));
  return signCancel({ v: 1, kind: 'cancel', runId: target.runId, nonce: target.nonce, iss: key.did, at: now, until }, key.privateKeyPem);
}

/** The cancel target of a run as GET /api/v1/runs/{id} shows it; a clear error when the server does not say the nonce. */
export function cancelTargetOf(view: { id: string; command: { nonce?: string; issuedAt: string; timeoutMs: number } }): CancelTarget {
  const issuedAt = Date.parse(view.command.issuedAt);
  if (typeof view.command.nonce !== 'string' || !Number.isFinite(issuedAt)) {
    throw new CliError(`the server does not show run ${view.id}'s nonce, so a signed cancel cannot name it (an older server?): cancel without --sign`);
  }
  return { runId: view.id, nonce: view.command.nonce, issuedAt, timeoutMs: view.command.timeoutMs };
}
