import { describe, expect, it } from 'vitest';
import { writeTar } from '../updates/ustar.js';
import { readBundleArchive, writeBundleArchive } from './bundle-archive.js';

const YAML = `name: web\nversion: "2"\nfiles:\n  - { path: /etc/a, source: files/a, mode: "0644" }\nunits:\n  - { name: x.service, source: units/x.service }\n`;
const sources = () =>
  new Map([
    ['units/x.service', new Uint8Array(Buffer.from('[Service]\n'))],
    ['files/a', new Uint8Array(Buffer.from('a\n'))],
  ]);

describe('bundle archives', () => {
  it('are deterministic: the same folder gives the same bytes, whatever order the files come in', () => {
    const one = writeBundleArchive(YAML, sources());
    const two = writeBundleArchive(YAML, new Map([...sources()].reverse()));
    expect(one.equals(two)).toBe(true);
    const back = readBundleArchive(one, { name: 'web', version: '2' });
    expect(back.manifest).toMatchObject({ name: 'web', version: '2' });
    expect([...back.sources.keys()]).toEqual(['files/a', 'units/x.service']);
    expect(back.manifestText).toBe(YAML);
  });

  it('refuses archives that are not bundles', () => {
    const tar = (entries: Record<string, string>) => writeTar(Object.entries(entries).map(([name, t]) => ({ name, bytes: new Uint8Array(Buffer.from(t)) })));
    const cases: Array<[Uint8Array, RegExp]> = [
      [Buffer.alloc(100), /ends inside a header/],
      [tar({ 'files/a': 'a' }), /not a bundle: the archive has no bundle.yaml/],
      [tar({ 'bundle.yaml': YAML, 'files/a': 'a' }), /names units\/x.service, which the archive does not hold/],
      [tar({ 'bundle.yaml': YAML, 'files/a': 'a', 'units/x.service': 'u', 'etc/passwd': 'p' }), /holds etc\/passwd, which bundle.yaml does not name/],
      [tar({ 'bundle.yaml': 'version: [', 'files/a': 'a' }), /bundle.yaml:\d+:\d+: not valid YAML/],
    ];
    for (const [bytes, message] of cases) expect(() => readBundleArchive(bytes)).toThrow(message);
    expect(() => readBundleArchive(writeBundleArchive(YAML, sources()), { name: 'web', version: '3' })).toThrow(/says web@2, but the release is web@3/);
  });
});
