import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../cli.js';
import { configPath, loadConfig } from '../config-file.js';
import { captureIo } from '../testing/capture-io.js';
import { startFakeApi, type FakeApi } from '../testing/fake-api.js';

let api: FakeApi;
let dir: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  api = await startFakeApi({
    'GET /api/v1/nodes': (req) =>
      req.headers.authorization === 'Bearer gft_good_token'
        ? { body: { items: [], total: 3 } }
        : { status: 401, body: { error: { code: 'unauthenticated', message: 'unknown token' } } },
  });
});
afterAll(() => api.close());

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gpufleet-login-'));
  env = { XDG_CONFIG_HOME: join(dir, 'xdg') };
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function run(argv: string[]) {
  const io = captureIo({ env, cwd: dir, columns: 120 });
  const code = await runCli(argv, io);
  return { code, stdout: io.stdout, stderr: io.stderr };
}

const path = () => configPath(env, '/unused');

describe('login', () => {
  it('checks the token first, then saves the context 0600 and makes it current', async () => {
    const r = await run(['login', '--server', api.url, '--token', 'gft_good_token', '--context', 'lab']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`logged in to ${api.url} as context lab (3 nodes)`);
    expect(api.requests.at(-1)!.query).toEqual({ limit: '1' });
    const config = loadConfig(path());
    expect(config).toEqual({ current: 'lab', contexts: { lab: { server: api.url, token: 'gft_good_token' } } });
    expect(statSync(path()).mode & 0o777).toBe(0o600);

    // The saved context now answers for plain commands.
    const ls = await run(['nodes', 'ls', '-o', 'json']);
    expect(ls.code).toBe(0);
    expect(JSON.parse(ls.stdout).total).toBe(3);
  });

  it('saves nothing when the server refuses the token', async () => {
    const r = await run(['login', '--server', api.url, '--token', 'gft_bad_token']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('error: the API token was refused: run `gpufleet login`\n');
    expect(loadConfig(path()).contexts).toEqual({});
  });

  it('names the context after the server by default', async () => {
    await run(['login', '--server', api.url, '--token', 'gft_good_token']);
    const port = new URL(api.url).port;
    expect(loadConfig(path()).current).toBe(`127.0.0.1-${port}`);
  });

  it('refuses bad input without contacting anyone', async () => {
    const before = api.requests.length;
    expect((await run(['login', '--token', 'gft_good_token'])).stderr).toBe('error: login needs --server <url>\n');
    expect((await run(['login', '--server', api.url])).code).toBe(2);
    expect((await run(['login', '--server', api.url, '--token', 'gft_good_token', '--context', '../evil'])).stderr).toMatch(/context name '..\/evil' must be/);
    expect((await run(['login', '--server', api.url, '--token', 'gft_good_token', '--ca-fingerprint', 'abc'])).stderr).toMatch(/64 hex digits/);
    expect((await run(['login', '--server', api.url, '--token', 'gft_good_token', '--ca-fingerprint', 'a'.repeat(64)])).stderr).toMatch(
      /only applies to an https/,
    );
    expect(api.requests.length).toBe(before);
  });
});

describe('context and logout', () => {
  beforeEach(async () => {
    await run(['login', '--server', api.url, '--token', 'gft_good_token', '--context', 'one']);
    await run(['login', '--server', api.url, '--token', 'gft_good_token', '--context', 'two']);
  });

  it('lists contexts without tokens, marking the current one', async () => {
    const r = await run(['context', 'ls']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^CURRENT\s+NAME\s+SERVER\s+CA$/);
    expect(lines.find((l) => l.includes('two'))).toMatch(/^\*\s+two/);
    expect(lines.find((l) => l.includes('one'))).toMatch(/^\s+one/);
    expect(r.stdout).not.toContain('gft_');
    const json = JSON.parse((await run(['context', 'ls', '-o', 'json'])).stdout);
    expect(json.current).toBe('two');
    expect(JSON.stringify(json)).not.toContain('gft_');
  });

  it('switches the current context', async () => {
    expect((await run(['context', 'use', 'one'])).code).toBe(0);
    expect(loadConfig(path()).current).toBe('one');
    const bad = await run(['context', 'use', 'three']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe("error: no context named 'three' (see `gpufleet context ls`)\n");
  });

  it('logs out of the current context, then of a named one', async () => {
    expect((await run(['logout'])).stdout).toBe('logged out of context two\n');
    expect(loadConfig(path())).toEqual({ current: null, contexts: { one: { server: api.url, token: 'gft_good_token' } } });
    expect((await run(['logout', 'one'])).code).toBe(0);
    const none = await run(['logout']);
    expect(none.code).toBe(2);
    expect(none.stderr).toBe('error: not logged in to any context\n');
  });
});
