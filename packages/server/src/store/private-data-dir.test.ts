import { chmodSync, closeSync, mkdirSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FleetError } from '@gpufleet/protocol';
import { SQLITE_FILE_NAME } from './open-store.js';
import { openSqliteStore } from './sqlite-store.js';
import { createPrivateFile, makePrivate, securePrivateDir, SERVER_PRIVATE_FILES } from './private-data-dir.js';

const mode = (path: string) => statSync(path).mode & 0o777;

let root: string;
let umask: number;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'private-dir-'));
  // The loosest umask: whatever we create must be private by itself, not by the umask's grace.
  umask = process.umask(0);
});
afterEach(() => {
  process.umask(umask);
  rmSync(root, { recursive: true, force: true });
});

describe('securePrivateDir', () => {
  it('creates a missing data dir 0700 (parents included)', () => {
    const dir = join(root, 'a', 'data');
    expect(securePrivateDir(dir)).toEqual({ created: true, fixed: [], warnings: [] });
    expect(mode(dir)).toBe(0o700);
  });

  it('warns about a data dir others can list, and leaves it as the operator made it', () => {
    const dir = join(root, 'shared');
    mkdirSync(dir, { mode: 0o755 });
    const r = securePrivateDir(dir);
    expect(r.warnings).toEqual([expect.stringMatching(/is mode 0755: group or others can list it.*chmod 700/)]);
    expect(mode(dir)).toBe(0o755);
  });

  it('refuses a data dir group or others can write', () => {
    for (const m of [0o777, 0o775, 0o703]) {
      const dir = join(root, `open-${m.toString(8)}`);
      mkdirSync(dir);
      chmodSync(dir, m);
      let err: unknown;
      try {
        securePrivateDir(dir);
      } catch (e) {
        err = e;
      }
      expect(FleetError.is(err, 'failed_precondition')).toBe(true);
      expect((err as Error).message).toMatch(new RegExp(`mode is 0${m.toString(8)}, so group or others can write it.*chmod 700`));
    }
  });

  it('tightens its own files to 0600 and says so, and refuses a folder where a file should be', () => {
    const dir = join(root, 'data');
    mkdirSync(join(dir, 'tls'), { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, 'admin-token'), 'gft_x\n', { mode: 0o644 });
    writeFileSync(join(dir, 'tls', 'server-key.pem'), 'key', { mode: 0o640 });
    writeFileSync(join(dir, 'server-identity.pem'), 'key', { mode: 0o600 });
    const r = securePrivateDir(dir, SERVER_PRIVATE_FILES);
    expect(r.fixed).toEqual([`${join(dir, 'admin-token')}: 0644 -> 0600`, `${join(dir, 'tls', 'server-key.pem')}: 0640 -> 0600`]);
    expect([mode(join(dir, 'admin-token')), mode(join(dir, 'tls', 'server-key.pem')), mode(join(dir, 'server-identity.pem'))]).toEqual([0o600, 0o600, 0o600]);
    mkdirSync(join(dir, 'gpufleet.db-wal'));
    expect(() => securePrivateDir(dir, SERVER_PRIVATE_FILES)).toThrow(/gpufleet\.db-wal: it should be a file/);
  });

  it('refuses garbage paths and a file in place of the folder', () => {
    expect(() => securePrivateDir('')).toThrow(FleetError);
    const file = join(root, 'plain');
    writeFileSync(file, '');
    expect(() => securePrivateDir(file)).toThrow(/not a folder|cannot create/);
    expect(makePrivate([join(root, 'missing')])).toEqual([]);
  });

  it('names the embedded database as open-store does', () => {
    expect(SERVER_PRIVATE_FILES.slice(0, 3)).toEqual([SQLITE_FILE_NAME, `${SQLITE_FILE_NAME}-wal`, `${SQLITE_FILE_NAME}-shm`]);
  });
});

describe('createPrivateFile', () => {
  it('makes a missing file 0600 and leaves an existing one alone', () => {
    const file = join(root, 'f');
    expect(createPrivateFile(file)).toBe(true);
    expect(mode(file)).toBe(0o600);
    chmodSync(file, 0o640);
    expect(createPrivateFile(file)).toBe(false);
    expect(mode(file)).toBe(0o640);
    expect(() => createPrivateFile(join(root, 'no', 'such', 'dir', 'f'))).toThrow(/cannot create/);
  });
});

describe('the SQLite store files', () => {
  it('are created 0600: the database, its -wal and its -shm', async () => {
    const path = join(root, 'data', SQLITE_FILE_NAME);
    const store = await openSqliteStore({ path });
    await store.migrate();
    await store.setSetting('k', 'v');
    try {
      expect([mode(path), mode(`${path}-wal`), mode(`${path}-shm`)]).toEqual([0o600, 0o600, 0o600]);
      expect(mode(join(root, 'data'))).toBe(0o700);
    } finally {
      await store.close();
    }
  });

  it('an existing database left 0644 by an older version is made 0600 when opened', async () => {
    const path = join(root, SQLITE_FILE_NAME);
    closeSync(openSync(path, 'w', 0o644));
    writeFileSync(`${path}-shm`, '', { mode: 0o644 });
    rmSync(`${path}-shm`);
    const store = await openSqliteStore({ path });
    try {
      await store.migrate();
      expect([mode(path), mode(`${path}-wal`), mode(`${path}-shm`)]).toEqual([0o600, 0o600, 0o600]);
    } finally {
      await store.close();
    }
  });
});
