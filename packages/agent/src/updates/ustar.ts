import { FleetError } from '@gpufleet/protocol';

/**
 * A minimal POSIX ustar writer and reader for offline release bundles (issue 14). No tar package
 * is a dependency here (tar-stream is only a transitive one of dockerode, untyped), and a bundle
 * needs little: regular files with relative names, a long one carried in a PAX `path` record.
 * The reader is strict because it reads files from removable media: only regular files and
 * folders, names without `..` or a leading `/`, checksums verified, sizes bounded. Everything it
 * returns is verified by TUF afterwards.
 */

const BLOCK = 512;

export interface TarEntry {
  /** Relative path, `/`-separated; at most 1024 bytes (past 100, ustar's prefix field or a PAX record). */
  name: string;
  bytes: Uint8Array;
}

export interface TarLimits {
  /** Entries at most (default 1,000). */
  maxEntries: number;
  /** Bytes of all files together at most (default 2 GiB). */
  maxTotalBytes: number;
}

const DEFAULT_LIMITS: TarLimits = { maxEntries: 1000, maxTotalBytes: 2 * 1024 ** 3 };

function bad(message: string): never {
  throw new FleetError('invalid_argument', `not a release bundle: ${message}`);
}

function checkName(name: string): void {
  if (name.length === 0 || Buffer.byteLength(name) > 1024) bad(`entry name '${name.slice(0, 120)}' must be 1 to 1024 bytes`);
  if (name.startsWith('/') || name.split('/').some((seg) => seg === '..' || seg === '.') || name.includes('\\') || /[\0-\x1f]/.test(name)) {
    bad(`entry name '${name.slice(0, 120)}' is not a plain relative path`);
  }
}

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

/** ustar keeps a long name as a prefix (up to 155 bytes) and a name (up to 100), split at a `/`; null when it cannot. */
function splitName(path: string): { prefix: string; name: string } | null {
  if (Buffer.byteLength(path) <= 100) return { prefix: '', name: path };
  for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100 && name.length > 0) return { prefix, name };
  }
  return null;
}

/** A PAX record `<length> path=<path>\n`, the length counting itself. */
function paxPath(path: string): Buffer {
  const body = ` path=${path}\n`;
  let length = Buffer.byteLength(body) + 1;
  while (String(length).length + Buffer.byteLength(body) !== length) length = String(length).length + Buffer.byteLength(body);
  return Buffer.from(`${length}${body}`, 'utf8');
}

function header(path: string, size: number, type: '0' | 'x' = '0'): Buffer {
  const h = Buffer.alloc(BLOCK, 0);
  // A name that does not fit is cut here; the PAX record before this header carries it whole.
  const { prefix, name } = splitName(path) ?? { prefix: '', name: Buffer.from(path).subarray(0, 100).toString('utf8') };
  h.write(name, 0, 100, 'utf8');
  h.write(prefix, 345, 155, 'utf8');
  h.write(octal(0o644, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii'); // uid
  h.write(octal(0, 8), 116, 'ascii'); // gid
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(0, 12), 136, 'ascii'); // mtime 0: the same files give the same bytes
  h.write('        ', 148, 'ascii'); // checksum field counts as spaces while summing
  h.write(type, 156, 'ascii'); // '0' a regular file, 'x' a PAX record for the next one
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return h;
}

/** The tar of these files, in this order, ending with the two zero blocks. */
export function writeTar(entries: ReadonlyArray<TarEntry>): Buffer {
  const parts: Buffer[] = [];
  const seen = new Set<string>();
  for (const e of entries) {
    checkName(e.name);
    if (seen.has(e.name)) bad(`entry ${e.name} is there twice`);
    seen.add(e.name);
    if (e.bytes.length > 8 ** 11 - 1) bad(`entry ${e.name} is too large for ustar`);
    if (splitName(e.name) === null) {
      const pax = paxPath(e.name);
      pushEntry(parts, header('PaxHeader', pax.length, 'x'), pax);
    }
    pushEntry(parts, header(e.name, e.bytes.length), e.bytes);
  }
  parts.push(Buffer.alloc(2 * BLOCK, 0));
  return Buffer.concat(parts);
}

function pushEntry(parts: Buffer[], head: Buffer, bytes: Uint8Array): void {
  parts.push(head, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  const pad = (BLOCK - (bytes.length % BLOCK)) % BLOCK;
  if (pad > 0) parts.push(Buffer.alloc(pad, 0));
}

/** The `path` of a PAX extended header's records (other keys are ignored). */
function paxPathOf(data: Buffer): string | null {
  let path: string | null = null;
  for (let at = 0; at < data.length; ) {
    const space = data.indexOf(0x20, at);
    const length = space === -1 ? Number.NaN : Number(data.subarray(at, space).toString('ascii'));
    if (!Number.isSafeInteger(length) || length <= 0 || at + length > data.length || data[at + length - 1] !== 0x0a) bad('a PAX header is malformed');
    const record = data.subarray(space + 1, at + length - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0 && record.slice(0, eq) === 'path') path = record.slice(eq + 1);
    at += length;
  }
  return path;
}

function field(block: Buffer, start: number, length: number): string {
  const raw = block.subarray(start, start + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end === -1 ? raw.length : end).toString('utf8');
}

function number(block: Buffer, start: number, length: number, what: string): number {
  const text = field(block, start, length).trim();
  if (!/^[0-7]{1,12}$/.test(text)) bad(`a header's ${what} is not an octal number`);
  return Number.parseInt(text, 8);
}

/** The regular files of a tar by name; folders are skipped, anything else is refused. */
export function readTar(tar: Uint8Array, limits: Partial<TarLimits> = {}): Map<string, Buffer> {
  const max = { ...DEFAULT_LIMITS, ...limits };
  const buf = Buffer.from(tar.buffer, tar.byteOffset, tar.byteLength);
  const files = new Map<string, Buffer>();
  let total = 0;
  let entries = 0;
  let longName: string | null = null;
  for (let at = 0; ; ) {
    if (at + BLOCK > buf.length) bad('it ends inside a header (truncated?)');
    const block = buf.subarray(at, at + BLOCK);
    if (block.every((b) => b === 0)) return files;
    if (++entries > max.maxEntries) bad(`it has more than ${max.maxEntries} entries`);
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : block[i]!;
    if (number(block, 148, 8, 'checksum') !== sum) bad(`the header at byte ${at} has a wrong checksum`);
    const prefix = field(block, 257, 6) === 'ustar' ? field(block, 345, 155) : '';
    const name = longName ?? (prefix ? `${prefix}/` : '') + field(block, 0, 100);
    longName = null;
    const size = number(block, 124, 12, 'size');
    const type = String.fromCharCode(block[156]!);
    const dataEnd = at + BLOCK + size;
    if (dataEnd > buf.length) bad(`entry ${name.slice(0, 100)} ends past the end of the file (truncated?)`);
    if (type === '5') {
      // A folder: nothing to keep.
    } else if (type === 'x') {
      if (size > 64 * 1024) bad('a PAX header is larger than 64 KiB');
      longName = paxPathOf(buf.subarray(at + BLOCK, dataEnd));
    } else if (type === '0' || type === '\0') {
      const clean = name.replace(/^\.\//, '');
      checkName(clean);
      if (files.has(clean)) bad(`entry ${clean} is there twice`);
      total += size;
      if (total > max.maxTotalBytes) bad(`its files hold more than ${max.maxTotalBytes} bytes`);
      files.set(clean, Buffer.from(buf.subarray(at + BLOCK, dataEnd)));
    } else {
      bad(`entry ${name.slice(0, 100)} is not a regular file or folder (type '${type}')`);
    }
    at = dataEnd + ((BLOCK - (size % BLOCK)) % BLOCK);
  }
}
