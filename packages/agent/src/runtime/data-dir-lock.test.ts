import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LOCK_FILE, lockDataDir } from './data-dir-lock.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gf-lock-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const boot = { bootId: 'boot-a' };

describe('lockDataDir', () => {
  it('writes pid and boot id, and removes the lock on release', () => {
    const release = lockDataDir(dir, boot);
    expect(readFileSync(join(dir, LOCK_FILE), 'utf8').trim()).toBe(`${process.pid} boot-a`);
    release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  });

  it('refuses while a live process of this boot holds it, naming the pid (also this very process)', () => {
    writeFileSync(join(dir, LOCK_FILE), `${process.ppid} boot-a\n`);
    expect(() => lockDataDir(dir, boot)).toThrow(new RegExp(`another gpufleet-agent \\(pid ${process.ppid}\\) is already running`));
    rmSync(join(dir, LOCK_FILE));
    lockDataDir(dir, boot);
    expect(() => lockDataDir(dir, boot)).toThrow(/already running/);
  });

  it('takes over a lock from an earlier boot, a dead process, or garbage', () => {
    for (const stale of [`${process.ppid} boot-old`, '2147483646 boot-a', 'not a pid', '']) {
      writeFileSync(join(dir, LOCK_FILE), stale);
      const release = lockDataDir(dir, boot);
      expect(readFileSync(join(dir, LOCK_FILE), 'utf8').trim()).toBe(`${process.pid} boot-a`);
      release();
    }
  });
});
