import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../testing/test-server.js';

/** The data dir check as `gpufleet server` runs it: the graph's first service, before anything lands in the folder. */

const made: string[] = [];
let t: TestServer | null = null;
afterEach(async () => {
  await t?.close();
  t = null;
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
});

function dir(mode: number): string {
  const d = mkdtempSync(join(tmpdir(), 'gpufleet-dd-'));
  made.push(d);
  chmodSync(d, mode);
  return d;
}

const mode = (p: string) => statSync(p).mode & 0o777;

describe('the server data dir at start', () => {
  it('refuses a folder others can write, and writes nothing into it', async () => {
    const d = dir(0o777);
    await expect(startTestServer({}, { dataDir: d })).rejects.toThrow(/refusing the data dir .*others can write it.*chmod 700/);
    expect(() => statSync(join(d, 'gpufleet.db'))).toThrow();
    expect(() => statSync(join(d, 'admin-token'))).toThrow();
  });

  it('keeps the database, its WAL files and the admin token 0600, and tightens a database an older version left 0644', async () => {
    const d = dir(0o700);
    writeFileSync(join(d, 'gpufleet.db'), '');
    chmodSync(join(d, 'gpufleet.db'), 0o644);
    t = await startTestServer({}, { dataDir: d });
    expect(mode(d)).toBe(0o700);
    for (const f of ['gpufleet.db', 'gpufleet.db-wal', 'admin-token']) expect([f, mode(join(d, f))]).toEqual([f, 0o600]);
  });
});
