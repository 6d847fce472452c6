import { z } from 'zod';
import { canonicalJson, verifyEd25519 } from '@gpufleet/protocol';

const Hash = z.string().regex(/^[0-9a-f]{64}$/);
const Id = z.number().int().nonnegative();
const At = z.number().int().nonnegative();

/**
 * A signed checkpoint of the audit chain's head. The hash chain alone has no secret: whoever can
 * write the database can rewrite records from some point on and recompute every hash after it.
 * The control plane's key (sealed with the master key, or a 0600 file outside the database)
 * signs the head it has checked, so such a rewrite no longer matches a signature the intruder
 * cannot make, and removing the newest records leaves the checkpoint naming a record that is gone.
 *
 * Version 2 also signs the legacy boundary (records written before the chain existed) and a hash
 * over those records, so no row in the database can widen the exemption or edit a legacy record,
 * and it carries when the chain was first signed, so trust on first use is visible.
 */
export const AuditCheckpointV2 = z.strictObject({
  v: z.literal(2),
  /** The newest record covered; 0 while no chained record exists (so a missing checkpoint is always suspicious). */
  id: Id,
  /** That record's chain hash (the genesis hash for 0). */
  hash: Hash,
  /** When it was signed (epoch ms). */
  at: At,
  /** Records with ids up to `until` predate the chain; `hash` chains them from genesis, in id order. */
  legacy: z.strictObject({ until: Id, hash: Hash }),
  /** When, and at which head, this chain was first signed: anything before it was trusted on first use. */
  first: z.strictObject({ at: At, id: Id }),
  /** The control plane key that signed it. */
  signer: z.string().startsWith('did:key:'),
  sig: z.string().max(256),
});
export type AuditCheckpointV2 = z.infer<typeof AuditCheckpointV2>;

/** The first format (before the legacy boundary was signed): read so an upgrade can re-sign it, never written. */
export const AuditCheckpointV1 = z.strictObject({
  v: z.literal(1),
  id: Id,
  hash: Hash,
  at: At,
  signer: z.string().startsWith('did:key:'),
  sig: z.string().max(256),
});
export type AuditCheckpointV1 = z.infer<typeof AuditCheckpointV1>;

export const AuditCheckpoint = z.discriminatedUnion('v', [AuditCheckpointV1, AuditCheckpointV2]);
export type AuditCheckpoint = z.infer<typeof AuditCheckpoint>;

/** Settings key under which the newest checkpoint is kept. */
export const AUDIT_CHECKPOINT_SETTING = 'audit.checkpoint';

// A domain tag per version, so a checkpoint signature can never be passed off as any other signed object.
const DOMAIN_V1 = 'gpufleet/audit-checkpoint/v1';
const DOMAIN_V2 = 'gpufleet/audit-checkpoint/v2';

/** The exact text a checkpoint's signature covers. */
export function checkpointSigningInput(c: Omit<AuditCheckpointV1, 'sig'> | Omit<AuditCheckpointV2, 'sig'>): string {
  if (c.v === 1) return canonicalJson({ domain: DOMAIN_V1, v: c.v, id: c.id, hash: c.hash, at: c.at, signer: c.signer });
  return canonicalJson({ domain: DOMAIN_V2, v: c.v, id: c.id, hash: c.hash, at: c.at, legacy: c.legacy, first: c.first, signer: c.signer });
}

/** What a new checkpoint says besides its head. */
export interface CheckpointCover {
  legacy: { until: number; hash: string };
  first: { at: number; id: number };
}

/** Signs `head` as a version 2 checkpoint. */
export function signCheckpoint(
  head: { id: number; hash: string },
  at: number,
  cover: CheckpointCover,
  signer: { did: string; sign(message: string): string },
): AuditCheckpointV2 {
  const unsigned = { v: 2 as const, id: head.id, hash: head.hash, at, legacy: { ...cover.legacy }, first: { ...cover.first }, signer: signer.did };
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
  if (!parsed.success)
    return {
      error: `the stored checkpoint is malformed (${parsed.error.issues[0]?.path.join('.') || 'top'}: ${parsed.error.issues[0]?.message ?? 'invalid'})`,
    };
  return { checkpoint: parsed.data };
}

/** True when `c` was signed by `expectedSigner` (the control plane's own key) and nobody else. */
export function checkpointSignatureValid(c: AuditCheckpoint, expectedSigner: string): boolean {
  if (c.signer !== expectedSigner) return false;
  const { sig, ...unsigned } = c;
  return verifyEd25519(expectedSigner, checkpointSigningInput(unsigned), sig);
}
