import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readTar, writeTar } from './ustar.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ustar-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

// Past ustar's 100 bytes in its last segment: it travels in a PAX record.
const longName = `targets/agent/${'a'.repeat(64)}.gpufleet-agent-0.3.0-with-a-long-suffix.tgz`;
// Past 100 bytes, but split into prefix and name.
const splitName = `targets/agent/${'b'.repeat(64)}/gpufleet-agent-0.3.0.tgz`;

function hasTar(): boolean {
  try {
    execFileSync('tar', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('ustar', () => {
  it('writes what it reads back, binary-exact, names past 100 bytes included', () => {
    const files = [
      { name: 'gpufleet-release.json', bytes: new Uint8Array(Buffer.from('{"a":1}\n')) },
      { name: 'metadata/1.root.json', bytes: new Uint8Array(0) },
      { name: longName, bytes: new Uint8Array(1500).map((_, i) => i % 256) },
      { name: splitName, bytes: new Uint8Array(Buffer.from('split')) },
      { name: `${'c'.repeat(200)}/${'d'.repeat(300)}`, bytes: new Uint8Array(Buffer.from('very long')) },
    ];
    const tar = writeTar(files);
    expect(tar.length % 512).toBe(0);
    const back = readTar(tar);
    expect([...back.keys()]).toEqual(files.map((f) => f.name));
    for (const f of files) expect(back.get(f.name)!.equals(Buffer.from(f.bytes))).toBe(true);
    // The same files give the same bytes (mtime 0, uid 0).
    expect(writeTar(files).equals(tar)).toBe(true);
  });

  it.runIf(hasTar())('is a tar the system tar reads, and reads one the system tar wrote', () => {
    const file = join(dir, 'out.tar');
    writeFileSync(
      file,
      writeTar([
        { name: longName, bytes: new Uint8Array(Buffer.from('payload')) },
        { name: splitName, bytes: new Uint8Array(Buffer.from('payload')) },
      ]),
    );
    expect(execFileSync('tar', ['-tf', file], { encoding: 'utf8' }).trim().split('\n')).toEqual([longName, splitName]);
    mkdirSync(join(dir, 'src', 'metadata'), { recursive: true });
    writeFileSync(join(dir, 'src', 'metadata', 'timestamp.json'), '{"t":1}');
    execFileSync('tar', ['--format=ustar', '-cf', join(dir, 'sys.tar'), '-C', join(dir, 'src'), 'metadata']);
    const back = readTar(readFileSync(join(dir, 'sys.tar')));
    expect(back.get('metadata/timestamp.json')?.toString()).toBe('{"t":1}');
  });

  it('refuses names that leave the bundle, duplicates and names too long to write', () => {
    for (const name of ['../etc/passwd', '/etc/passwd', 'a/../../b', './x', 'a\\b', 'a\nb', '', 'x'.repeat(1025)]) {
      expect(() => writeTar([{ name, bytes: new Uint8Array(0) }]), name).toThrow(/not a release bundle: entry name/);
    }
    expect(() =>
      writeTar([
        { name: 'a', bytes: new Uint8Array(0) },
        { name: 'a', bytes: new Uint8Array(0) },
      ]),
    ).toThrow(/twice/);
  });

  it('refuses garbage to read: truncated, a wrong checksum, links, traversal, too many entries or bytes', () => {
    const good = writeTar([{ name: 'a.txt', bytes: new Uint8Array(Buffer.from('hello')) }]);
    expect(() => readTar(new Uint8Array(0))).toThrow(/ends inside a header/);
    expect(() => readTar(good.subarray(0, 514))).toThrow(/ends past the end/);
    expect(() => readTar(Buffer.from('x'.repeat(2000)))).toThrow(/not a release bundle/);
    const flipped = Buffer.from(good);
    flipped[0] = 'b'.charCodeAt(0);
    expect(() => readTar(flipped)).toThrow(/wrong checksum/);
    const link = relabel(good, (h) => {
      h[156] = '2'.charCodeAt(0);
    });
    expect(() => readTar(link)).toThrow(/not a regular file or folder \(type '2'\)/);
    const traversal = relabel(good, (h) => {
      h.fill(0, 0, 100);
      h.write('../../etc/cron.d/x', 0);
    });
    expect(() => readTar(traversal)).toThrow(/not a plain relative path/);
    const pax = writeTar([{ name: longName, bytes: new Uint8Array(1) }]);
    pax.write('99 path=x', 512, 'ascii');
    expect(() => readTar(pax)).toThrow(/a PAX header is malformed/);
    const many = writeTar(Array.from({ length: 3 }, (_, i) => ({ name: `f${i}`, bytes: new Uint8Array(10) })));
    expect(() => readTar(many, { maxEntries: 2 })).toThrow(/more than 2 entries/);
    expect(() => readTar(many, { maxTotalBytes: 25 })).toThrow(/more than 25 bytes/);
  });
});

/** A copy of a one-entry tar with its header changed and its checksum made right again. */
function relabel(tar: Buffer, change: (header: Buffer) => void): Buffer {
  const copy = Buffer.from(tar);
  const h = copy.subarray(0, 512);
  change(h);
  h.write('        ', 148, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return copy;
}
