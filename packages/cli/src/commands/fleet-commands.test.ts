import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FleetGpuRow, NodeView } from '@gpufleet/protocol';
import { runCli } from '../cli.js';
import { captureIo, type CaptureOptions } from '../testing/capture-io.js';
import { startFakeApi, type FakeApi } from '../testing/fake-api.js';
import { sampleGpu, sampleNode } from '../testing/sample-node.js';

const NOW = Date.UTC(2025, 0, 1, 12, 0, 0);
const node1 = sampleNode({ now: NOW });
const node2 = sampleNode({
  now: NOW,
  id: 'did:key:z6MkpTHR8VNsBxYAAWHut2Geadd9jSwuBV8xRoAnwWsdvktH',
  hostname: 'amd-node-02',
  status: 'OFFLINE',
  connected: false,
  lastSeenAt: new Date(NOW - 2 * 3_600_000).toISOString(),
  labels: { 'gpu.model': 'MI300X' },
  userLabels: {},
  gpus: [sampleGpu(0, { name: 'AMD Instinct MI300X', temperatureC: 81 }), sampleGpu(1, { name: 'AMD Instinct MI300X', utilizationPct: null })],
});
const gpuRows: FleetGpuRow[] = node1.gpus
  .slice(0, 2)
  .map((gpu) => ({ nodeId: node1.id, hostname: node1.hostname, nodeStatus: 'READY', gpu, health: 'healthy' }));
const joinToken = {
  id: 'jt_1',
  description: '',
  labels: { region: 'eu' },
  reusable: true,
  needsApproval: false,
  createdAt: new Date(NOW).toISOString(),
  expiresAt: new Date(NOW + 24 * 3_600_000).toISOString(),
  revokedAt: null,
  uses: 0,
  state: 'active',
};

let api: FakeApi;
beforeAll(async () => {
  const byRef = (ref: string): NodeView | undefined => [node1, node2].find((n) => n.hostname === ref || n.id.startsWith(ref));
  const found = (ref: string) => {
    const n = byRef(ref);
    return n ? { body: n } : { status: 404, body: { error: { code: 'not_found', message: `no node matches '${ref}'` } } };
  };
  api = await startFakeApi({
    'GET /api/v1/nodes': () => ({ body: { items: [node1, node2], total: 5 } }),
    'GET /api/v1/nodes/gpu-node-01': () => found('gpu-node-01'),
    'GET /api/v1/nodes/amd-node-02': () => found('amd-node-02'),
    'PATCH /api/v1/nodes/gpu-node-01/labels': (req) => ({ body: { ...node1, userLabels: { ...(req.body as { set?: Record<string, string> }).set } } }),
    'POST /api/v1/nodes/gpu-node-01/cordon': () => ({ body: { ...node1, status: 'CORDONED' } }),
    [`DELETE /api/v1/nodes/${node1.id}`]: () => ({ status: 204 }),
    'GET /api/v1/gpus': () => ({ body: { items: gpuRows } }),
    'POST /api/v1/join-tokens': () => ({ status: 201, body: { ...joinToken, token: 'gfj1.eyJzZWNyZXQiOjF9' } }),
    'GET /api/v1/join-tokens': () => ({ body: { items: [joinToken] } }),
  });
});
afterAll(() => api.close());

async function run(argv: string[], opts: CaptureOptions = {}) {
  const io = captureIo({ columns: 200, ...opts });
  const code = await runCli([...argv, '--server', api.url, '--token', 'gft_t_s'], io, { now: () => NOW });
  return { code, stdout: io.stdout, stderr: io.stderr, io };
}

describe('nodes', () => {
  it('ls prints one row per node with GPU summary, utilization, hottest GPU and last seen', async () => {
    const r = await run(['nodes', 'ls']);
    expect(r.code).toBe(0);
    const [head, row1, row2] = r.stdout.trimEnd().split('\n');
    expect(head).toMatch(/^NAME\s+ID\s+STATUS\s+MODE\s+GPUS\s+GPU UTIL\s+TEMP\s+LAST SEEN$/);
    // 8 H100s: utilization 0,10,...,70 -> mean 35; temperatures 50..57 -> max 57.
    expect(row1).toMatch(/^gpu-node-01\s+did:key:z6MkhaXg\s+READY\s+agent\s+8x H100 80GB HBM3\s+35%\s+57°C\s+3m ago$/);
    expect(row2).toMatch(/^amd-node-02\s+did:key:z6MkpTHR\s+OFFLINE\s+agent\s+2x Instinct MI300X\s+0%\s+81°C\s+2h ago$/);
    expect(r.stderr).toBe('showing 2 of 5 nodes: use --limit to see more\n');
  });

  it('ls -o wide adds labels; -o yaml prints the list', async () => {
    const wide = await run(['nodes', 'ls', '-o', 'wide']);
    expect(wide.stdout.split('\n')[0]).toMatch(/AGENT\s+LABELS$/);
    expect(wide.stdout).toContain('gpu.model=H100,hostname=gpu-node-01,region=eu');
    const yaml = await run(['nodes', 'ls', '-o', 'yaml']);
    expect(yaml.stdout).toMatch(/^items:\n/);
    expect(yaml.stdout).toContain('total: 5');
  });

  it('get shows facts, labels and a GPU table', async () => {
    const r = await run(['nodes', 'get', 'gpu-node-01']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Name:\s+gpu-node-01$/m);
    expect(r.stdout).toMatch(/^Status:\s+READY \(connected\)$/m);
    expect(r.stdout).toMatch(/^Labels:\s+gpu.model=H100,hostname=gpu-node-01,region=eu$/m);
    expect(r.stdout).toMatch(/^User labels:\s+region=eu$/m);
    expect(r.stdout).toContain('GPUs (8):');
    expect(r.stdout).toMatch(/^\s+7\s+H100 80GB HBM3\s+8\/80 GiB\s+70%\s+57°C\s+450\/700 W\s+READY\s+healthy$/m);
    expect(r.stdout).toMatch(/^Health:\s+healthy$/m);
  });

  it('get of an unknown node is one line from the server, exit 1', async () => {
    const r = await run(['nodes', 'get', 'nope']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('error: no route GET /api/v1/nodes/nope\n');
  });

  it('label sends set and remove', async () => {
    const r = await run(['nodes', 'label', 'gpu-node-01', 'rack=r12', 'team-']);
    expect(r.code).toBe(0);
    expect(api.requests.at(-1)!.body).toEqual({ set: { rack: 'r12' }, remove: ['team'] });
    expect(r.stdout).toBe('node gpu-node-01 labeled: rack=r12\n');
  });

  it('cordon sends the reason', async () => {
    const r = await run(['nodes', 'cordon', 'gpu-node-01', '--reason', 'fan noise']);
    expect(r.code).toBe(0);
    expect(api.requests.at(-1)!.body).toEqual({ reason: 'fan noise' });
    expect(r.stdout).toBe('node gpu-node-01 cordoned\n');
  });

  it('rm needs --yes off a terminal, asks on one, and deletes by full id', async () => {
    const refused = await run(['nodes', 'rm', 'gpu-node-01']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe('error: removing node gpu-node-01 needs --yes when not run from a terminal\n');
    expect(api.requests.some((q) => q.method === 'DELETE')).toBe(false);

    const declined = await run(['nodes', 'rm', 'gpu-node-01'], { stdinIsTty: true, answers: [false] });
    expect(declined.code).toBe(0);
    expect(declined.stderr).toBe('nothing removed\n');
    expect(api.requests.some((q) => q.method === 'DELETE')).toBe(false);

    const done = await run(['nodes', 'rm', 'gpu-node-01', '--yes']);
    expect(done.code).toBe(0);
    expect(api.requests.at(-1)).toMatchObject({ method: 'DELETE', path: `/api/v1/nodes/${node1.id}` });
    expect(done.stdout).toBe(`node gpu-node-01 removed (${node1.id})\n`);
  });
});

describe('gpus and tokens', () => {
  it('gpus ls prints node, index, model, memory, util, temp, power and health', async () => {
    const r = await run(['gpus', 'ls', '-l', 'gpu.model=H100']);
    expect(r.code).toBe(0);
    const [head, row0] = r.stdout.trimEnd().split('\n');
    expect(head).toMatch(/^NODE\s+INDEX\s+MODEL\s+MEMORY\s+UTIL\s+TEMP\s+POWER\s+HEALTH$/);
    expect(row0).toMatch(/^gpu-node-01\s+0\s+H100 80GB HBM3\s+1\/80 GiB\s+0%\s+50°C\s+100\/700 W\s+healthy$/);
    expect(api.requests.at(-1)!.query).toEqual({ selector: 'gpu.model=H100', limit: '10000', offset: '0' });
  });

  it('gpus ls asks for pages until it has every GPU the server counts', async () => {
    const paged = await startFakeApi({
      // One row per page, 25,000 counted: pages at offsets 0, 10,000 and 20,000.
      'GET /api/v1/gpus': (req) => ({
        body: { items: [{ ...gpuRows[0], gpu: { ...gpuRows[0]!.gpu, index: Number(req.query.offset) / 10_000 } }], total: 25_000 },
      }),
    });
    try {
      const io = captureIo({ columns: 200 });
      const code = await runCli(['gpus', 'ls', '-o', 'json', '--server', paged.url, '--token', 'gft_t_s'], io, { now: () => NOW });
      expect(code, io.stderr).toBe(0);
      expect(paged.requests.map((r) => r.query)).toEqual([
        { limit: '10000', offset: '0' },
        { limit: '10000', offset: '10000' },
        { limit: '10000', offset: '20000' },
      ]);
      const out = JSON.parse(io.stdout) as { items: Array<{ gpu: { index: number } }>; total: number };
      expect(out.items.map((r) => r.gpu.index)).toEqual([0, 1, 2]);
      expect(out.total).toBe(3);
    } finally {
      await paged.close();
    }
  });

  it('tokens create sends the options and prints the token and the join command', async () => {
    const r = await run([
      'tokens',
      'create',
      '--labels',
      'region=eu,rack=r1',
      '--label',
      'tier=spot',
      '--reusable',
      '--expires',
      '24h',
      '--needs-approval',
      '--description',
      'lab',
    ]);
    expect(r.code).toBe(0);
    expect(api.requests.at(-1)!.body).toEqual({
      labels: { region: 'eu', rack: 'r1', tier: 'spot' },
      reusable: true,
      needsApproval: true,
      expiresIn: '24h',
      description: 'lab',
    });
    expect(r.stdout).toContain('\n  gfj1.eyJzZWNyZXQiOjF9\n');
    expect(r.stdout).toContain('\n  gpufleet-agent join gfj1.eyJzZWNyZXQiOjF9\n');
    const json = JSON.parse((await run(['tokens', 'create', '-o', 'json'])).stdout);
    expect(json.joinCommand).toBe('gpufleet-agent join gfj1.eyJzZWNyZXQiOjF9');
    expect(api.requests.at(-1)!.body).toEqual({});
  });

  it('tokens ls shows state, uses and expiry', async () => {
    const r = await run(['tokens', 'ls']);
    expect(r.stdout.trimEnd().split('\n')[1]).toMatch(/^jt_1\s+active\s+region=eu\s+0\s+auto\s+in 1d\s+-$/);
  });
});

describe('top', () => {
  it('prints one fleet frame and exits when stdout is not a terminal', async () => {
    const r = await run(['top'], { columns: 120 });
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('\x1b[');
    expect(r.stdout).toMatch(/2 nodes \(1 OFFLINE, 1 READY\)\s+10 GPUs/);
    expect(r.stdout).toMatch(/gpu-node-01\s+READY\s+8x H100 80GB HBM3\s+█+░+\s+35%/);
    for (const line of r.stdout.trimEnd().split('\n')) expect([...line].length).toBeLessThanOrEqual(120);
  });

  it('prints one node with a row per GPU', async () => {
    const r = await run(['top', 'gpu-node-01'], { columns: 140 });
    expect(r.code).toBe(0);
    const rows = r.stdout.split('\n').filter((l) => /^\s*\d+\s+H100/.test(l));
    expect(rows).toHaveLength(8);
    expect(rows[7]).toContain('70%');
    expect(rows[7]).toContain('450/700 W');
  });

  it('redraws on a terminal until interrupted, then restores the cursor', async () => {
    const io = captureIo({ columns: 120, rows: 40, stdoutIsTty: true });
    const done = runCli(['top', '--interval', '1', '--server', api.url, '--token', 'gft_t_s'], io, { now: () => NOW });
    await new Promise((r) => setTimeout(r, 1300));
    io.interrupt('q');
    expect(await done).toBe(0);
    expect(io.stdout.split('\x1b[H\x1b[2J').length - 1).toBeGreaterThanOrEqual(2);
    expect(io.stdout.endsWith('\x1b[?25h')).toBe(true);
  });
});
