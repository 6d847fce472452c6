import { z } from 'zod';
import { canonicalJson, verifyEd25519 } from '@gpufleet/protocol';

/**
 * A signed checkpoint of the audit chain's head. The hash chain alone has no secret: whoever can
 * write the database can rewrite records from some point on and recompute every hash after it.
 * The control plane's key (sealed with the master key, or a 0600 file outside the database)
 * signs the head it has checked, so such a rewrite no longer matches a signature the intruder
 * cannot make, and removing the newest records leaves the checkpoint naming a record that is gone.
 */
export const AuditCheckpoint = z.strictObject({
  v: z.literal(1),
  /** The newest record covered; 0 while the chain is empty (so a missing checkpoint is always suspicious). */
  id: z.number().int().nonnegative(),
  /** That record's chain hash. */
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  /** When it was signed (epoch ms). */
  at: z.number().int().nonnegative(),
  /** The control plane key that signed it. */
  signer: z.string().startsWith('did:key:'),
  sig: z.string().max(256),
});
export type AuditCheckpoint = z.infer<typeof AuditCheckpoint>;

/** Settings key under which the newest checkpoint is kept. */
export const AUDIT_CHECKPOINT_SETTING = 'audit.checkpoint';

// A domain tag, so a checkpoint signature can never be passed off as any other signed object.
const DOMAIN = 'gpufleet/audit-checkpoint/v1';

export function checkpointSigningInput(c: Omit<AuditCheckpoint, 'sig'>): string {
  return canonicalJson({ domain: DOMAIN, v: c.v, id: c.id, hash: c.hash, at: c.at, signer: c.signer });
}

export function signCheckpoint(head: { id: number; hash: string }, at: number, signer: { did: string; sign(message: string): string }): AuditCheckpoint {
  const unsigned = { v: 1 as const, id: head.id, hash: head.hash, at, signer: signer.did };
  return { ...unsigned, sig: signer.sign(checkpointSigningInput(unsigned)) };
}

/** The checkpoint in a settings value, or why it is not one. */
export function parseCheckpoint(text: string): { checkpoint: AuditCheckpoint } | { error: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { error: 'the stored checkpoint is not JSON' };
  }
  const parsed = AuditCheckpoint.safeParse(raw);
  if (!parsed.success) return { error: `the stored checkpoint is malformed (${parsed.error.issues[0]?.path.join('.') || 'top'}: ${parsed.error.issues[0]?.message ?? 'invalid'})` };
  return { checkpoint: parsed.data };
}

/** True when `c` was signed by `expectedSigner` (the control plane's own key) and nobody else. */
export function checkpointSignatureValid(c: AuditCheckpoint, expectedSigner: string): boolean {
  if (c.signer !== expectedSigner) return false;
  const { sig, ...unsigned } = c;
  return verifyEd25519(expectedSigner, checkpointSigningInput(unsigned), sig);
}
