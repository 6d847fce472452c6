import { appendFileSync, mkdtempSync, renameSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createJsonLogger } from '../runtime/logger.js';
import { FileFollower } from './file-follower.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gpufleet-follow-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function follow(path: string, backlogBytes?: number) {
  const lines: string[] = [];
  const backlog: string[] = [];
  const f = new FileFollower({
    path,
    pollMs: 1_000_000,
    backlogBytes,
    logger: createJsonLogger({ write: () => {} }),
    onLines: (ls, isBacklog) => (isBacklog ? backlog : lines).push(...ls),
  });
  return { f, lines, backlog };
}

describe('FileFollower', () => {
  it('starts at the end, hands over the tail as backlog, then reads appended lines', () => {
    const path = join(dir, 'kern.log');
    writeFileSync(path, 'old 1\nold 2\n');
    const { f, lines, backlog } = follow(path);
    f.start();
    expect(backlog).toEqual(['old 1', 'old 2']);
    appendFileSync(path, 'new 1\nnew 2\n');
    f.poll();
    expect(lines).toEqual(['new 1', 'new 2']);
    f.stop();
  });

  it('keeps the backlog to its window, dropping the cut first line', () => {
    const path = join(dir, 'kern.log');
    writeFileSync(path, 'aaaaaaaaaa\nbbbb\ncccc\n');
    const { f, backlog } = follow(path, 10);
    f.start();
    expect(backlog).toEqual(['cccc']);
    f.stop();
  });

  it('waits for a line to end before handing it over', () => {
    const path = join(dir, 'kern.log');
    writeFileSync(path, '');
    const { f, lines } = follow(path);
    f.start();
    appendFileSync(path, 'NVRM: Xid (PCI:0000:01:00): 7');
    f.poll();
    expect(lines).toEqual([]);
    appendFileSync(path, '9, GPU has fallen off the bus.\n');
    f.poll();
    expect(lines).toEqual(['NVRM: Xid (PCI:0000:01:00): 79, GPU has fallen off the bus.']);
    f.stop();
  });

  it('keeps a UTF-8 character split across two writes whole', () => {
    const path = join(dir, 'kern.log');
    writeFileSync(path, '');
    const { f, lines } = follow(path);
    f.start();
    const bytes = Buffer.from('name=café\n');
    appendFileSync(path, bytes.subarray(0, 9));
    f.poll();
    appendFileSync(path, bytes.subarray(9));
    f.poll();
    expect(lines).toEqual(['name=café']);
    f.stop();
  });

  it('reads from the start again after a truncation (copytruncate)', () => {
    const path = join(dir, 'kern.log');
    writeFileSync(path, 'one long old line\n');
    const { f, lines } = follow(path);
    f.start();
    truncateSync(path, 0);
    appendFileSync(path, 'x\n');
    f.poll();
    expect(lines).toEqual(['x']);
    f.stop();
  });

  it('drains the old file, then follows the new one after a rotation (rename + create)', () => {
    const path = join(dir, 'kern.log');
    writeFileSync(path, '');
    const { f, lines } = follow(path);
    f.start();
    appendFileSync(path, 'before rotation\n');
    renameSync(path, `${path}.1`);
    appendFileSync(`${path}.1`, 'late line in the old file\n');
    writeFileSync(path, 'first in new\n');
    f.poll();
    expect(lines).toEqual(['before rotation', 'late line in the old file', 'first in new']);
    appendFileSync(path, 'second in new\n');
    f.poll();
    expect(lines.at(-1)).toBe('second in new');
    f.stop();
  });

  it('waits for a file that does not exist yet, then reads all of it', () => {
    const path = join(dir, 'later.log');
    const { f, lines, backlog } = follow(path);
    f.start();
    f.poll();
    expect(lines).toEqual([]);
    writeFileSync(path, 'hello\n');
    f.poll();
    expect(lines).toEqual(['hello']);
    expect(backlog).toEqual([]);
    // Deleted and created again: the new file is read from its start.
    unlinkSync(path);
    f.poll();
    writeFileSync(path, 'again\n');
    f.poll();
    expect(lines).toEqual(['hello', 'again']);
    f.stop();
  });

  it('survives a handler that throws', () => {
    const path = join(dir, 'kern.log');
    writeFileSync(path, '');
    const f = new FileFollower({
      path,
      pollMs: 1_000_000,
      logger: createJsonLogger({ write: () => {} }),
      onLines: () => {
        throw new Error('bug');
      },
    });
    f.start();
    appendFileSync(path, 'a\n');
    expect(() => f.poll()).not.toThrow();
    f.stop();
  });
});
