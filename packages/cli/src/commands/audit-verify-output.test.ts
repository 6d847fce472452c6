import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../cli.js';
import { captureIo } from '../testing/capture-io.js';
import { startFakeApi, type FakeApi } from '../testing/fake-api.js';

/** What `gpufleet audit verify` says about trust on first use and about a missing checkpoint. */

const NOW = Date.UTC(2026, 2, 1, 12, 0, 0);
let api: FakeApi;
let reply: unknown;
let home: string;

beforeAll(async () => {
  api = await startFakeApi({ 'GET /api/v1/audit/verify': () => ({ body: reply }) });
});
afterAll(() => api.close());
beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'gpufleet-audit-cli-'));
});
afterEach(() => rmSync(home, { recursive: true, force: true }));

async function verify(...extra: string[]) {
  const io = captureIo({ columns: 200, env: { XDG_CONFIG_HOME: join(home, 'xdg') }, home, cwd: home });
  const code = await runCli(['audit', 'verify', ...extra, '--server', api.url, '--token', 'gft_t_s'], io, { now: () => NOW });
  return { code, stdout: io.stdout, stderr: io.stderr };
}

describe('gpufleet audit verify', () => {
  it('says when the chain was first signed, and that records before a later first signature were trusted unsigned', async () => {
    reply = {
      ok: true,
      checked: 3,
      legacy: 0,
      checkpoint: { status: 'ok', id: 3, at: NOW, unsigned: 0, first: { at: Date.UTC(2026, 1, 1), id: 0 }, legacyUntil: 0 },
    };
    expect(await verify()).toEqual({
      code: 0,
      stderr: '',
      stdout: 'audit chain intact: 3 records checked; head signed at record 3; first signed 2026-02-01T00:00:00.000Z\n',
    });
    reply = {
      ok: true,
      checked: 9,
      legacy: 0,
      checkpoint: { status: 'ok', id: 9, at: NOW, unsigned: 1, first: { at: Date.UTC(2026, 2, 1, 11), id: 8 }, legacyUntil: 0 },
    };
    expect((await verify()).stdout).toBe(
      'audit chain intact: 9 records checked; head signed at record 9 (1 newer not yet signed); first signed 2026-03-01T11:00:00.000Z at record 8: records up to it were trusted unsigned\n',
    );
  });

  it('fails on a missing checkpoint, naming the status', async () => {
    reply = {
      ok: false,
      checked: 4,
      legacy: 0,
      checkpoint: { status: 'missing', reason: 'audit records exist but no signed checkpoint does: it was removed' },
    };
    const r = await verify();
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'error: audit chain does not match its signed checkpoint (missing): audit records exist but no signed checkpoint does: it was removed (4 checked)\n',
    );
    const json = await verify('-o', 'json');
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout).checkpoint.status).toBe('missing');
  });

  it('ignores a garbled first-signed time instead of printing "Invalid Date"', async () => {
    reply = { ok: true, checked: 1, legacy: 0, checkpoint: { status: 'ok', id: 1, at: NOW, first: { at: 'soon', id: 0 } } };
    expect((await verify()).stdout).toBe('audit chain intact: 1 record checked; head signed at record 1\n');
  });
});
