import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PromoteResult } from '@gpufleet/protocol';
import { runCli } from '../cli.js';
import { captureIo } from '../testing/capture-io.js';
import { FakeRunApi } from '../testing/fake-run-api.js';

const ID = 'did:key:z6MkPromoteCli';
const RESULT: PromoteResult = {
  nodeId: ID,
  hostname: 'gpu-07',
  mode: 'agent',
  tookMs: 8_230,
  steps: [
    { step: 'token', detail: 'single-use join token abc, expires in 5m', tookMs: 4 },
    { step: 'agent-check', detail: 'gpufleet-agent 0.12.0 found', tookMs: 310 },
    { step: 'node-key', detail: 'written to /var/lib/gpufleet-agent/node.key (0600)', tookMs: 90 },
    { step: 'join', detail: `joined as ${ID}`, tookMs: 1_200 },
    { step: 'start', detail: 'started in the background', tookMs: 1_100 },
    { step: 'session', detail: 'the agent holds a session with the server', tookMs: 5_400 },
    { step: 'finish', detail: "mode agent; the server's copy of the node key deleted", tookMs: 12 },
  ],
};
let api: FakeRunApi;

beforeEach(async () => {
  api = await new FakeRunApi().start();
  api.json.set('POST /api/v1/ssh-hosts/gpu-07/promote', () => ({ body: RESULT }));
  api.json.set('POST /api/v1/ssh-hosts/gpu-08/promote', () => ({
    status: 412,
    body: {
      error: {
        code: 'failed_precondition',
        message: "promote of gpu-08 failed at step 'install': gpufleet-agent is not installed on gpu-08: give an install command",
      },
    },
  }));
});
afterEach(() => api.close());

async function run(argv: string[]) {
  const io = captureIo({ columns: 100 });
  const code = await runCli(['--server', api.url, '--token', 'gft_t_s', ...argv], io, { now: () => 0 });
  return { code, stdout: io.stdout, stderr: io.stderr };
}
const posts = () => api.requests.filter((r) => r.method === 'POST').map((r) => ({ path: r.path, body: r.body }));

describe('gpufleet nodes promote', () => {
  it('sends the install command, reason and timeout; a progress line per step on stderr, the result on stdout', async () => {
    const r = await run([
      'nodes',
      'promote',
      'gpu-07',
      '--install-command',
      'apt-get install -y gpufleet-agent',
      '--reason',
      'agent features',
      '--timeout',
      '10m',
    ]);
    expect(r.code).toBe(0);
    expect(posts()).toEqual([
      { path: '/api/v1/ssh-hosts/gpu-07/promote', body: { timeout: '10m', installCommand: 'apt-get install -y gpufleet-agent', reason: 'agent features' } },
    ]);
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toMatch(/^promoting gpu-07 \(up to 10m\): token, agent check/);
    expect(lines.slice(1).map((l) => l.trim().split(/\s+/)[0])).toEqual(['token', 'agent-check', 'node-key', 'join', 'start', 'session', 'finish']);
    expect(lines[2]).toContain('gpufleet-agent 0.12.0 found (310ms)');
    expect(r.stdout).toBe(`gpu-07 (${ID}) is an agent host now: MODE agent, in 8.2s\n`);
  });

  it('-o json prints the result; the default timeout is 5m', async () => {
    const r = await run(['nodes', 'promote', 'gpu-07', '-o', 'json']);
    expect(JSON.parse(r.stdout)).toEqual(RESULT);
    expect(posts()[0]?.body).toEqual({ timeout: '5m' });
  });

  it("says the server's refusal with the failed step", async () => {
    const r = await run(['nodes', 'promote', 'gpu-08']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("failed at step 'install'");
  });

  it.each([
    [['--timeout', 'soon'], /--timeout 'soon' is not a duration/],
    [['--timeout', '5s'], /--timeout '5s' must be from 10s to 1h/],
    [['--timeout', '2h'], /must be from 10s to 1h/],
    [['--install-command', '  '], /--install-command is empty/],
  ])('refuses bad flags before any request (%s)', async (flags, message) => {
    const r = await run(['nodes', 'promote', 'gpu-07', ...flags]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(posts()).toEqual([]);
  });

  it('needs a node', async () => {
    const r = await run(['nodes', 'promote']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/missing required argument 'node'/);
  });
});
