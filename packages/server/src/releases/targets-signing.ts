import { createHash } from 'node:crypto';
import type { Metadata, Root, Targets } from '@tufjs/models';
import { FleetError, type ReleaseKind } from '@gpufleet/protocol';
import { signWith, type TufSigningKey } from './tuf-keys.js';
import { parseMetadata, tufExpires } from './tuf-metadata.js';

/** What a release says about itself in its target's `custom` field (signed with the rest). */
export interface ReleaseCustom {
  kind: ReleaseKind;
  name: string;
  version: string;
}

/** A file to add to the targets metadata. */
export interface NewTarget {
  path: string;
  bytes: Uint8Array;
  custom: ReleaseCustom;
}

/** The `custom` of a target as a release, or null when it is not one of ours. */
export function releaseCustomOf(custom: Record<string, unknown> | undefined): ReleaseCustom | null {
  if (!custom || typeof custom.kind !== 'string' || typeof custom.version !== 'string') return null;
  const name = typeof custom.name === 'string' ? custom.name : custom.kind === 'agent' ? 'gpufleet-agent' : '';
  return { kind: custom.kind as ReleaseKind, name, version: custom.version };
}

/** Throws unless `key` is a key of the root's targets role (the operator's folder matches the server). */
export function checkTargetsKey(root: Metadata<Root>, key: TufSigningKey): void {
  const trusted = root.signed.roles.targets?.keyIDs ?? [];
  if (!trusted.includes(key.keyId)) {
    throw new FleetError(
      'failed_precondition',
      `the targets key given (${key.keyId.slice(0, 12)}) is not a targets key of root version ${root.signed.version} on the server (${trusted.map((k) => k.slice(0, 12)).join(', ') || 'none'})`,
    );
  }
}

/**
 * The targets of `current` (as JSON) plus `add`. A release is never replaced: its path, or its
 * kind, name and version, taken already is refused.
 */
export function withTarget(current: Metadata<Targets> | null, add: NewTarget): Record<string, unknown> {
  const sha256 = createHash('sha256').update(add.bytes).digest('hex');
  const targets: Record<string, unknown> = {};
  const what = `${add.custom.kind} ${add.custom.name} ${add.custom.version}`;
  for (const [path, file] of Object.entries(current?.signed.targets ?? {})) {
    const custom = releaseCustomOf(file.custom);
    if (path === add.path) {
      const same = file.hashes.sha256 === sha256 && file.length === add.bytes.length;
      throw new FleetError(
        'already_exists',
        `${what} is published already (${path}${same ? ', the same bytes' : ', other bytes: publish a new version instead'})`,
      );
    }
    if (custom && custom.kind === add.custom.kind && custom.name === add.custom.name && custom.version === add.custom.version) {
      throw new FleetError('already_exists', `${what} is published already as ${path}`);
    }
    targets[path] = file.toJSON();
  }
  targets[add.path] = { length: add.bytes.length, hashes: { sha256 }, custom: { ...add.custom } };
  return targets;
}

/**
 * The next targets metadata on the operator's machine: the current targets (null before the
 * first publish) plus one new file, version +1, signed with the targets key. The teams the
 * current one delegates to are carried over unchanged (`releases teams` changes them).
 */
export function nextTargets(o: {
  current: unknown | null;
  root: Metadata<Root>;
  key: TufSigningKey;
  add: NewTarget;
  validMs: number;
  now: number;
}): Metadata<Targets> {
  checkTargetsKey(o.root, o.key);
  const current = o.current === null ? null : parseMetadata('targets', o.current, 'the current targets metadata');
  const targets = withTarget(current, o.add);
  const version = (current?.signed.version ?? 0) + 1;
  const delegations = current?.signed.delegations;
  const metadata = parseMetadata(
    'targets',
    {
      signed: {
        _type: 'targets',
        spec_version: '1.0.31',
        version,
        expires: tufExpires(o.now, o.validMs),
        targets,
        ...(delegations ? { delegations: delegations.toJSON() } : {}),
      },
      signatures: [],
    },
    `targets version ${version}`,
  );
  signWith(metadata, o.key);
  return metadata;
}
