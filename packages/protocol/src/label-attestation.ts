import { z } from 'zod';
import { BUILTIN_LABEL_KEYS } from './builtin-labels.js';
import { canonicalJson } from './canonical-json.js';
import { DEFAULT_SKEW_MS, verifyCapability } from './capability.js';
import { keyPairFromPem, signEd25519, verifyEd25519 } from './ed25519.js';
import { FleetError } from './errors.js';
import { Capability, type RefusalReason, type Verdict } from './remote-ops.js';
import { LabelMap } from './rest.js';
import { vouchesForPresent, type Labels, type VouchesFor } from './selector.js';

/**
 * A label attestation: the complete set of operator labels of one node, signed by a fleet root
 * or by an operator whose capability grants `node/labels` on that node. The server stores and
 * forwards it; the host verifies it with the same chain code as commands and from then on
 * vouches for those labels, and for the absence of every other operator label.
 */

/** The ability a capability must grant for its holder to sign label attestations. */
export const LABELS_ABILITY = 'node/labels' as const;

const did = z.string().startsWith('did:key:z').max(128);

export const LabelAttestation = z.strictObject({
  v: z.literal(1),
  /** The node's did:key: an attestation counts on that host only. */
  node: did,
  /** Every operator label of the node (not the built-in ones, which each host computes itself). */
  labels: LabelMap.refine((m) => !Object.keys(m).some((k) => (BUILTIN_LABEL_KEYS as readonly string[]).includes(k)), {
    message: `built-in labels (${BUILTIN_LABEL_KEYS.join(', ')}) are computed by each host and cannot be attested`,
  }),
  /** Per node, strictly increasing: a host never goes back to an older set. */
  version: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  issuedAt: z.number().int().nonnegative(),
  iss: did,
  /** Null when `iss` is a fleet root; otherwise a capability for `node/labels` delegated to `iss`. */
  cap: z.lazy(() => Capability).nullable(),
  sig: z.string().max(256),
});
export type LabelAttestation = z.infer<typeof LabelAttestation>;

/** What the verifier knows: the host's trust state, or the server's view of the node. */
export interface LabelAttestationContext {
  /** The did:key of the node this check is for. */
  node: string;
  roots: readonly string[];
  now: number;
  skewMs?: number;
  isRevoked: (capId: string, did: string) => boolean;
  /**
   * The node's labels the signer's capability selector is matched against: before this
   * attestation (and after it, too: a delegated signer may not move a host out of its scope).
   */
  hostLabels: Labels;
  /** The label keys `hostLabels` vouches for (see CapabilityContext.vouches). */
  vouches?: VouchesFor;
  /** The version the verifier holds (0 or unset: none); the attestation must be newer. */
  currentVersion?: number;
}

function refused(reason: RefusalReason, message: string): Verdict {
  return { ok: false, reason, message };
}

function short(value: string): string {
  return value.length > 24 ? `${value.slice(0, 16)}…${value.slice(-6)}` : value;
}

function firstIssue(error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] }): string {
  const issue = error.issues[0];
  return issue ? `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}` : 'invalid';
}

/** The bytes an attestation's signature covers: canonical JSON of every field but `sig`. */
export function labelAttestationSigningInput(fields: Omit<LabelAttestation, 'sig'> | LabelAttestation): string {
  const { sig: _sig, ...rest } = fields as LabelAttestation;
  return canonicalJson(rest);
}

/** Signs an attestation with the issuer's key; throws FleetError('invalid_argument') on bad fields or the wrong key. */
export function signLabelAttestation(fields: Omit<LabelAttestation, 'sig'>, privateKeyPem: string): LabelAttestation {
  const keyDid = keyPairFromPem(privateKeyPem).did;
  if (keyDid !== fields.iss) throw new FleetError('invalid_argument', `the signing key is ${keyDid}, but the label attestation's issuer is ${fields.iss}`);
  const att = { ...fields, sig: signEd25519(privateKeyPem, labelAttestationSigningInput(fields)) };
  const parsed = LabelAttestation.safeParse(att);
  if (!parsed.success) throw new FleetError('invalid_argument', `not a valid label attestation: ${firstIssue(parsed.error)}`);
  return parsed.data;
}

/**
 * Whether a host (or the server, for the host's sake) should take an attestation: well-formed
 * (malformed), for this node (untrusted_chain), validly signed by its issuer (bad_signature),
 * not from the future (not_yet_valid), strictly newer than the version held (expired), and
 * issued by a fleet root (not revoked) or by the audience of a capability that verifies now for
 * `node/labels` on this host, before and after the change (unknown_issuer, or the capability's
 * own refusal).
 */
export function verifyLabelAttestation(value: unknown, ctx: LabelAttestationContext): Verdict {
  const parsed = LabelAttestation.safeParse(value);
  if (!parsed.success) return refused('malformed', `label attestation is malformed: ${firstIssue(parsed.error)}`);
  const a = parsed.data;
  if (a.node !== ctx.node) return refused('untrusted_chain', `label attestation is for node ${short(a.node)}, not this one (${short(ctx.node)})`);
  if (!verifyEd25519(a.iss, labelAttestationSigningInput(a), a.sig))
    return refused('bad_signature', `label attestation does not carry a valid signature by its issuer ${short(a.iss)}`);
  const skew = ctx.skewMs ?? DEFAULT_SKEW_MS;
  if (a.issuedAt > ctx.now + skew) return refused('not_yet_valid', `label attestation is issued at ${new Date(a.issuedAt).toISOString()}, in the future`);
  const held = ctx.currentVersion ?? 0;
  if (a.version <= held) return refused('expired', `label attestation version ${a.version} is not newer than the version held (${held})`);
  if (a.cap === null) {
    if (!ctx.roots.includes(a.iss)) return refused('unknown_issuer', `label attestation issuer ${short(a.iss)} is not a fleet root and presents no capability`);
    if (ctx.isRevoked('', a.iss)) return refused('revoked', `label attestation issuer ${short(a.iss)} is revoked`);
    return { ok: true };
  }
  // A delegated signer must hold node/labels on this host as it is, and as it would be.
  const before = { labels: ctx.hostLabels, vouches: ctx.vouches ?? vouchesForPresent(ctx.hostLabels) };
  const after = { labels: { ...ctx.hostLabels, ...a.labels }, vouches: (key: string) => Object.hasOwn(a.labels, key) || before.vouches(key) };
  for (const host of [before, after]) {
    const verdict = verifyCapability(a.cap, {
      roots: ctx.roots,
      now: ctx.now,
      skewMs: skew,
      isRevoked: ctx.isRevoked,
      hostLabels: host.labels,
      vouches: host.vouches,
      ability: LABELS_ABILITY,
      invoker: a.iss,
    });
    if (!verdict.ok) return { ok: false, reason: verdict.reason, message: `label attestation: ${verdict.message}` };
  }
  return { ok: true };
}
