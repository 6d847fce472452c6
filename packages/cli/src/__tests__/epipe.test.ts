import { spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sampleNode } from '../testing/sample-node.js';
import { startFakeApi, type FakeApi } from '../testing/fake-api.js';

const CLI_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const REPO = resolve(CLI_DIR, '../../..');

let api: FakeApi;

beforeAll(async () => {
  // Enough rows that the table is far bigger than a pipe's buffer: writes go on after head left.
  const items = Array.from({ length: 3000 }, (_, i) =>
    sampleNode({ id: `did:key:z6Mk${String(i).padStart(40, 'x')}`, hostname: `gpu-${String(i).padStart(5, '0')}` }),
  );
  api = await startFakeApi({ 'GET /api/v1/nodes': () => ({ body: { items, total: items.length } }) });
});
afterAll(() => api.close());

/** Runs `gpufleet ARGS | head -n 1` in a shell, the CLI from its sources through tsx. */
function pipeToHead(args: string): Promise<{ status: number | null; stdout: string; stderr: string; cliStatus: string }> {
  const cli = `${JSON.stringify(process.execPath)} --import tsx ${JSON.stringify(resolve(CLI_DIR, 'main.ts'))}`;
  // PIPESTATUS is bash's: the CLI's own exit status, not head's.
  const script = `${cli} ${args} | head -n 1; echo "cli-status=\${PIPESTATUS[0]}"`;
  return new Promise((done, fail) => {
    const child = spawn('bash', ['-c', script], { cwd: REPO, env: { ...process.env, GPUFLEET_TOKEN: 'gft_test_secret' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', fail);
    child.on('close', (status) => done({ status, stdout, stderr, cliStatus: /cli-status=(\d+)/.exec(stdout)?.[1] ?? '?' }));
  });
}

describe('output piped to a reader that leaves early', () => {
  it('`nodes ls | head -n 1` prints the header and no EPIPE error', async () => {
    const r = await pipeToHead(`nodes ls -o wide --server ${api.url}`);
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n')[0]).toMatch(/^NAME|^HOSTNAME|^ID|^NODE/);
    expect(r.cliStatus).toBe('0');
  }, 60_000);
});
