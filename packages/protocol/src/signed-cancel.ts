import { z } from 'zod';
import { canonicalJson } from './canonical-json.js';
import { keyPairFromPem, signEd25519, verifyEd25519 } from './ed25519.js';
import { FleetError } from './errors.js';
import type { CommandPayload } from './remote-ops.js';

/*
 * A signed cancel: an operator's word that one command (run id and nonce) must not run, or must
 * stop. The server delivers it to every target of the run, also to hosts that connect later; a
 * host remembers it until `until`, refuses the command when it arrives and stops it when it runs.
 * A cancel counts only when signed by the command's own invoker or by a fleet root; a host that
 * has not seen the command yet keeps it and decides when the command arrives.
 */

const did = z.string().startsWith('did:key:z').max(128);
const epochMs = z.number().int().nonnegative();

/** The longest a cancel may be remembered past its signing: the longest command timeout plus a day. */
export const MAX_CANCEL_LIFETIME_MS = 8 * 86_400_000;

/** What the canceling operator signs. */
export const CancelPayload = z.strictObject({
  v: z.literal(1),
  kind: z.literal('cancel'),
  runId: z.string().min(8).max(64),
  /** The command's nonce: the cancel names exactly one command. */
  nonce: z.string().min(16).max(128),
  /** The signer. */
  iss: did,
  /** When it was signed (epoch ms). */
  at: epochMs,
  /** Hosts forget it after this (plus skew): the command's own acceptance deadline (commandDeadline). */
  until: epochMs,
});
export type CancelPayload = z.infer<typeof CancelPayload>;

export const SignedCancel = z.strictObject({ payload: CancelPayload, sig: z.string().max(256) });
export type SignedCancel = z.infer<typeof SignedCancel>;

/** The bytes a cancel's signature covers: canonical JSON of its payload. */
export function cancelSigningInput(payload: CancelPayload): string {
  return canonicalJson(payload);
}

/** Signs a cancel; FleetError('invalid_argument') when the payload is not valid or the key is not `iss`. */
export function signCancel(payload: CancelPayload, privateKeyPem: string): SignedCancel {
  const parsed = CancelPayload.safeParse(payload);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new FleetError('invalid_argument', `not a valid cancel: ${issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid'}`);
  }
  if (payload.until < payload.at) throw new FleetError('invalid_argument', 'a cancel cannot end before it is signed');
  if (payload.until - payload.at > MAX_CANCEL_LIFETIME_MS) throw new FleetError('invalid_argument', 'a cancel is kept at most 8 days');
  const keyDid = keyPairFromPem(privateKeyPem).did;
  if (keyDid !== payload.iss) throw new FleetError('invalid_argument', `the signing key is ${keyDid}, but the cancel's issuer is ${payload.iss}`);
  return { payload, sig: signEd25519(privateKeyPem, cancelSigningInput(payload)) };
}

/**
 * Why a cancel is not worth keeping, or null when it is well-formed, validly signed by its
 * issuer and within its lifetime bounds. Says nothing of whether the issuer may cancel the
 * command (cancelApplies decides that against the command itself).
 */
export function cancelProblem(value: unknown): string | null {
  const parsed = SignedCancel.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return `cancel is malformed: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'}`;
  }
  const { payload, sig } = parsed.data;
  if (payload.until < payload.at || payload.until - payload.at > MAX_CANCEL_LIFETIME_MS)
    return 'cancel lifetime is out of bounds (at most 8 days after it is signed)';
  if (!verifyEd25519(payload.iss, cancelSigningInput(payload), sig)) return `cancel of ${payload.runId} does not carry a valid signature by ${payload.iss}`;
  return null;
}

/** Whether `cancel` stops `command`: same run id and nonce, signed by the command's invoker or a fleet root. */
export function cancelApplies(cancel: CancelPayload, command: Pick<CommandPayload, 'runId' | 'nonce' | 'invoker'>, roots: readonly string[]): boolean {
  return cancel.runId === command.runId && cancel.nonce === command.nonce && (cancel.iss === command.invoker || roots.includes(cancel.iss));
}
