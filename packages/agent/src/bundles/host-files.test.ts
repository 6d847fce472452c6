import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readBundleArchive, writeBundleArchive } from './bundle-archive.js';
import { BundleStore } from './bundle-store.js';
import { convergeFiles, displacedBy, ownedFiles } from './host-files.js';

let dir: string;
let root: string;
let store: BundleStore;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gf-hostfiles-'));
  root = join(dir, 'root');
  mkdirSync(join(root, 'etc'), { recursive: true });
  store = new BundleStore(join(dir, 'data'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function version(v: string, files: Record<string, string>) {
  const yaml = `name: web\nversion: "${v}"\nfiles:\n${Object.keys(files)
    .map((p, i) => `  - { path: ${p}, source: files/f${i}, mode: "0640" }\n`)
    .join('')}`;
  return readBundleArchive(writeBundleArchive(yaml, new Map(Object.values(files).map((t, i) => [`files/f${i}`, new Uint8Array(Buffer.from(t))]))));
}

/** Applies a version over another the way the installer does: record what it displaces, keep it, write. */
function applyOver(next: ReturnType<typeof version>, from: ReturnType<BundleStore['load']> | null) {
  const { records, saved } = displacedBy(root, ownedFiles(next), from);
  const kept = store.save(next, records, saved);
  convergeFiles(root, ownedFiles(kept), from);
  return kept;
}

describe('host files of a bundle', () => {
  it('writes with modes, and gives back what the host had when a version stops owning a path', () => {
    writeFileSync(join(root, 'etc/motd'), 'host motd\n', { mode: 0o644 });
    const v1 = applyOver(version('1', { '/etc/motd': 'v1 motd\n', '/etc/app/a.conf': 'a1\n' }), null);
    expect(readFileSync(join(root, 'etc/motd'), 'utf8')).toBe('v1 motd\n');
    expect(statSync(join(root, 'etc/app/a.conf')).mode & 0o777).toBe(0o640);
    // v2 keeps motd (its original is carried over from v1's record) and drops a.conf.
    const v2 = applyOver(version('2', { '/etc/motd': 'v2 motd\n' }), store.load('web', '1'));
    expect(existsSync(join(root, 'etc/app/a.conf'))).toBe(false);
    store.prune('web', ['2']);
    // v1's copy is gone, yet going to nothing still restores the host's own motd.
    convergeFiles(root, [], store.load('web', '2'));
    expect(readFileSync(join(root, 'etc/motd'), 'utf8')).toBe('host motd\n');
    expect(statSync(join(root, 'etc/motd')).mode & 0o777).toBe(0o644);
    expect(v1.displaced['/etc/app/a.conf']).toEqual({ existed: false });
    expect(v2.displaced['/etc/motd']).toMatchObject({ existed: true, mode: 0o644 });
  });

  it('will not replace something that is not a regular file', () => {
    mkdirSync(join(root, 'etc/dir'));
    symlinkSync('/etc/passwd', join(root, 'etc/link'));
    expect(() => displacedBy(root, ownedFiles(version('1', { '/etc/dir': 'x' })), null)).toThrow(/is not a regular file: a bundle will not replace it/);
    expect(() => displacedBy(root, ownedFiles(version('1', { '/etc/link': 'x' })), null)).toThrow(/is not a regular file/);
  });

  it('keeps the pointer and reads damaged state as nothing installed', () => {
    expect(store.pointer('web')).toEqual({ current: null, previous: null });
    store.setPointer('web', { current: '2', previous: '1' });
    expect(store.pointer('web')).toEqual({ current: '2', previous: '1' });
    writeFileSync(join(dir, 'data/bundles/web/current.json'), '{garbage');
    expect(store.pointer('web')).toEqual({ current: null, previous: null });
    expect(() => store.load('web', '9')).toThrow(/the kept copy of bundle web@9 .* cannot be read/);
    expect(() => store.pointer('../etc')).toThrow(/not a bundle name/);
  });
});
