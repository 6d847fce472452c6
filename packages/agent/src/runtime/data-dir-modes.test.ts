import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FleetError } from '@gpufleet/protocol';
import { checkDataDir, LOCK_FILE, lockDataDir } from './data-dir-lock.js';
import { CA_FILE, FileStateStore, NODE_CONFIG_FILE, OUTBOX_FILE } from './file-state.js';

/** The agent's data dir and state files are private: made 0700/0600, checked at start. */

const mode = (path: string) => statSync(path).mode & 0o777;
let root: string;
let umask: number;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'gf-agent-modes-'));
  umask = process.umask(0);
});
afterEach(() => {
  process.umask(umask);
  rmSync(root, { recursive: true, force: true });
});

describe('the agent data dir', () => {
  it('is created 0700 at start, and its state files 0600, the pinned CA included', () => {
    const dir = join(root, 'agent');
    const release = lockDataDir(dir, { bootId: 'b', warn: () => undefined });
    expect(mode(dir)).toBe(0o700);
    expect(mode(join(dir, LOCK_FILE))).toBe(0o600);
    const state = new FileStateStore(dir);
    state.saveConfig({
      nodeId: 'did:key:z6MkX',
      serverUrl: 'https://s:7420',
      caPem: '-----BEGIN CERTIFICATE-----\n',
      roots: [],
      heartbeatMs: 5000,
      labels: {},
    });
    state.replaceOutbox({ lastSeq: 0, ackedSeq: 0, items: [] });
    expect([mode(join(dir, NODE_CONFIG_FILE)), mode(join(dir, CA_FILE)), mode(join(dir, OUTBOX_FILE))]).toEqual([0o600, 0o600, 0o600]);
    release();
  });

  it('warns about a dir others can list and tightens state files an older version left open', () => {
    const dir = join(root, 'old');
    mkdirSync(dir, { mode: 0o755 });
    writeFileSync(join(dir, CA_FILE), 'ca', { mode: 0o644 });
    writeFileSync(join(dir, OUTBOX_FILE), '', { mode: 0o640 });
    const warnings: string[] = [];
    const release = lockDataDir(dir, { bootId: 'b', warn: (m) => warnings.push(m) });
    expect(warnings).toEqual([
      expect.stringMatching(/data dir .* is mode 0755: group or others can list it.*chmod 700/),
      `made a state file private: ${join(dir, CA_FILE)}: 0644 -> 0600`,
      `made a state file private: ${join(dir, OUTBOX_FILE)}: 0640 -> 0600`,
    ]);
    expect([mode(dir), mode(join(dir, CA_FILE)), mode(join(dir, OUTBOX_FILE))]).toEqual([0o755, 0o600, 0o600]);
    release();
  });

  it('refuses a dir group or others can write, before taking the lock', () => {
    const dir = join(root, 'open');
    mkdirSync(dir);
    chmodSync(dir, 0o777);
    let err: unknown;
    try {
      lockDataDir(dir, { bootId: 'b', warn: () => undefined });
    } catch (e) {
      err = e;
    }
    expect(FleetError.is(err, 'failed_precondition')).toBe(true);
    expect((err as Error).message).toMatch(/mode is 0777, so group or others can write it.*chmod 700/);
    expect(() => statSync(join(dir, LOCK_FILE))).toThrow();
  });

  it('refuses a folder where a state file should be, and a file where the dir should be', () => {
    const dir = join(root, 'odd');
    mkdirSync(join(dir, OUTBOX_FILE), { recursive: true });
    chmodSync(dir, 0o700);
    expect(() => checkDataDir(dir)).toThrow(/outbox\.jsonl: it should be a file/);
    writeFileSync(join(root, 'plain'), '');
    expect(() => checkDataDir(join(root, 'plain'))).toThrow(/not a folder|cannot create/);
  });
});
