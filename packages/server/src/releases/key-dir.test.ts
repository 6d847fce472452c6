import { mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FleetError } from '@gpufleet/protocol';
import { initKeyDir, latestRoot, readKeyDir, readRootFile, signNextRoot } from './key-dir.js';
import { generateTufKey, signingKeyFromPem } from './tuf-keys.js';
import { checkRootSuccession } from './tuf-metadata.js';

const DAY = 86_400_000;
const now = Date.now();
let base: string;
let dir: string;

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'key-dir-'));
  dir = join(base, 'keys');
});
afterEach(() => rmSync(base, { recursive: true, force: true }));

function code(work: () => unknown): string {
  try {
    work();
  } catch (err) {
    if (err instanceof FleetError) return `${err.code}: ${err.message}`;
    throw err;
  }
  return 'ok';
}

/** Replaces a root key file by a fresh key, as an operator does with `openssl genpkey`. */
function replaceKey(file: string): void {
  rmSync(join(dir, file));
  writeFileSync(join(dir, file), generateTufKey().privateKeyPem, { mode: 0o600 });
}

describe('releases keys init', () => {
  it('makes the four roles keys (0600) and root version 1 signed by a threshold of its own root keys', () => {
    const made = initKeyDir({ dir, rootKeys: 3, rootThreshold: 2, validMs: 365 * DAY, now });
    expect(readdirSync(dir).sort()).toEqual(['1.root.json', 'root-1.pem', 'root-2.pem', 'root-3.pem', 'snapshot.pem', 'targets.pem', 'timestamp.pem']);
    for (const f of made.keyFiles) expect(statSync(f).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o077).toBe(0);
    const root = readRootFile(made.rootFile);
    expect(root.signed.version).toBe(1);
    expect(root.signed.consistentSnapshot).toBe(true);
    expect(root.signed.roles.root!.threshold).toBe(2);
    expect(root.signed.roles.root!.keyIDs).toHaveLength(3);
    const kd = readKeyDir(dir);
    for (const role of ['targets', 'snapshot', 'timestamp'] as const) {
      expect(root.signed.roles[role]!.keyIDs).toEqual([kd[role]!.key.keyId]);
      expect(root.signed.roles[role]!.threshold).toBe(1);
    }
    expect(Object.keys(root.signatures).sort()).toEqual(kd.rootKeys.map((k) => k.key.keyId).sort());
    expect(() => checkRootSuccession(null, root, now)).not.toThrow();
    // Expires in a year, in TUF's form (no milliseconds).
    expect(root.signed.expires).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(Date.parse(root.signed.expires) - now).toBeGreaterThan(364 * DAY);
  });

  it('refuses a folder that holds keys already, leaving it as it was', () => {
    initKeyDir({ dir, validMs: DAY, now });
    const before = readFileSync(join(dir, 'root-1.pem'), 'utf8');
    expect(code(() => initKeyDir({ dir, validMs: DAY, now }))).toMatch(/^already_exists: .*already holds release keys/);
    expect(readFileSync(join(dir, 'root-1.pem'), 'utf8')).toBe(before);
  });

  it('refuses root key counts and thresholds that cannot work, writing nothing', () => {
    for (const [n, k] of [
      [0, 1],
      [17, 2],
      [3, 4],
      [3, 0],
      [2.5, 1],
      [3, Number.NaN],
    ]) {
      expect(code(() => initKeyDir({ dir, rootKeys: n, rootThreshold: k, validMs: DAY, now }))).toMatch(/^invalid_argument: --root-(keys|threshold)/);
    }
    expect(() => readdirSync(dir)).toThrow();
  });

  it('reads garbage key files and root files as errors naming the file', () => {
    initKeyDir({ dir, validMs: DAY, now });
    writeFileSync(join(dir, 'targets.pem'), 'not a key');
    expect(code(() => readKeyDir(dir))).toMatch(/^invalid_argument: .*targets\.pem is not an Ed25519 private key/);
    writeFileSync(join(dir, 'targets.pem'), generateTufKey().privateKeyPem);
    writeFileSync(join(dir, '2.root.json'), '{"signed":');
    expect(code(() => latestRoot(readKeyDir(dir)))).toMatch(/^invalid_argument: .*2\.root\.json is not JSON/);
    writeFileSync(join(dir, '2.root.json'), '{"signed":{"_type":"targets"},"signatures":[]}');
    expect(code(() => latestRoot(readKeyDir(dir)))).toMatch(/is not root metadata/);
    expect(code(() => readKeyDir(join(base, 'none')))).toMatch(/^not_found: .*keys init/);
    expect(code(() => signingKeyFromPem(generateTufKey().privateKeyPem.replace('PRIVATE', 'PUBLIC')))).toMatch(/^invalid_argument/);
  });
});

describe('releases keys sign-root', () => {
  it('after a root key is replaced, signs version 2 with the old threshold and the new keys, offline', () => {
    initKeyDir({ dir, validMs: 365 * DAY, now });
    const v1 = latestRoot(readKeyDir(dir));
    replaceKey('root-3.pem');
    const { root, rootFile, changed } = signNextRoot({ dir, validMs: 365 * DAY, now });
    expect(rootFile).toBe(join(dir, '2.root.json'));
    expect(changed).toEqual(['root']);
    expect(root.signed.version).toBe(2);
    // The checks a client makes: a threshold of the old root's keys and of the new one's.
    expect(() => checkRootSuccession(v1, readRootFile(rootFile), now)).not.toThrow();
    expect(root.signed.roles.root!.keyIDs).toContain(readKeyDir(dir).rootKeys[2]!.key.keyId);
    expect(root.signed.roles.root!.keyIDs).not.toEqual(v1.signed.roles.root!.keyIDs);
    // And again: version 3 follows version 2.
    expect(signNextRoot({ dir, validMs: DAY, now }).root.signed.version).toBe(3);
  });

  it('refuses when the folder holds too few of the old root keys, and accepts the old key given with --old-key', () => {
    initKeyDir({ dir, validMs: 365 * DAY, now });
    renameSync(join(dir, 'root-2.pem'), join(base, 'old-root-2.pem'));
    renameSync(join(dir, 'root-3.pem'), join(base, 'old-root-3.pem'));
    writeFileSync(join(dir, 'root-2.pem'), generateTufKey().privateKeyPem);
    writeFileSync(join(dir, 'root-3.pem'), generateTufKey().privateKeyPem);
    expect(code(() => signNextRoot({ dir, validMs: DAY, now }))).toMatch(
      /^failed_precondition: .*signed by 2 of root version 1's keys, and the key files hold 1.*--old-key/,
    );
    expect(readdirSync(dir)).not.toContain('2.root.json');
    const oldKey = { file: join(base, 'old-root-2.pem'), key: signingKeyFromPem(readFileSync(join(base, 'old-root-2.pem'), 'utf8')) };
    const { root } = signNextRoot({ dir, validMs: DAY, now, oldKeys: [oldKey] });
    expect(root.signed.version).toBe(2);
    expect(() => checkRootSuccession(readRootFile(join(dir, '1.root.json')), root, now)).not.toThrow();
  });

  it('takes new online keys from the folder, keeps the current ones of roles whose file is gone, and changes the threshold', () => {
    initKeyDir({ dir, validMs: 365 * DAY, now });
    const v1 = latestRoot(readKeyDir(dir));
    replaceKey('timestamp.pem');
    rmSync(join(dir, 'targets.pem'));
    const { root, changed } = signNextRoot({ dir, validMs: DAY, now, rootThreshold: 3 });
    expect(changed).toEqual(['root', 'timestamp']);
    expect(root.signed.roles.targets!.keyIDs).toEqual(v1.signed.roles.targets!.keyIDs);
    expect(root.signed.roles.root!.threshold).toBe(3);
    expect(code(() => signNextRoot({ dir, validMs: DAY, now, rootThreshold: 4 }))).toMatch(/^invalid_argument: the root threshold 4/);
    expect(code(() => signNextRoot({ dir: join(base, 'empty'), validMs: DAY, now }))).toMatch(/^not_found/);
  });
});
