import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FleetGpuRow } from '@gpufleet/protocol';
import { runCli } from '../cli.js';
import { captureIo, type CaptureOptions, type CapturedIo } from '../testing/capture-io.js';
import { allocOf, FakeWorkloadApi } from '../testing/fake-workload-api.js';
import { sampleNode } from '../testing/sample-node.js';
import { lastLines, type AllocLogItem } from '../workloads/alloc-logs.js';

const NOW = Date.UTC(2025, 5, 1, 12, 5, 0);
let api: FakeWorkloadApi;

beforeEach(async () => {
  api = await new FakeWorkloadApi().start();
});
afterEach(() => api.close());

async function run(argv: string[], opts: CaptureOptions = {}, io: CapturedIo = captureIo({ columns: 200, ...opts })) {
  const code = await runCli(['--server', api.url, '--token', 'gft_t_s', ...argv], io, { now: () => NOW });
  return { code, stdout: io.stdout, stderr: io.stderr, io };
}

const web0 = allocOf(0, { id: 'alloc_web0_abcdefgh' });
const item = (id: number, data: string, stream: 'stdout' | 'stderr' = 'stdout'): AllocLogItem => ({
  id,
  stream,
  chunk: id,
  data,
  at: '2025-06-01T12:00:00.000Z',
});

describe('gpufleet allocs ls', () => {
  it('asks for active allocations by default and lists them as job/name with node, GPUs, status, health, restarts and age', async () => {
    api.json.set('GET /api/v1/allocations', () => ({
      body: { items: [web0, allocOf(1, { job: 'train', name: 'worker-1', status: 'restarting', healthy: false, restarts: 4, gpus: [] })] },
    }));
    const r = await run(['allocs', 'ls']);
    expect(r.code).toBe(0);
    expect(api.requests[0]!.query).toEqual({ active: 'true' });
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ALLOC\s+NODE\s+GPUS\s+STATUS\s+HEALTH\s+RESTARTS\s+AGE$/);
    expect(lines[1]).toMatch(/^llama\/web-0\s+gpu-node-01\s+0:0f2a1c3e\s+running\s+-\s+0\s+5m$/);
    expect(lines[2]).toMatch(/^train\/worker-1\s+gpu-node-02\s+-\s+restarting\s+unhealthy\s+4\s+5m$/);
  });

  it('passes the filters: a checked selector, job, node; --all drops the active filter', async () => {
    api.json.set('GET /api/v1/allocations', () => ({ body: { items: [web0] } }));
    const r = await run(['allocs', 'ls', '-l', 'gpu.model = H100', '--job', 'llama', '--node', 'gpu-node-01', '--all', '-o', 'json']);
    expect(r.code).toBe(0);
    expect(api.requests[0]!.query).toEqual({ selector: 'gpu.model=H100', job: 'llama', node: 'gpu-node-01' });
    expect(JSON.parse(r.stdout).items[0].id).toBe(web0.id);
  });

  it('-o wide adds the version, id and message', async () => {
    api.json.set('GET /api/v1/allocations', () => ({ body: { items: [{ ...web0, message: 'pulling image' }] } }));
    const r = await run(['allocs', 'ls', '-o', 'wide']);
    expect(r.stdout).toMatch(/VERSION\s+ID\s+MESSAGE\n/);
    expect(r.stdout).toMatch(/1\s+alloc_web0_abcdefgh\s+pulling image\n/);
  });

  it('says when nothing matches', async () => {
    api.json.set('GET /api/v1/allocations', () => ({ body: { items: [] } }));
    const r = await run(['allocs', 'ls']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('no active allocations match (--all shows those that ended)');
  });

  it.each([
    [['allocs', 'ls', '-l', 'gpu.model in H100'], 'error: '],
    [['allocs', 'ls', '--job', 'Not A Job'], "error: --job 'Not A Job' is not a job name"],
    [['allocs', 'ls', '--node', ' '], 'error: --node needs a node id'],
    [['allocs', 'ls', '--bogus'], "error: unknown option '--bogus'"],
  ])('refuses %j before asking (exit 2)', async (argv, message) => {
    const r = await run(argv);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    expect(api.requests).toHaveLength(0);
  });
});

describe('gpufleet allocs status', () => {
  it('finds JOB/NAME through the job and an id directly, and prints node, GPUs with UUIDs, state and history', async () => {
    const alloc = {
      ...web0,
      restarts: 1,
      message: 'restarted after exit 137',
      replaces: 'alloc_web0_older000',
      gpus: [{ index: 3, uuid: 'GPU-8f2a1c3e-7d4b-4c1e-9a2b-0123456789ab', name: 'NVIDIA H100 80GB HBM3' }],
    };
    api.json.set('GET /api/v1/jobs/llama/allocations/web-0', () => ({ body: alloc }));
    api.json.set(`GET /api/v1/allocations/${web0.id}`, () => ({ body: alloc }));
    const r = await run(['allocs', 'status', 'llama/web-0']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Allocation:  llama/web-0\nID:          alloc_web0_abcdefgh\nJob:         llama version 1, group web #0\n');
    expect(r.stdout).toContain('Node:        gpu-node-01 (did:key:z6MkHost0)\nStatus:      running (wanted: run)\nHealth:      -\nRestarts:    1\n');
    expect(r.stdout).toContain('Message:     restarted after exit 137\nReplaces:    alloc_web0_older000\n');
    expect(r.stdout).toContain('GPUs:\n  3  GPU-8f2a1c3e-7d4b-4c1e-9a2b-0123456789ab  NVIDIA H100 80GB HBM3\n');
    const byId = await run(['allocs', 'status', web0.id, '-o', 'json']);
    expect(JSON.parse(byId.stdout).id).toBe(web0.id);
  });

  it('refuses a reference that is neither JOB/NAME nor an id (exit 2), and shows a 404', async () => {
    for (const ref of ['llama/', 'llama/web', 'Llama/web-0', 'a b', 'short']) {
      const r = await run(['allocs', 'status', ref]);
      expect(r.code, ref).toBe(2);
      expect(r.stderr).toMatch(/is not JOB\/NAME such as llama\/web-0|is neither JOB\/NAME/);
    }
    expect(api.requests).toHaveLength(0);
    api.json.set('GET /api/v1/jobs/llama/allocations/web-9', () => ({
      status: 404,
      body: { error: { code: 'not_found', message: 'job llama has no allocation web-9' } },
    }));
    const r = await run(['allocs', 'status', 'llama/web-9']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('error: job llama has no allocation web-9\n');
  });
});

describe('gpufleet allocs logs', () => {
  beforeEach(() => {
    api.json.set('GET /api/v1/jobs/llama/allocations/web-0', () => ({ body: web0 }));
  });

  it('prints stored output, stdout to stdout and stderr to stderr, reading every page', async () => {
    const pages = [
      Array.from({ length: 5000 }, (_, i) => item(i + 1, i === 0 ? 'loading model\n' : '')),
      [item(5001, 'warning: slow\n', 'stderr'), item(5002, 'ready\n')],
    ];
    api.json.set(`GET /api/v1/allocations/${web0.id}/logs`, (req) => ({ body: { items: req.query.after === '0' ? pages[0] : pages[1] } }));
    const r = await run(['allocs', 'logs', 'llama/web-0']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('loading model\nready\n');
    expect(r.stderr).toBe('warning: slow\n');
    expect(api.requests.filter((q) => q.path.endsWith('/logs')).map((q) => q.query)).toEqual([
      { after: '0', limit: '5000' },
      { after: '5000', limit: '5000' },
    ]);
  });

  it('--tail keeps the last lines, joining pieces of a line', async () => {
    api.json.set(`GET /api/v1/allocations/${web0.id}/logs`, () => ({
      body: { items: [item(1, 'one\ntwo\nthr'), item(2, 'ee\nfour\n'), item(3, 'oops\n', 'stderr')] },
    }));
    const r = await run(['allocs', 'logs', 'llama/web-0', '--tail', '2']);
    expect(r.stdout).toBe('four\n');
    expect(r.stderr).toBe('oops\n');
    const three = await run(['allocs', 'logs', 'llama/web-0', '--tail', '3']);
    expect(three.stdout).toBe('three\nfour\n');
  });

  it('escapes terminal controls on a terminal and keeps the bytes when piped', async () => {
    api.json.set(`GET /api/v1/allocations/${web0.id}/logs`, () => ({ body: { items: [item(1, '\u001b[31mred\u001b[0m \u001b]52;c;ZXZpbA==\u0007\n')] } }));
    const tty = await run(['allocs', 'logs', 'llama/web-0'], { stdoutIsTty: true });
    expect(tty.stdout).toBe('\u001b[31mred\u001b[0m \\x1b]52;c;ZXZpbA==\\x07\n');
    const piped = await run(['allocs', 'logs', 'llama/web-0']);
    expect(piped.stdout).toBe('\u001b[31mred\u001b[0m \u001b]52;c;ZXZpbA==\u0007\n');
  });

  it('says when there is no output; -o json gives the stored pieces', async () => {
    api.json.set(`GET /api/v1/allocations/${web0.id}/logs`, () => ({ body: { items: [] } }));
    const r = await run(['allocs', 'logs', 'llama/web-0']);
    expect(r.stderr).toBe('no output from llama/web-0 (running)\n');
    api.json.set(`GET /api/v1/allocations/${web0.id}/logs`, () => ({ body: { items: [item(1, 'a\n'), item(2, 'b\n')] } }));
    const json = await run(['allocs', 'logs', 'llama/web-0', '-o', 'json', '--tail', '1']);
    expect(JSON.parse(json.stdout).items).toEqual([item(2, 'b\n')]);
  });

  it('-f follows the live stream after what was stored, once per piece, until the allocation ends', async () => {
    api.json.set(`GET /api/v1/allocations/${web0.id}/logs`, () => ({ body: { items: [item(1, 'stored\n')] } }));
    api.streams.set(`GET /api/v1/allocations/${web0.id}/logs/stream`, [
      { event: 'output', data: item(1, 'stored\n') },
      { event: 'output', data: item(2, 'live\n') },
      { event: 'output', data: item(3, 'err\n', 'stderr') },
      { event: 'end', data: { status: 'complete' } },
    ]);
    const r = await run(['allocs', 'logs', 'llama/web-0', '-f']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('stored\nlive\n');
    expect(r.stderr).toBe('err\nllama/web-0 ended\n');
    expect(api.requests.find((q) => q.path.endsWith('/stream'))!.query).toEqual({ after: '1' });
  });

  it('-f reconnects after a cut stream, asking for what came after the last piece printed', async () => {
    api.json.set(`GET /api/v1/allocations/${web0.id}/logs`, () => ({ body: { items: [] } }));
    api.streamSequences.set(`GET /api/v1/allocations/${web0.id}/logs/stream`, [
      // The ping only makes sure the piece before it was read before the cut.
      [{ event: 'output', data: item(1, 'a\n') }, { event: 'ping', data: {} }, { cut: true }],
      [
        { event: 'output', data: item(1, 'a\n') },
        { event: 'output', data: item(2, 'b\n') },
        { event: 'end', data: {} },
      ],
    ]);
    const r = await run(['allocs', 'logs', 'llama/web-0', '-f']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('a\nb\n');
    expect(r.stderr).toContain('ended early; reconnecting');
    expect(api.requests.filter((q) => q.path.endsWith('/stream')).map((q) => q.query.after)).toEqual(['0', '1']);
  });

  it('-f stops on Ctrl-C', async () => {
    let io: CapturedIo | null = null;
    api.json.set(`GET /api/v1/allocations/${web0.id}/logs`, () => ({ body: { items: [] } }));
    api.streams.set(`GET /api/v1/allocations/${web0.id}/logs/stream`, [{ event: 'output', data: item(1, 'tick\n') }, { waitFor: 'POST /never' }]);
    io = captureIo({ columns: 200 });
    const following = run(['allocs', 'logs', 'llama/web-0', '-f'], {}, io);
    await expect.poll(() => io!.stdout).toBe('tick\n');
    io.interrupt();
    const r = await following;
    expect(r.code).toBe(0);
  });

  it('-f on an allocation that has ended prints what is stored and says so; -f with -o json is refused', async () => {
    api.json.set('GET /api/v1/jobs/llama/allocations/web-1', () => ({ body: allocOf(1, { status: 'failed' }) }));
    api.json.set('GET /api/v1/allocations/alloc_web1_0000000000/logs', () => ({ body: { items: [item(1, 'bye\n')] } }));
    const r = await run(['allocs', 'logs', 'llama/web-1', '-f']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('bye\n');
    expect(r.stderr).toBe('llama/web-1 has ended (failed); nothing more will come\n');
    const before = api.requests.length;
    const json = await run(['allocs', 'logs', 'llama/web-0', '-f', '-o', 'json']);
    expect(json.code).toBe(2);
    expect(api.requests).toHaveLength(before);
    expect(json.stderr).toContain('--follow prints output as it comes; it does not go with -o json or yaml');
  });

  it('refuses a bad --tail (exit 2)', async () => {
    for (const tail of ['-1', 'ten', '1.5']) {
      const r = await run(['allocs', 'logs', 'llama/web-0', '--tail', tail]);
      expect(r.code, tail).toBe(2);
    }
    expect(api.requests).toHaveLength(0);
  });
});

describe('lastLines', () => {
  it('keeps the order of lines across both streams and counts a partial last line', () => {
    const items = [item(1, 'a\nb'), item(2, 'x\n', 'stderr'), item(3, 'c\nd')];
    expect(lastLines(items, 10)).toEqual([
      { stream: 'stdout', text: 'a\n' },
      { stream: 'stdout', text: 'bc\n' },
      { stream: 'stderr', text: 'x\n' },
      { stream: 'stdout', text: 'd' },
    ]);
    expect(lastLines(items, 1)).toEqual([{ stream: 'stdout', text: 'd' }]);
    expect(lastLines(items, 0)).toEqual([]);
  });
});

describe('gpufleet gpus ls ALLOC column', () => {
  const node = sampleNode({ now: NOW });
  const rows = (withAllocations: boolean): Array<FleetGpuRow & { allocation?: unknown }> =>
    node.gpus.slice(0, 2).map((gpu, i) => ({
      nodeId: node.id,
      hostname: node.hostname,
      nodeStatus: 'READY',
      gpu,
      health: 'healthy',
      ...(withAllocations ? { allocation: i === 0 ? { id: web0.id, job: 'llama', name: 'web-0' } : null } : {}),
    }));

  it('shows which allocation holds each GPU, and stays within 120 columns', async () => {
    api.json.set('GET /api/v1/gpus', () => ({ body: { items: rows(true) } }));
    const r = await run(['gpus', 'ls'], {}, captureIo({ columns: undefined }));
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NODE\s+INDEX\s+MODEL\s+MEMORY\s+UTIL\s+TEMP\s+POWER\s+HEALTH\s+ALLOC$/);
    expect(lines[1]).toMatch(/\s+healthy\s+llama\/web-0$/);
    expect(lines[2]).toMatch(/\s+healthy\s+-$/);
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(120);
    const narrow = await run(['gpus', 'ls'], {}, captureIo({ columns: 80 }));
    for (const line of narrow.stdout.trimEnd().split('\n')) expect(line.length).toBeLessThanOrEqual(80);
  });

  it('leaves ALLOC out for a server that reports no allocations', async () => {
    api.json.set('GET /api/v1/gpus', () => ({ body: { items: rows(false) } }));
    const r = await run(['gpus', 'ls']);
    expect(r.stdout.split('\n')[0]).toMatch(/\s+HEALTH$/);
  });
});
