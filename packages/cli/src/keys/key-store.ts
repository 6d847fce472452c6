import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { generateEd25519, keyPairFromPem, type Ed25519KeyPair } from '@gpufleet/protocol';
import { CliError, UsageError } from '../errors.js';
import { openPem, sealPem, type SealedPem } from './key-crypto.js';

/**
 * Operator keys: Ed25519 private keys on the operator's machine, one file per key in
 * `$XDG_CONFIG_HOME/gpufleet/keys/<name>.key` (else `~/.config/...`), mode 0600 in a 0700
 * folder. A file is a small JSON document that names the key's DID (so listing needs no
 * passphrase) and holds the PKCS8 PEM, in the clear or sealed with a passphrase (key-crypto.ts).
 * A plain PKCS8 PEM file (from `openssl genpkey -algorithm ed25519`) is read as well.
 */

export const DEFAULT_KEY_NAME = 'default';
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const FORMAT = 'gpufleet-operator-key';

/** A key file's document. */
export type KeyDocument = { format: typeof FORMAT; v: 1; name: string; did: string; createdAt: string } & (
  | { encrypted: false; pem: string }
  | ({ encrypted: true } & SealedPem)
);

/** An unlocked operator key. */
export interface OperatorKey extends Ed25519KeyPair {
  name: string;
  path: string;
}

/** What `keys ls` shows of a key without unlocking it. */
export interface KeyInfo {
  name: string;
  path: string;
  did: string | null;
  encrypted: boolean;
  createdAt: string | null;
  /** Why the file could not be read, when it could not. */
  problem?: string;
}

/** Where to find keys: an explicit folder, or the one for this environment and home. */
export interface KeyLocation {
  dir?: string;
  env?: NodeJS.ProcessEnv;
  home?: string;
  /** Where a relative key file path (isKeyFilePath) starts. Default: this process's working folder. */
  cwd?: string;
}

export function checkKeyName(name: string): string {
  if (!NAME.test(name)) throw new UsageError(`key name '${name}' must be letters, digits, '.', '_' or '-' (at most 64, not starting with a symbol)`);
  return name;
}

/** `$XDG_CONFIG_HOME/gpufleet/keys`, else `~/.config/gpufleet/keys`. */
export function keysDir(loc: KeyLocation = {}): string {
  if (loc.dir) return loc.dir;
  const env = loc.env ?? process.env;
  const home = loc.home ?? homedir();
  const base = env.XDG_CONFIG_HOME?.startsWith('/') ? env.XDG_CONFIG_HOME : join(home, '.config');
  return join(base, 'gpufleet', 'keys');
}

/**
 * A --key value with a slash names a key file instead of a key in the keys folder (relative
 * paths from the working folder): `--key ./gpufleet-data/demo-operator.key`, the demo's key.
 */
export function isKeyFilePath(name: string): boolean {
  return name.includes('/');
}

export function keyPath(name: string, loc: KeyLocation = {}): string {
  return join(keysDir(loc), `${checkKeyName(name)}.key`);
}

/** The file a key is read from: a key file's path as given, else the named key in the keys folder. Never used to write. */
function keyFileToRead(name: string, loc: KeyLocation): string {
  return isKeyFilePath(name) ? resolve(loc.cwd ?? process.cwd(), name) : keyPath(name, loc);
}

/** Writes `text` to a new file with mode 0600, refusing to replace one unless `replace`. */
function writeSecretFile(path: string, text: string, replace: boolean): void {
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  chmodSync(tmp, 0o600); // the umask cannot loosen it, but make it certain
  try {
    if (!replace) {
      try {
        statSync(path);
        throw new UsageError(`key file ${path} exists already: pick another --name, or --force to replace it`);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    renameSync(tmp, path);
  } catch (err) {
    unlinkSync(tmp);
    throw err;
  }
}

/**
 * Makes a new Ed25519 key and writes it; sealed when a non-empty passphrase is given.
 * Throws UsageError when the key exists (unless `force`).
 */
export function createOperatorKey(name: string, opts: KeyLocation & { passphrase?: string | null; force?: boolean; now?: number } = {}): OperatorKey {
  const path = keyPath(name, opts);
  const dir = keysDir(opts);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const pair = generateEd25519();
  const head = { format: FORMAT, v: 1, name, did: pair.did, createdAt: new Date(opts.now ?? Date.now()).toISOString() } as const;
  const doc: KeyDocument = opts.passphrase
    ? { ...head, encrypted: true, ...sealPem(pair.privateKeyPem, opts.passphrase, name) }
    : { ...head, encrypted: false, pem: pair.privateKeyPem };
  writeSecretFile(path, `${JSON.stringify(doc, null, 2)}\n`, Boolean(opts.force));
  return { ...pair, name, path };
}

function damaged(path: string, why: string): CliError {
  return new CliError(`key file ${path} is damaged (${why})`);
}

/** Reads a key file after checking that only its owner can read it. */
function readKeyText(path: string, name: string): string {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      if (isKeyFilePath(name)) throw new CliError(`no key file ${path}`);
      throw new CliError(`no key named '${name}' (${path}): make one with \`gpufleet keys new --name ${name}\``);
    }
    throw new CliError(`cannot read key file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if ((mode & 0o077) !== 0) {
    throw new CliError(`key file ${path} is open to other users (mode ${(mode & 0o777).toString(8).padStart(4, '0')}): run \`chmod 600 ${path}\``);
  }
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read key file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Parses a key file: our JSON document, or a plain PKCS8 PEM (then it is read as unencrypted, with no creation time). */
export function parseKeyDocument(text: string, path: string, name: string): KeyDocument {
  if (text.trimStart().startsWith('-----BEGIN PRIVATE KEY-----')) {
    let pair: Ed25519KeyPair;
    try {
      pair = keyPairFromPem(text);
    } catch {
      throw damaged(path, 'not an Ed25519 PKCS8 private key');
    }
    return { format: FORMAT, v: 1, name, did: pair.did, createdAt: '', encrypted: false, pem: text };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw damaged(path, 'neither a gpufleet key document nor a PEM private key');
  }
  const d = raw as Record<string, unknown> | null;
  const str = (v: unknown) => typeof v === 'string';
  if (!d || typeof d !== 'object' || d.format !== FORMAT || d.v !== 1 || !str(d.name) || !str(d.did) || !str(d.createdAt) || typeof d.encrypted !== 'boolean') {
    throw damaged(path, 'not a gpufleet key document, or a newer version of one');
  }
  if (d.encrypted === false) {
    if (!str(d.pem)) throw damaged(path, 'the private key is missing');
    return d as KeyDocument;
  }
  const kdf = d.kdf as Record<string, unknown> | null;
  const cipher = d.cipher as Record<string, unknown> | null;
  const ok =
    kdf &&
    typeof kdf === 'object' &&
    kdf.name === 'scrypt' &&
    str(kdf.salt) &&
    [kdf.N, kdf.r, kdf.p].every((v) => typeof v === 'number') &&
    cipher &&
    typeof cipher === 'object' &&
    cipher.name === 'aes-256-gcm' &&
    str(cipher.nonce) &&
    str(cipher.tag) &&
    str(d.ciphertext);
  if (!ok) throw damaged(path, 'its encryption fields are missing or of an unknown kind');
  return d as KeyDocument;
}

function unlocked(doc: KeyDocument, pem: string, name: string, path: string): OperatorKey {
  let pair: Ed25519KeyPair;
  try {
    pair = keyPairFromPem(pem);
  } catch {
    throw damaged(path, 'the private key inside is not an Ed25519 PKCS8 key');
  }
  // The DID is stored in the clear for listing; it must be the key's own.
  if (pair.did !== doc.did) throw damaged(path, `it names ${doc.did}, but its private key is ${pair.did}`);
  return { ...pair, name, path };
}

/** Whether a key is sealed with a passphrase (reads the file; no passphrase needed). */
export function isKeyEncrypted(name: string, loc: KeyLocation = {}): boolean {
  return describeOperatorKey(name, loc).encrypted;
}

/**
 * Loads an operator key for signing. An encrypted key needs `passphrase`; without one, or with
 * a wrong one, it throws one CliError that says so. Refuses a key file other users can read.
 * Keys live in keysDir(opts): `dir`, else from `env`/`home` (default: this process's).
 */
export function loadOperatorKey(name: string = DEFAULT_KEY_NAME, opts: KeyLocation & { passphrase?: string } = {}): OperatorKey {
  const path = keyFileToRead(name, opts);
  const doc = parseKeyDocument(readKeyText(path, name), path, name);
  if (!doc.encrypted) return unlocked(doc, doc.pem, name, path);
  if (!opts.passphrase)
    throw new CliError(`key '${name}' is encrypted: give its passphrase (GPUFLEET_KEY_PASSPHRASE, --passphrase-env VAR, or type it on a terminal)`);
  const opened = openPem(doc, opts.passphrase, doc.name);
  if ('failure' in opened) {
    if (opened.failure === 'bad_parameters') throw damaged(path, 'its encryption parameters are out of range');
    throw new CliError(`wrong passphrase for key '${name}'`);
  }
  return unlocked(doc, opened.pem, name, path);
}

/**
 * What a key file says of itself, without unlocking it: DID, encrypted or not, creation time.
 * Throws the same CliErrors as loading (missing, open to others, damaged); for an unencrypted
 * key it also checks that the stored DID is the private key's.
 */
export function describeOperatorKey(name: string, loc: KeyLocation = {}): KeyInfo {
  const path = keyFileToRead(name, loc);
  const doc = parseKeyDocument(readKeyText(path, name), path, name);
  if (!doc.encrypted) unlocked(doc, doc.pem, name, path);
  return { name, path, did: doc.did, encrypted: doc.encrypted, createdAt: doc.createdAt || null };
}

/** Every key in the folder, sorted by name; unreadable files are listed with their problem. */
export function listOperatorKeys(loc: KeyLocation = {}): KeyInfo[] {
  const dir = keysDir(loc);
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.key'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new CliError(`cannot read the key folder ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return files.sort().map((file): KeyInfo => {
    const name = file.slice(0, -'.key'.length);
    try {
      return describeOperatorKey(name, { dir });
    } catch (err) {
      return { name, path: join(dir, file), did: null, encrypted: false, createdAt: null, problem: (err as Error).message };
    }
  });
}
