import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli.js';
import { captureIo } from '../testing/capture-io.js';
import { startFakeApi, type FakeApi } from '../testing/fake-api.js';

const NOW = Date.UTC(2025, 0, 1, 12, 0, 0);
const created = {
  id: 'jt_1',
  description: '',
  labels: {},
  reusable: false,
  needsApproval: false,
  createdAt: new Date(NOW).toISOString(),
  expiresAt: null,
  revokedAt: null,
  uses: 0,
  state: 'active',
  token: 'gfj1.eyJzZWNyZXQiOjF9',
};

let api: FakeApi;
beforeAll(async () => {
  api = await startFakeApi({ 'POST /api/v1/join-tokens': () => ({ status: 201, body: created }) });
});
afterAll(() => api.close());

async function run(argv: string[]) {
  const before = api.requests.length;
  const io = captureIo({ columns: 200 });
  const code = await runCli([...argv, '--server', api.url, '--token', 'gft_t_s'], io, { now: () => NOW });
  return { code, stdout: io.stdout, stderr: io.stderr, requests: api.requests.slice(before) };
}

describe('tokens create --server-urls', () => {
  it('sends every replica URL in the order given', async () => {
    const r = await run(['tokens', 'create', '--server-urls', 'https://cp-a:7420, https://cp-b:7421/gpufleet']);
    expect(r.code).toBe(0);
    expect(r.requests).toHaveLength(1);
    expect(r.requests[0]!.body).toEqual({ serverUrls: ['https://cp-a:7420', 'https://cp-b:7421/gpufleet'] });
  });

  it.each([
    ['an empty entry', 'https://cp-a:7420,,https://cp-b:7421', /entry #2 is empty/],
    ['a trailing comma', 'https://cp-a:7420,', /entry #2 is empty/],
    ['nothing at all', '', /entry #1 is empty/],
    ['a URL without a scheme', 'cp-a:7420', /'cp-a:7420' needs a scheme, e\.g\. https:\/\/cp-a:7420/],
    ['an ftp URL', 'https://cp-a:7420,ftp://cp-b', /'ftp:\/\/cp-b' is not an http or https URL/],
    ['a URL that does not parse', 'https://cp a:7420', /'https:\/\/cp a:7420' is not a URL/],
    ['the same URL twice', 'https://cp-a:7420,https://cp-a:7420/', /#2 .* is listed twice/],
    ['17 URLs', Array.from({ length: 17 }, (_, i) => `https://cp-${i}:7420`).join(','), /at most 16 server URLs, got 17/],
  ])('refuses %s before any request', async (_name, value, message) => {
    const r = await run(['tokens', 'create', '--server-urls', value]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: --server-urls: /);
    expect(r.stderr).toMatch(message);
    expect(r.requests).toEqual([]);
  });

  it('shows the option with an example in --help', async () => {
    const r = await run(['tokens', 'create', '--help']);
    expect(r.stdout).toContain('--server-urls <url,...>');
    expect(r.stdout).toMatch(/Examples:[\s\S]*--server-urls https:\/\/cp-a:7420,https:\/\/cp-b:7420/);
  });
});
