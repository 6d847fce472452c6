import { FleetError } from '@gpufleet/protocol';
import type { SecretRecord, Store } from '../store/store.js';
import type { MasterKeys, VersionedKey } from './master-keys.js';
import { openSecret, sealSecret } from './secret-box.js';

/**
 * The control plane's own sealed records (its key, the shared TLS CA, the online release keys)
 * carry no key version, unlike SSH credentials: they are opened with the current master key,
 * then with the previous one, and one the previous key opened is sealed again under the current
 * key there and then, so that a rotation done as documented (new key, version one higher, the
 * old key as GPUFLEET_MASTER_KEY_PREVIOUS) keeps them once the previous key is dropped.
 */

/** Where a record is re-sealed, and who hears of it. */
export interface SealedRecordDeps {
  store: Pick<Store, 'replaceSecret'>;
  keys: MasterKeys;
  log: { info(obj: object, msg: string): void };
}

/** What `resealAll` found: records re-sealed now, records the current key opened already, and the ids neither key opens. */
export interface ResealReport {
  resealed: number;
  current: number;
  unopenable: string[];
}

/**
 * Opens a sealed record; `what` names it in words for the operator ("the control plane key").
 * Neither key opening it is failed_precondition, saying which variables to set; a damaged record
 * keeps openSecret's code (internal) and is never replaced.
 */
export async function openSealedRecord(deps: SealedRecordDeps, record: SecretRecord, what: string): Promise<Buffer> {
  const current = requireCurrent(deps.keys, what);
  const opened = openWithEither(current, deps.keys.previous, record, what);
  if (opened.by === 'current') return opened.plaintext;
  const resealed = JSON.stringify(sealSecret(current.key, record.id, opened.plaintext));
  // Losing this race is fine: another replica re-sealed it first, and the plaintext is the same.
  if (await deps.store.replaceSecret(record.id, record.sealed, resealed)) {
    deps.log.info(
      { id: record.id, from: deps.keys.previous!.version, to: current.version },
      `${what} was sealed with the previous master key: it is sealed again under the current one (version ${current.version})`,
    );
  }
  return opened.plaintext;
}

/**
 * Re-seals under the current key every secret that only the previous key opens (what
 * `gpufleet credentials rotate` does for these records); a damaged record or one neither key
 * opens is listed, not thrown, so that one bad record does not stop the others.
 */
export async function resealAll(store: Pick<Store, 'listSecretIds' | 'getSecret' | 'replaceSecret'>, keys: MasterKeys): Promise<ResealReport> {
  const current = requireCurrent(keys, 'the sealed records');
  const report: ResealReport = { resealed: 0, current: 0, unopenable: [] };
  for (const id of await store.listSecretIds()) {
    const record = await store.getSecret(id);
    if (!record) continue; // deleted since it was listed
    let opened: Opened;
    try {
      opened = openWithEither(current, keys.previous, record, `the sealed record '${id}'`);
    } catch {
      report.unopenable.push(id);
      continue;
    }
    if (opened.by === 'previous' && (await store.replaceSecret(id, record.sealed, JSON.stringify(sealSecret(current.key, id, opened.plaintext))))) {
      report.resealed++;
    } else {
      // Opened by the current key, or re-sealed by another replica between our read and our write.
      report.current++;
    }
  }
  return report;
}

interface Opened {
  plaintext: Buffer;
  by: 'current' | 'previous';
}

function requireCurrent(keys: MasterKeys, what: string): VersionedKey {
  if (keys.current === null)
    throw new FleetError('failed_precondition', `${what} is sealed in the store: set GPUFLEET_MASTER_KEY to the master key it was sealed with`);
  return keys.current;
}

function openWithEither(current: VersionedKey, previous: VersionedKey | null, record: SecretRecord, what: string): Opened {
  try {
    return { plaintext: openSecret(current.key, record.id, record.sealed), by: 'current' };
  } catch (err) {
    // Only a key that does not fit is worth a second try: a damaged record is damaged for every key.
    if (!FleetError.is(err, 'failed_precondition'))
      throw new FleetError((err as FleetError).code ?? 'internal', `${what} cannot be opened: ${(err as Error).message}`, { cause: err });
    if (previous !== null) {
      try {
        return { plaintext: openSecret(previous.key, record.id, record.sealed), by: 'previous' };
      } catch (again) {
        if (!FleetError.is(again, 'failed_precondition')) throw again;
      }
    }
    throw new FleetError(
      'failed_precondition',
      `${what} (sealed in the store as '${record.id}') cannot be opened: GPUFLEET_MASTER_KEY is not the master key it was sealed with` +
        `${previous ? ', nor is GPUFLEET_MASTER_KEY_PREVIOUS' : ''} (or the record was altered). If the master key was changed, set ` +
        `GPUFLEET_MASTER_KEY_PREVIOUS to the key it was sealed with and GPUFLEET_MASTER_KEY_VERSION one higher than that key's version` +
        ` (it is ${current.version} now), restart the server, then run \`gpufleet credentials rotate\``,
      { cause: err },
    );
  }
}
