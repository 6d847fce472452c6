import { createHash } from 'node:crypto';
import type { Metadata, Snapshot, Timestamp } from '@tufjs/models';
import { signWith, type TufSigningKey } from './tuf-keys.js';
import { metadataText, parseMetadata } from './tuf-metadata.js';

/** Metadata the server signs itself, with the exact text it stores and serves. */
export interface SignedText<T extends Snapshot | Timestamp> {
  metadata: Metadata<T>;
  text: string;
}

/**
 * Snapshot version `version`: which targets metadata version is current, and which version of
 * each team's metadata (`delegated`, by role name). A team once listed stays listed, even after
 * it is removed: clients refuse a snapshot that drops a file the previous one named.
 */
export function makeSnapshot(o: {
  version: number;
  targetsVersion: number;
  delegated?: Readonly<Record<string, number>>;
  expires: string;
  signers: ReadonlyArray<TufSigningKey>;
}): SignedText<Snapshot> {
  const meta: Record<string, { version: number }> = { 'targets.json': { version: o.targetsVersion } };
  for (const [role, version] of Object.entries(o.delegated ?? {}).sort(([a], [b]) => a.localeCompare(b))) meta[`${role}.json`] = { version };
  const metadata = parseMetadata(
    'snapshot',
    { signed: { _type: 'snapshot', spec_version: '1.0.31', version: o.version, expires: o.expires, meta }, signatures: [] },
    `snapshot version ${o.version}`,
  );
  for (const key of o.signers) signWith(metadata, key);
  return { metadata, text: metadataText(metadata) };
}

/**
 * Timestamp version `version`: which snapshot is current, with that snapshot's length and hash,
 * so a client refuses any other bytes under its name.
 */
export function makeTimestamp(o: {
  version: number;
  snapshotVersion: number;
  snapshotText: string;
  expires: string;
  signers: ReadonlyArray<TufSigningKey>;
}): SignedText<Timestamp> {
  const bytes = Buffer.from(o.snapshotText, 'utf8');
  const metadata = parseMetadata(
    'timestamp',
    {
      signed: {
        _type: 'timestamp',
        spec_version: '1.0.31',
        version: o.version,
        expires: o.expires,
        meta: { 'snapshot.json': { version: o.snapshotVersion, length: bytes.length, hashes: { sha256: createHash('sha256').update(bytes).digest('hex') } } },
      },
      signatures: [],
    },
    `timestamp version ${o.version}`,
  );
  for (const key of o.signers) signWith(metadata, key);
  return { metadata, text: metadataText(metadata) };
}
