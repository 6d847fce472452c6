import { FleetError } from '@gpufleet/protocol';
import { checkMasterKey } from './secret-box.js';

/** A master key and its version (GPUFLEET_MASTER_KEY / GPUFLEET_MASTER_KEY_VERSION). */
export interface VersionedKey {
  key: string;
  version: number;
}

/** The master keys a server holds: what seals now, and what still opens records sealed before a rotation. */
export interface MasterKeys {
  /** Seals new records and rotations; null: no master key, so nothing can be sealed. */
  current: VersionedKey | null;
  /** GPUFLEET_MASTER_KEY_PREVIOUS (version current-1): still opens records sealed before a rotation. */
  previous: VersionedKey | null;
}

/**
 * Reads the master keys from the environment; a master key given directly (StartOptions) wins
 * over GPUFLEET_MASTER_KEY. A previous key that could never be used (no version above 1, or the
 * same key again) is refused rather than ignored: it is a rotation half set up, and ignoring it
 * would only show later as records that no longer open.
 */
export function masterKeysFrom(env: Record<string, string | undefined>, masterKey?: string | null): MasterKeys {
  const key = masterKey ?? env.GPUFLEET_MASTER_KEY ?? '';
  const previousKey = env.GPUFLEET_MASTER_KEY_PREVIOUS ?? '';
  if (key === '') {
    if (previousKey !== '')
      throw new FleetError('invalid_argument', 'GPUFLEET_MASTER_KEY_PREVIOUS is set but GPUFLEET_MASTER_KEY is not: set the new master key too');
    return { current: null, previous: null };
  }
  checkMasterKey(key);
  const rawVersion = env.GPUFLEET_MASTER_KEY_VERSION ?? '1';
  const version = Number(rawVersion);
  if (!/^\d+$/.test(rawVersion) || !Number.isSafeInteger(version) || version < 1) {
    throw new FleetError('invalid_argument', `GPUFLEET_MASTER_KEY_VERSION must be a whole number from 1, not '${rawVersion}'`);
  }
  if (previousKey === '') return { current: { key, version }, previous: null };
  checkMasterKey(previousKey);
  if (version < 2) {
    throw new FleetError(
      'invalid_argument',
      'GPUFLEET_MASTER_KEY_PREVIOUS is set but GPUFLEET_MASTER_KEY_VERSION is 1: the new key needs a version one higher than the previous key (GPUFLEET_MASTER_KEY_VERSION=2 after the first rotation)',
    );
  }
  if (previousKey === key) {
    throw new FleetError(
      'invalid_argument',
      'GPUFLEET_MASTER_KEY_PREVIOUS is the same key as GPUFLEET_MASTER_KEY: put the new key in GPUFLEET_MASTER_KEY and the old one in GPUFLEET_MASTER_KEY_PREVIOUS',
    );
  }
  return { current: { key, version }, previous: { key: previousKey, version: version - 1 } };
}
