import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UsageError } from '../errors.js';
import { createOperatorKey, describeOperatorKey, isKeyFilePath, loadOperatorKey } from './index.js';

/** `--key ./gpufleet-data/demo-operator.key`: a value with a slash reads that key file. */

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gpufleet-key-path-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('key file paths', () => {
  it('reads a key by its path, relative to the given working folder', () => {
    const made = createOperatorKey('demo-operator', { dir: join(dir, 'data') });
    expect(loadOperatorKey('./data/demo-operator.key', { cwd: dir }).did).toBe(made.did);
    expect(loadOperatorKey(made.path).did).toBe(made.did);
    expect(describeOperatorKey('data/demo-operator.key', { cwd: dir })).toMatchObject({ did: made.did, encrypted: false });
  });

  it('keeps the checks of named keys: mode, content, missing file', () => {
    const made = createOperatorKey('k', { dir });
    chmodSync(made.path, 0o644);
    expect(() => loadOperatorKey(made.path)).toThrow(/open to other users/);
    expect(() => loadOperatorKey('./missing.key', { cwd: dir })).toThrow(/^no key file .*missing\.key$/);
  });

  it('never writes to a path: a new key still needs a plain name', () => {
    expect(isKeyFilePath('a/b')).toBe(true);
    expect(isKeyFilePath('default')).toBe(false);
    expect(() => createOperatorKey('../escape', { dir })).toThrow(UsageError);
    expect(() => createOperatorKey('./x.key', { dir })).toThrow(UsageError);
  });
});
