import type { Metadata, Root } from '@tufjs/models';
import { FleetError } from '@gpufleet/protocol';
import { signWith, type TufSigningKey } from './tuf-keys.js';
import { checkRootShape, parseMetadata, TUF_ROLES, type TufRole } from './tuf-metadata.js';

/** The public keys of each role in a root: their ids and TUF JSON (a signing key fits). */
export type RolePublicKeys = Record<TufRole, ReadonlyArray<Pick<TufSigningKey, 'keyId' | 'publicJson'>>>;

/** Thresholds of the four roles; the online and targets roles default to 1. */
export type RoleThresholds = Partial<Record<TufRole, number>>;

/**
 * An unsigned root: these keys for each role with these thresholds, consistent snapshots on (so
 * every snapshot and target is served under its own version or hash and clients never read a
 * half-written one).
 */
export function buildRoot(o: { version: number; expires: string; keys: RolePublicKeys; thresholds: RoleThresholds }): Metadata<Root> {
  const keys: Record<string, unknown> = {};
  const roles: Record<string, unknown> = {};
  for (const role of TUF_ROLES) {
    const list = o.keys[role];
    if (list.length === 0) throw new FleetError('invalid_argument', `the ${role} role needs at least one key`);
    for (const k of list) keys[k.keyId] = { ...k.publicJson, keyval: { ...k.publicJson.keyval } };
    const keyids = [...new Set(list.map((k) => k.keyId))].sort();
    roles[role] = { keyids, threshold: o.thresholds[role] ?? 1 };
  }
  const root = parseMetadata(
    'root',
    {
      signed: { _type: 'root', spec_version: '1.0.31', version: o.version, expires: o.expires, keys, roles, consistent_snapshot: true },
      signatures: [],
    },
    `root version ${o.version}`,
  );
  checkRootShape(root);
  return root;
}

/** Signs with every given key (a key the root does not name adds a signature no client counts). */
export function signAll(metadata: Metadata<Root>, keys: ReadonlyArray<TufSigningKey>): Metadata<Root> {
  for (const key of keys) signWith(metadata, key);
  return metadata;
}

/** How many of a role's keys signed; for messages that say how far a signing fell short. */
export function signedCount(delegator: Metadata<Root>, role: TufRole, signers: ReadonlyArray<TufSigningKey>): { have: number; need: number } {
  const entry = delegator.signed.roles[role];
  const ids = new Set(entry?.keyIDs ?? []);
  return { have: new Set(signers.filter((k) => ids.has(k.keyId)).map((k) => k.keyId)).size, need: entry?.threshold ?? 1 };
}
