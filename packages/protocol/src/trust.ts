import { canonicalJson } from './canonical-json.js';
import { keyPairFromPem, signEd25519, verifyEd25519 } from './ed25519.js';
import { FleetError } from './errors.js';
import { Revocation, RootsUpdate, type RefusalReason, type Verdict } from './remote-ops.js';

/**
 * Trust material that reaches hosts through the server: revocations and root-set updates.
 * Both are signed, so the server can carry them but not make them up.
 */

function refused(reason: RefusalReason, message: string): Verdict {
  return { ok: false, reason, message };
}

function short(did: string): string {
  return did.length > 24 ? `${did.slice(0, 16)}…${did.slice(-6)}` : did;
}

function firstIssue(error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] }): string {
  const issue = error.issues[0];
  return issue ? `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}` : 'invalid';
}

function signingInput<T extends { sig: string }>(fields: Omit<T, 'sig'> | T): string {
  const { sig: _sig, ...rest } = fields as T;
  return canonicalJson(rest);
}

function checkSigner(privateKeyPem: string, iss: string, what: string): void {
  const keyDid = keyPairFromPem(privateKeyPem).did;
  if (keyDid !== iss) throw new FleetError('invalid_argument', `the signing key is ${keyDid}, but the ${what}'s issuer is ${iss}`);
}

/** The bytes a revocation's signature covers: canonical JSON of every field but `sig`. */
export function revocationSigningInput(fields: Omit<Revocation, 'sig'> | Revocation): string {
  return signingInput<Revocation>(fields);
}

/** Signs a revocation with its issuer's key; throws FleetError('invalid_argument') on bad fields or the wrong key. */
export function signRevocation(fields: Omit<Revocation, 'sig'>, privateKeyPem: string): Revocation {
  checkSigner(privateKeyPem, fields.iss, 'revocation');
  const rev = { ...fields, sig: signEd25519(privateKeyPem, revocationSigningInput(fields)) };
  const parsed = Revocation.safeParse(rev);
  if (!parsed.success) throw new FleetError('invalid_argument', `not a valid revocation: ${firstIssue(parsed.error)}`);
  return parsed.data;
}

/**
 * Whether a host should honour a revocation: well-formed (malformed), validly signed by its
 * issuer (bad_signature), and issued by a fleet root, or by a key revoking itself (a holder
 * who lost its key may always give up its own authority); anyone else: unknown_issuer.
 */
export function verifyRevocation(rev: Revocation, roots: readonly string[]): Verdict {
  const parsed = Revocation.safeParse(rev);
  if (!parsed.success) return refused('malformed', `revocation is malformed: ${firstIssue(parsed.error)}`);
  const r = parsed.data;
  if (!verifyEd25519(r.iss, revocationSigningInput(r), r.sig))
    return refused('bad_signature', `revocation does not carry a valid signature by its issuer ${short(r.iss)}`);
  const selfRevocation = 'did' in r.target && r.target.did === r.iss;
  if (!roots.includes(r.iss) && !selfRevocation) return refused('unknown_issuer', `revocation issuer ${short(r.iss)} is not a fleet root`);
  return { ok: true };
}

/** A lookup over verified revocations, in the shape verifyCapability's `isRevoked` wants. */
export interface RevocationIndex {
  isRevoked(capId: string, did: string): boolean;
  /**
   * Adds a revocation; false (and nothing added) when it does not verify. One by a root or a
   * key revoking itself counts everywhere; a validly signed revocation of a capability by any
   * other key counts only for a capability whose own issuer is that key (verifyCapability asks
   * isRevoked(id, issuer) for every link, so the pair matches exactly there).
   */
  add(rev: Revocation, roots: readonly string[]): boolean;
  readonly size: number;
}

/** Builds a revocation index from revocations, keeping only those that verify against `roots`. */
export function createRevocationIndex(revocations: readonly Revocation[] = [], roots: readonly string[] = []): RevocationIndex {
  const caps = new Set<string>();
  const dids = new Set<string>();
  // `${capId} ${issuer}`: revocations by a capability's issuer, who is no root.
  const byIssuer = new Set<string>();
  const index: RevocationIndex = {
    isRevoked: (capId, did) => (capId !== '' && (caps.has(capId) || byIssuer.has(`${capId} ${did}`))) || dids.has(did),
    add(rev, currentRoots) {
      const verdict = verifyRevocation(rev, currentRoots);
      if (verdict.ok) {
        if ('capability' in rev.target) caps.add(rev.target.capability);
        else dids.add(rev.target.did);
        return true;
      }
      if (verdict.reason === 'unknown_issuer' && 'capability' in rev.target) {
        byIssuer.add(`${rev.target.capability} ${rev.iss}`);
        return true;
      }
      return false;
    },
    get size() {
      return caps.size + dids.size + byIssuer.size;
    },
  };
  for (const rev of revocations) index.add(rev, roots);
  return index;
}

/** The bytes a roots update's signature covers: canonical JSON of every field but `sig`. */
export function rootsUpdateSigningInput(fields: Omit<RootsUpdate, 'sig'> | RootsUpdate): string {
  return signingInput<RootsUpdate>(fields);
}

/** Signs a new root set with the key of a current root; throws FleetError('invalid_argument') on bad fields or the wrong key. */
export function signRootsUpdate(fields: Omit<RootsUpdate, 'sig'>, privateKeyPem: string): RootsUpdate {
  checkSigner(privateKeyPem, fields.iss, 'roots update');
  const update = { ...fields, sig: signEd25519(privateKeyPem, rootsUpdateSigningInput(fields)) };
  const parsed = RootsUpdate.safeParse(update);
  if (!parsed.success) throw new FleetError('invalid_argument', `not a valid roots update: ${firstIssue(parsed.error)}`);
  return parsed.data;
}

/**
 * Whether a host should adopt a new root set: well-formed (malformed), signed by its issuer
 * (bad_signature), the issuer is one of the current roots (unknown_issuer), and, when the
 * host passes the version it holds, strictly newer (expired), so a replayed old update cannot
 * bring back a root that was removed since.
 */
export function verifyRootsUpdate(update: RootsUpdate, currentRoots: readonly string[], opts: { currentVersion?: number } = {}): Verdict {
  const parsed = RootsUpdate.safeParse(update);
  if (!parsed.success) return refused('malformed', `roots update is malformed: ${firstIssue(parsed.error)}`);
  const u = parsed.data;
  if (!verifyEd25519(u.iss, rootsUpdateSigningInput(u), u.sig))
    return refused('bad_signature', `roots update does not carry a valid signature by its issuer ${short(u.iss)}`);
  if (!currentRoots.includes(u.iss)) return refused('unknown_issuer', `roots update issuer ${short(u.iss)} is not one of the current fleet roots`);
  if (opts.currentVersion !== undefined && u.version <= opts.currentVersion) {
    return refused('expired', `roots update version ${u.version} is not newer than the version held (${opts.currentVersion})`);
  }
  return { ok: true };
}

/** A host's root set and the version of the update that set it (0: the roots from the join token). */
export interface RootsState {
  version: number;
  roots: readonly string[];
}

/**
 * Applies updates in version order, each checked against the roots that the previous one set;
 * returns the resulting state and the refusals of the updates it skipped. Updates no newer
 * than the state's version are ignored without a refusal: the server resends the whole history.
 */
export function applyRootsUpdates(
  state: RootsState,
  updates: readonly RootsUpdate[],
): { state: RootsState; refused: { version: unknown; verdict: Verdict }[] } {
  let current = state;
  const skipped: { version: unknown; verdict: Verdict }[] = [];
  const ordered = [...updates].sort((a, b) => (Number(a?.version) || 0) - (Number(b?.version) || 0));
  for (const update of ordered) {
    if (typeof update?.version === 'number' && update.version <= current.version) continue;
    const verdict = verifyRootsUpdate(update, current.roots, { currentVersion: current.version });
    if (verdict.ok) current = { version: update.version, roots: [...update.roots] };
    else skipped.push({ version: (update as { version?: unknown } | null)?.version, verdict });
  }
  return { state: current, refused: skipped };
}
