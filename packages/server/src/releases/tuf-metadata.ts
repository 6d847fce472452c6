import { Metadata, MetadataKind, type Root, type Snapshot, type Targets, type Timestamp } from '@tufjs/models';
import { FleetError } from '@gpufleet/protocol';

/**
 * Reading TUF metadata that came from outside (an upload, a file): the models parse it, and
 * what they let through that would hurt us later is refused here with a FleetError naming it.
 */

export type AnyMetadata = Metadata<Root> | Metadata<Targets> | Metadata<Snapshot> | Metadata<Timestamp>;

/** The role names of the top-level metadata, as MetadataKind spells them. */
export const TUF_ROLES = ['root', 'targets', 'snapshot', 'timestamp'] as const;
export type TufRole = (typeof TUF_ROLES)[number];

// TUF's date form. A date the models cannot read would never expire (`now >= Invalid Date` is false).
const EXPIRES = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

/** `expires` for metadata made now and valid for `validMs`, in TUF's form (no milliseconds). */
export function tufExpires(nowMs: number, validMs: number): string {
  return new Date(nowMs + validMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Epoch ms of a TUF `expires`. */
export function expiresMs(metadata: AnyMetadata): number {
  return Date.parse(metadata.signed.expires);
}

function kindOf(role: TufRole): MetadataKind {
  return { root: MetadataKind.Root, targets: MetadataKind.Targets, snapshot: MetadataKind.Snapshot, timestamp: MetadataKind.Timestamp }[role];
}

export function parseMetadata(role: 'root', json: unknown, what?: string): Metadata<Root>;
export function parseMetadata(role: 'targets', json: unknown, what?: string): Metadata<Targets>;
export function parseMetadata(role: 'snapshot', json: unknown, what?: string): Metadata<Snapshot>;
export function parseMetadata(role: 'timestamp', json: unknown, what?: string): Metadata<Timestamp>;
/** Parses signed metadata of one role; malformed input is invalid_argument, saying what is wrong. */
export function parseMetadata(role: TufRole, json: unknown, what = `${role} metadata`): AnyMetadata {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new FleetError('invalid_argument', `${what} must be a JSON object`);
  const signed = (json as { signed?: unknown }).signed;
  if (typeof signed !== 'object' || signed === null) throw new FleetError('invalid_argument', `${what} has no 'signed' object`);
  const type = (signed as { _type?: unknown })._type;
  if (type !== role) throw new FleetError('invalid_argument', `${what} is not ${role} metadata (its _type is ${JSON.stringify(type ?? null)})`);
  if (!Array.isArray((json as { signatures?: unknown }).signatures)) throw new FleetError('invalid_argument', `${what} has no 'signatures' list`);
  let metadata: AnyMetadata;
  try {
    metadata = Metadata.fromJSON(kindOf(role) as MetadataKind.Root, json as never);
  } catch (err) {
    throw new FleetError('invalid_argument', `${what} is malformed: ${(err as Error).message}`, { cause: err });
  }
  const { version, expires } = metadata.signed;
  if (!Number.isSafeInteger(version) || version < 1)
    throw new FleetError('invalid_argument', `${what} has version ${version}: it must be a whole number from 1`);
  if (!EXPIRES.test(expires) || Number.isNaN(Date.parse(expires))) {
    throw new FleetError('invalid_argument', `${what} expires '${expires}': it must be a UTC time such as 2026-01-31T00:00:00Z`);
  }
  return metadata;
}

/** Throws unless at least the role's threshold of its keys signed `metadata`, naming who fell short. */
export function verifyRoleSignatures(delegator: Metadata<Root>, role: TufRole, metadata: AnyMetadata, what: string): void {
  try {
    delegator.verifyDelegate(role, metadata);
  } catch (err) {
    throw new FleetError(
      'invalid_argument',
      `${what} is not signed by the ${role} role of root version ${delegator.signed.version}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}

/**
 * The rules a root must follow here: every role's keys exist and are Ed25519, thresholds are
 * reachable, and snapshots are consistent (targets are served under their hash).
 */
export function checkRootShape(root: Metadata<Root>, what = `root version ${root.signed.version}`): void {
  const r = root.signed;
  if (!r.consistentSnapshot) throw new FleetError('invalid_argument', `${what} must set consistent_snapshot: true`);
  for (const [keyId, key] of Object.entries(r.keys)) {
    if (key.keyType !== 'ed25519' || key.scheme !== 'ed25519' || !/^[0-9a-f]{64}$/.test(key.keyVal.public ?? '')) {
      throw new FleetError('invalid_argument', `${what}: key ${keyId.slice(0, 12)} must be an Ed25519 key (keytype and scheme ed25519, public key in hex)`);
    }
  }
  for (const role of TUF_ROLES) {
    const entry = r.roles[role];
    if (!entry) throw new FleetError('invalid_argument', `${what} has no ${role} role`);
    const ids = new Set(entry.keyIDs);
    for (const id of ids)
      if (!r.keys[id]) throw new FleetError('invalid_argument', `${what}: the ${role} role names key ${id.slice(0, 12)}, which it does not list`);
    if (!Number.isSafeInteger(entry.threshold) || entry.threshold < 1 || entry.threshold > ids.size) {
      throw new FleetError('invalid_argument', `${what}: the ${role} role's threshold ${entry.threshold} must be from 1 to its ${ids.size} key(s)`);
    }
  }
}

/**
 * Whether `next` may follow `current` (null: `next` starts the chain): version +1, signed by a
 * threshold of the current root's keys and of its own, well formed, and not already expired.
 */
export function checkRootSuccession(current: Metadata<Root> | null, next: Metadata<Root>, nowMs: number): void {
  const v = next.signed.version;
  const what = `root version ${v}`;
  const expected = current === null ? 1 : current.signed.version + 1;
  if (v !== expected) {
    throw new FleetError(
      'failed_precondition',
      current === null
        ? `the first root must be version 1, got ${v}`
        : `the next root must be version ${expected} (the current one is ${current.signed.version}), got ${v}`,
    );
  }
  checkRootShape(next, what);
  if (expiresMs(next) <= nowMs) throw new FleetError('invalid_argument', `${what} expired at ${next.signed.expires}`);
  if (current !== null) verifyRoleSignatures(current, 'root', next, what);
  try {
    next.verifyDelegate('root', next);
  } catch (err) {
    throw new FleetError('invalid_argument', `${what} is not signed by a threshold of its own root keys: ${(err as Error).message}`, { cause: err });
  }
}

/** The key ids a role of this root trusts. */
export function roleKeyIds(root: Metadata<Root>, role: TufRole): string[] {
  return [...(root.signed.roles[role]?.keyIDs ?? [])];
}

/** Serializes metadata the way it is stored and served (bytes clients hash). */
export function metadataText(metadata: AnyMetadata): string {
  return JSON.stringify(metadata.toJSON());
}
