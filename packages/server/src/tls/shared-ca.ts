import { FleetError } from '@gpufleet/protocol';
import type { SecretRecord, Store } from '../store/store.js';
import type { MasterKeys } from '../trust/master-keys.js';
import { openSealedRecord } from '../trust/sealed-records.js';
import { sealSecret } from '../trust/secret-box.js';
import { caKeyPem, createCa, parseCa, type Ca } from './ca-material.js';
import { dropDataDirCaKey, loadOrCreateDataDirCa, peekDataDirCa, readDataDirCa, supersedeDataDirCa, writeCaCopy } from './data-dir-ca.js';
import type { TlsNotice } from './tls-material.js';

/** Id of the sealed record holding the shared TLS CA (also the AEAD associated data). */
export const SHARED_CA_SECRET_ID = 'server-tls.ca';

/** The record in words, for the operator. */
const WHAT = 'the shared TLS CA';

/** Where the CA can be shared: the store and the master keys it is sealed with. */
export interface CaSharing {
  /** The store every replica shares. */
  store: Pick<Store, 'getSecret' | 'insertSecret' | 'replaceSecret'>;
  /** The master keys; no current key keeps the CA in the data dir (refused when `replicated`). */
  keys: MasterKeys;
  /** Several replicas share the store (--bus): a CA per data dir would split them, so a master key is required. */
  replicated: boolean;
}

/** The CA in use, where its key is kept, and what an operator should read in the log. */
export interface ResolvedCa {
  ca: Ca;
  keptIn: 'store' | 'data-dir';
  notices: TlsNotice[];
}

/** What the sealed record holds once opened. */
interface SealedCa {
  v: 1;
  certPem: string;
  keyPem: string;
}

const short = (fingerprint: string) => `${fingerprint.slice(0, 16)}…`;

/**
 * The CA a server signs its serving certificate with. With a master key, the CA sealed in the
 * store, the same for every replica: a replica finding none seals its data dir's CA (so an
 * existing deployment keeps its fingerprint) or a new one; of replicas racing, the first insert
 * wins and the others use its CA. The data dir keeps only a copy of the certificate. Without a
 * master key, the data dir's own CA, as a single server always had it: refused for replicas and
 * where the store already holds a sealed CA.
 */
export async function resolveServerCa(dir: string, now: number, sharing: CaSharing | undefined): Promise<ResolvedCa> {
  if (!sharing) return { ca: await loadOrCreateDataDirCa(dir, now), keptIn: 'data-dir', notices: [] };
  const masterKey = sharing.keys.current?.key;
  const record = await sharing.store.getSecret(SHARED_CA_SECRET_ID);
  if (masterKey === undefined) {
    if (record) {
      throw new FleetError(
        'failed_precondition',
        'the TLS CA is sealed in the store (shared by the replicas): set GPUFLEET_MASTER_KEY to the master key it was sealed with',
      );
    }
    if (sharing.replicated) {
      throw new FleetError(
        'failed_precondition',
        'replicas (--bus) serve TLS from one CA sealed in the store, so that agents pinning it can move between them: set GPUFLEET_MASTER_KEY, the same on every replica (or give every replica a certificate from your own CA with --tls-cert and --tls-key)',
      );
    }
    return { ca: await loadOrCreateDataDirCa(dir, now), keptIn: 'data-dir', notices: [] };
  }

  const notices: TlsNotice[] = [];
  if (record) {
    const ca = await openSharedCa(sharing, record, now, notices);
    settleDataDir(dir, ca, now, notices);
    return { ca, keptIn: 'store', notices };
  }

  // None in the store yet: this data dir's CA (pinned by tokens already handed out) or a new one.
  const files = peekDataDirCa(dir);
  if (files.fingerprint && !files.hasKey) {
    throw new FleetError(
      'failed_precondition',
      `${dir} holds only a copy of a TLS CA (${short(files.fingerprint)}) whose key was sealed in a store, but this store holds no sealed CA: start with the store it was sealed in, or delete ${dir}/ca.pem to make a new CA (join tokens and agents pinning the old one then stop trusting this server)`,
    );
  }
  const local = readDataDirCa(dir, now);
  const mine = local ?? (await createCa(now));
  const payload: SealedCa = { v: 1, certPem: mine.pem, keyPem: caKeyPem(mine) };
  const sealed = JSON.stringify(sealSecret(masterKey, SHARED_CA_SECRET_ID, JSON.stringify(payload)));
  if (await sharing.store.insertSecret({ id: SHARED_CA_SECRET_ID, sealed, createdAt: now })) {
    if (local) {
      dropDataDirCaKey(dir);
      notices.push({
        level: 'info',
        msg: 'the TLS CA of this data dir was moved into the store, sealed with the master key, and is now shared by every replica (its fingerprint is unchanged)',
        data: { dir, caFingerprint: mine.fingerprint },
      });
    } else {
      writeCaCopy(dir, mine);
    }
    return { ca: mine, keptIn: 'store', notices };
  }
  // Another replica sealed its CA first: use that one, so every replica serves under one CA.
  const winner = await sharing.store.getSecret(SHARED_CA_SECRET_ID);
  if (!winner) throw new FleetError('internal', 'the sealed TLS CA vanished from the store while it was being created');
  const ca = await openSharedCa(sharing, winner, now, notices);
  settleDataDir(dir, ca, now, notices);
  return { ca, keptIn: 'store', notices };
}

/**
 * Opens and checks the sealed CA (with the previous master key too, re-sealing it under the
 * current one, which `notices` then tells); every failure says what it is and what to do.
 */
async function openSharedCa(sharing: CaSharing, record: SecretRecord, now: number, notices: TlsNotice[]): Promise<Ca> {
  const what = `${WHAT} (sealed in the store as '${SHARED_CA_SECRET_ID}')`;
  const damaged = (why: string, cause?: unknown): never => {
    throw new FleetError(
      'failed_precondition',
      `${what} is damaged (${why}): restore the store from a backup; deleting that record makes a new CA at the next start, and every join token and agent pinning the old one then stops trusting the replicas`,
      { cause },
    );
  };
  let text = '';
  // No logger exists yet while TLS is settled: a re-seal is told through the notices.
  const log = { info: (data: object, msg: string) => void notices.push({ level: 'info', msg, data: { ...data } }) };
  try {
    text = (await openSealedRecord({ store: sharing.store, keys: sharing.keys, log }, record, WHAT)).toString('utf8');
  } catch (err) {
    const inner = err as FleetError;
    // Neither key opens it (the message says which variables to set), or a master key too short to be any key.
    if (inner.code === 'failed_precondition' || inner.code === 'invalid_argument') throw inner;
    damaged('not a sealed record this version understands', err);
  }
  let payload: Partial<SealedCa> | null = null;
  try {
    payload = JSON.parse(text) as Partial<SealedCa> | null;
  } catch {
    // judged below
  }
  if (payload?.v !== 1 || typeof payload.certPem !== 'string' || typeof payload.keyPem !== 'string')
    return damaged('its content is not a CA certificate and key');
  try {
    return parseCa(payload.certPem, payload.keyPem, now, { cert: 'its certificate', key: 'its key' });
  } catch (err) {
    return damaged((err as Error).message, err);
  }
}

/**
 * Makes the data dir agree with the shared CA: its certificate copy written, a key of the same CA
 * removed (it is sealed now), and a different CA moved aside with a warning, since the store wins.
 */
function settleDataDir(dir: string, ca: Ca, now: number, notices: TlsNotice[]): void {
  const local = peekDataDirCa(dir);
  if (local.fingerprint === ca.fingerprint) {
    if (local.hasKey) {
      dropDataDirCaKey(dir);
      notices.push({ level: 'info', msg: "removed this data dir's copy of the TLS CA key: the same CA is sealed in the store", data: { dir } });
    }
    return;
  }
  if (local.fingerprint !== undefined || local.hasKey) {
    const moved = supersedeDataDirCa(dir, now);
    const theirs = local.fingerprint ? `its CA (${short(local.fingerprint)})` : 'its CA files (unreadable)';
    notices.push({
      level: 'warn',
      msg: `this data dir held another TLS CA than the one the replicas share in the store: the store's CA (${short(ca.fingerprint)}) is used, and ${theirs} was moved aside. Join tokens and agents that pin the old CA no longer trust this server: make new join tokens and join those agents again, or start with the store (or data dir) they were made with`,
      data: { dir, caFingerprint: ca.fingerprint, replacedFingerprint: local.fingerprint, movedTo: moved },
    });
  }
  writeCaCopy(dir, ca);
}
