import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Metadata, Root } from '@tufjs/models';
import { FleetError } from '@gpufleet/protocol';
import { generateTufKey, signingKeyFromPem, type TufSigningKey } from './tuf-keys.js';
import { checkRootSuccession, parseMetadata, tufExpires, type TufRole } from './tuf-metadata.js';
import { buildRoot, signAll, signedCount, type RolePublicKeys } from './root-signing.js';

/**
 * The release keys folder on the operator's machine (`releases keys init --dir DIR`): one PKCS#8
 * PEM per private key (mode 0600: root-1.pem ... root-N.pem, targets.pem, snapshot.pem,
 * timestamp.pem) and every signed root as N.root.json. Nothing here talks to a server: root
 * keys never leave this folder, and the snapshot and timestamp keys leave it only by `keys upload`.
 */

const ROOT_KEY = /^root-(\d{1,3})\.pem$/;
const ROOT_FILE = /^(\d{1,6})\.root\.json$/;
const ROLE_FILES = { targets: 'targets.pem', snapshot: 'snapshot.pem', timestamp: 'timestamp.pem' } as const;

/** A private key and the file it came from. */
export interface KeyFile {
  file: string;
  key: TufSigningKey;
}

/** What a keys folder holds. */
export interface KeyDir {
  dir: string;
  rootKeys: KeyFile[];
  targets: KeyFile | null;
  snapshot: KeyFile | null;
  timestamp: KeyFile | null;
  /** Signed roots by version, ascending. */
  roots: Array<{ version: number; file: string }>;
}

function readKey(file: string): KeyFile {
  return { file, key: signingKeyFromPem(readFileSync(file, 'utf8'), file) };
}

/** Reads a keys folder; a missing folder or an unreadable key file is an error naming it. */
export function readKeyDir(dir: string): KeyDir {
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new FleetError('not_found', `${dir} is not a folder of release keys (make one with \`gpufleet releases keys init --dir ${dir}\`)`);
  const names = readdirSync(dir).sort();
  const rootKeys = names
    .filter((n) => ROOT_KEY.test(n))
    .sort((a, b) => Number(ROOT_KEY.exec(a)![1]) - Number(ROOT_KEY.exec(b)![1]))
    .map((n) => readKey(join(dir, n)));
  const role = (r: keyof typeof ROLE_FILES) => (names.includes(ROLE_FILES[r]) ? readKey(join(dir, ROLE_FILES[r])) : null);
  const roots = names
    .filter((n) => ROOT_FILE.test(n))
    .map((n) => ({ version: Number(ROOT_FILE.exec(n)![1]), file: join(dir, n) }))
    .sort((a, b) => a.version - b.version);
  return { dir, rootKeys, targets: role('targets'), snapshot: role('snapshot'), timestamp: role('timestamp'), roots };
}

/** Parses one root file of the folder. */
export function readRootFile(file: string): Metadata<Root> {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new FleetError('invalid_argument', `${file} is not JSON: ${(err as Error).message}`, { cause: err });
  }
  return parseMetadata('root', json, file);
}

/** The newest signed root of the folder. */
export function latestRoot(kd: KeyDir): Metadata<Root> {
  const last = kd.roots.at(-1);
  if (!last) throw new FleetError('failed_precondition', `${kd.dir} holds no N.root.json: make the keys with \`gpufleet releases keys init --dir ${kd.dir}\``);
  return readRootFile(last.file);
}

function writePrivate(file: string, pem: string): void {
  // 'wx': never overwrite a key; the mode is set again in case the umask narrowed or widened it.
  writeFileSync(file, pem, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
}

function writeRoot(dir: string, root: Metadata<Root>): string {
  const file = join(dir, `${root.signed.version}.root.json`);
  writeFileSync(file, `${JSON.stringify(root.toJSON(), null, 2)}\n`, { mode: 0o644, flag: 'wx' });
  return file;
}

export interface InitKeyDirOptions {
  dir: string;
  /** Root keys to make (default 3). */
  rootKeys?: number;
  /** How many root keys must sign a new root (default 2). */
  rootThreshold?: number;
  /** How long root version 1 is valid. */
  validMs: number;
  now: number;
}

/** Makes the keys of the four roles and signs root version 1 with all root keys. */
export function initKeyDir(o: InitKeyDirOptions): { root: Metadata<Root>; rootFile: string; keyFiles: string[] } {
  const n = o.rootKeys ?? 3;
  const k = o.rootThreshold ?? 2;
  if (!Number.isSafeInteger(n) || n < 1 || n > 16) throw new FleetError('invalid_argument', `--root-keys must be from 1 to 16, got ${n}`);
  if (!Number.isSafeInteger(k) || k < 1 || k > n) throw new FleetError('invalid_argument', `--root-threshold must be from 1 to the ${n} root key(s), got ${k}`);
  if (existsSync(o.dir)) {
    const taken = readdirSync(o.dir).filter((f) => f.endsWith('.pem') || ROOT_FILE.test(f));
    if (taken.length > 0)
      throw new FleetError('already_exists', `${o.dir} already holds release keys (${taken.slice(0, 3).join(', ')}): refusing to overwrite them`);
  }
  mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  const made = {
    root: Array.from({ length: n }, () => generateTufKey()),
    targets: generateTufKey(),
    snapshot: generateTufKey(),
    timestamp: generateTufKey(),
  };
  const keyFiles: string[] = [];
  made.root.forEach((key, i) => {
    const file = join(o.dir, `root-${i + 1}.pem`);
    writePrivate(file, key.privateKeyPem);
    keyFiles.push(file);
  });
  for (const role of ['targets', 'snapshot', 'timestamp'] as const) {
    const file = join(o.dir, ROLE_FILES[role]);
    writePrivate(file, made[role].privateKeyPem);
    keyFiles.push(file);
  }
  const root = buildRoot({
    version: 1,
    expires: tufExpires(o.now, o.validMs),
    keys: { root: made.root, targets: [made.targets], snapshot: [made.snapshot], timestamp: [made.timestamp] },
    thresholds: { root: k },
  });
  signAll(root, made.root);
  return { root, rootFile: writeRoot(o.dir, root), keyFiles };
}

export interface SignRootOptions {
  dir: string;
  validMs: number;
  now: number;
  /** A new threshold for the root role (default: the current one). */
  rootThreshold?: number;
  /** Root keys of the current root kept outside the folder (a replaced key's old file). */
  oldKeys?: ReadonlyArray<KeyFile>;
}

/**
 * Signs the next root from the keys now in the folder: its root-*.pem files are the new root
 * keys, and targets.pem, snapshot.pem and timestamp.pem (where present; else the current
 * root's keys stay) the other roles'. It must be signed by a threshold of the current root's
 * keys and of its own, like every client checks; what falls short is refused, saying so.
 */
export function signNextRoot(o: SignRootOptions): { root: Metadata<Root>; rootFile: string; changed: TufRole[] } {
  const kd = readKeyDir(o.dir);
  const current = latestRoot(kd);
  const c = current.signed;
  if (kd.rootKeys.length === 0) throw new FleetError('failed_precondition', `${o.dir} holds no root-N.pem: the new root needs root keys`);
  const keep = (role: TufRole) => c.roles[role]!.keyIDs.map((id) => ({ keyId: id, publicJson: c.keys[id]!.toJSON() as never }));
  const keys: RolePublicKeys = {
    root: kd.rootKeys.map((f) => f.key),
    targets: kd.targets ? [kd.targets.key] : keep('targets'),
    snapshot: kd.snapshot ? [kd.snapshot.key] : keep('snapshot'),
    timestamp: kd.timestamp ? [kd.timestamp.key] : keep('timestamp'),
  };
  const threshold = o.rootThreshold ?? c.roles.root!.threshold;
  if (!Number.isSafeInteger(threshold) || threshold < 1 || threshold > kd.rootKeys.length) {
    throw new FleetError('invalid_argument', `the root threshold ${threshold} must be from 1 to the ${kd.rootKeys.length} root key file(s) in ${o.dir}`);
  }
  const next = buildRoot({ version: c.version + 1, expires: tufExpires(o.now, o.validMs), keys, thresholds: { root: threshold } });
  const signers = [...kd.rootKeys.map((f) => f.key), ...(o.oldKeys ?? []).map((f) => f.key)];
  signAll(next, signers);
  const old = signedCount(current, 'root', signers);
  if (old.have < old.need) {
    throw new FleetError(
      'failed_precondition',
      `root version ${c.version + 1} must be signed by ${old.need} of root version ${c.version}'s keys, and the key files hold ${old.have}: keep a replaced root key until sign-root has run, or pass its old file with --old-key`,
    );
  }
  // The same check every client makes: a threshold of the old keys and of the new ones, version +1.
  checkRootSuccession(current, next, o.now);
  const changed = (['root', 'targets', 'snapshot', 'timestamp'] as const).filter(
    (role) =>
      [...next.signed.roles[role]!.keyIDs].sort().join() !== [...c.roles[role]!.keyIDs].sort().join() ||
      next.signed.roles[role]!.threshold !== c.roles[role]!.threshold,
  );
  return { root: next, rootFile: writeRoot(o.dir, next), changed };
}
