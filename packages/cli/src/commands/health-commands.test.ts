import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeView, TimelineEntry } from '@gpufleet/protocol';
import { runCli } from '../cli.js';
import { captureIo } from '../testing/capture-io.js';
import { startFakeApi, type FakeApi } from '../testing/fake-api.js';
import { sampleGpu, sampleNode } from '../testing/sample-node.js';
import { parseNodeGpu } from './health.js';
import { shortGpu } from './events.js';

const NOW = Date.UTC(2025, 0, 1, 12, 0, 0);
const health = { verdict: 'healthy', rule: null, cause: null, since: null };
const gpu = (i: number, state = 'READY') => ({ ...sampleGpu(i), state, stateChange: null, health });
const node = (over: Partial<NodeView> = {}): NodeView =>
  sampleNode({ now: NOW, gpus: [gpu(0), gpu(1), gpu(2)] as never, statusChange: null, health: { ...health, findings: [] }, ...over } as never);

const events: TimelineEntry[] = [
  {
    id: 'h:2',
    source: 'health',
    at: new Date(NOW - 60_000).toISOString(),
    nodeId: 'did:key:z6Mkh',
    hostname: 'gpu-node-01',
    gpu: 'GPU-00000002-aaaa-bbbb-cccc-000000000000',
    kind: 'verdict',
    code: 79,
    message: 'xid-gpu-reset-required: healthy -> unhealthy: XID 79 (GPU has fallen off the bus; NVIDIA: RESTART_BM)',
    details: {},
  },
  {
    id: 'a:did:key:z6Mkh:7',
    source: 'agent',
    at: new Date(NOW - 61_000).toISOString(),
    nodeId: 'did:key:z6Mkh',
    hostname: 'gpu-node-01',
    gpu: '0000:19:00.0',
    kind: 'xid',
    code: 79,
    message: "NVRM: Xid (PCI:0000:19:00): 79, pid='<unknown>', GPU has fallen off the bus.",
    details: { code: 79 },
  },
];

let api: FakeApi;
beforeAll(async () => {
  api = await startFakeApi({
    'GET /api/v1/events': () => ({ body: { items: events } }),
    'POST /api/v1/nodes/gpu-node-01/drain': (req) => ({
      body: node({
        status: (req.body as { timeout?: string }).timeout ? 'DRAINING' : 'DRAINED',
        statusChange: {
          by: 'token:t',
          reason: null,
          at: new Date(NOW).toISOString(),
          drainDeadline: (req.body as { timeout?: string }).timeout ? '2025-01-01T12:30:00.000Z' : null,
        },
      }),
    }),
    'POST /api/v1/nodes/gpu-node-01/gpus/1/cordon': () => ({ body: node({ gpus: [gpu(0), gpu(1, 'CORDONED'), gpu(2)] as never }) }),
    'POST /api/v1/nodes/gpu-node-01/gpus/0000:18:00.0/uncordon': () => ({ body: node() }),
    'POST /api/v1/nodes/gpu-node-01/gpus/GPU-nope/cordon': () => ({
      status: 404,
      body: { error: { code: 'not_found', message: "node gpu-node-01 has no GPU 'GPU-nope'" } },
    }),
    'POST /api/v1/nodes/gpu-node-01/health/clear': () => ({ body: { cleared: 2, node: node() } }),
    'GET /api/v1/health/policy': () => ({
      body: {
        source: '/etc/gpufleet/health.yaml',
        catalogVersion: 'r590-1+abc',
        rules: [
          {
            name: 'xid-13',
            description: 'repeats',
            match: { kind: 'xid', codes: [13, 31] },
            window: '10m',
            count: 3,
            verdict: 'degraded',
            scope: 'gpu',
            actions: ['alert'],
            recover: { after: '30m' },
          },
          {
            name: 'hot',
            description: 'hot',
            match: { kind: 'metric', metric: 'temperature_c', above: 83 },
            for: '5m',
            verdict: 'degraded',
            scope: 'gpu',
            actions: [],
            recover: 'never',
          },
        ],
      },
    }),
  });
});
afterAll(() => api.close());

async function run(argv: string[]) {
  const io = captureIo({ columns: 200 });
  const code = await runCli([...argv, '--server', api.url, '--token', 'gft_t_s'], io, { now: () => NOW });
  return { code, stdout: io.stdout, stderr: io.stderr };
}

describe('NODE/GPU arguments', () => {
  it.each([
    ['gpu-node-07/3', { node: 'gpu-node-07', gpu: '3' }],
    ['did:key:z6Mk/GPU-8f2a', { node: 'did:key:z6Mk', gpu: 'GPU-8f2a' }],
    ['n1/0000:17:00.0', { node: 'n1', gpu: '0000:17:00.0' }],
  ])('%s', (text, want) => expect(parseNodeGpu(text)).toEqual(want));

  it('refuses what is not NODE/GPU; a bare node only where the GPU is optional', () => {
    for (const bad of ['gpu-node-07', '/3', 'n1/', 'n1/2/3', '']) expect(() => parseNodeGpu(bad)).toThrow(/NODE\/GPU/);
    expect(parseNodeGpu('gpu-node-07', true)).toEqual({ node: 'gpu-node-07', gpu: null });
  });

  it('shortens UUIDs for tables', () => {
    expect(shortGpu('GPU-00000002-aaaa-bbbb-cccc-000000000000')).toBe('GPU-00000002…');
    expect(shortGpu('0000:19:00.0')).toBe('0000:19:00.0');
    expect(shortGpu(null)).toBe('-');
  });
});

describe('gpufleet events', () => {
  it('sends every filter and prints a table newest first', async () => {
    const r = await run(['events', '-l', 'region=eu', '--node', 'gpu-node-01', '--gpu', '2', '--kind', 'xid', '--since', '1h', '--limit', '50']);
    expect(r.code).toBe(0);
    expect(api.requests.at(-1)!.query).toEqual({ selector: 'region=eu', node: 'gpu-node-01', gpu: '2', kind: 'xid', since: '1h', limit: '50' });
    const [head, first, second] = r.stdout.trimEnd().split('\n');
    expect(head).toMatch(/^WHEN\s+NODE\s+GPU\s+KIND\s+CODE\s+MESSAGE$/);
    expect(first).toMatch(/^1m ago\s+gpu-node-01\s+GPU-00000002…\s+verdict\s+79\s+xid-gpu-reset-required: healthy -> unhealthy/);
    expect(second).toMatch(/^1m ago\s+gpu-node-01\s+0000:19:00.0\s+xid\s+79\s+NVRM: Xid/);
  });

  it('prints JSON with -o json and refuses bad flags before asking', async () => {
    expect(JSON.parse((await run(['events', '-o', 'json'])).stdout).items).toHaveLength(2);
    const before = api.requests.length;
    const kind = await run(['events', '--kind', 'gossip']);
    expect(kind.code).toBe(2);
    expect(kind.stderr).toMatch(/gossip/);
    const since = await run(['events', '--since', 'yesterday']);
    expect(since.code).toBe(2);
    expect(since.stderr).toMatch(/--since 'yesterday' is not a duration/);
    expect((await run(['events', '--limit', '0'])).code).toBe(2);
    expect((await run(['events', '-l', 'a in ('])).code).toBe(2);
    const exclude = await run(['events', '--exclude', 'run-output,gossip']);
    expect(exclude.code).toBe(2);
    expect(exclude.stderr).toMatch(/--exclude: 'gossip' is not an event kind/);
    expect(api.requests.length).toBe(before);
    expect((await run(['events', '--exclude', 'run-output, agent-started'])).code).toBe(0);
    expect(api.requests.at(-1)!.query).toEqual({ exclude: 'run-output,agent-started', limit: '100' });
  });
});

describe('gpufleet nodes drain / gpus cordon / health', () => {
  it('drains with a reason and a timeout', async () => {
    const r = await run(['nodes', 'drain', 'gpu-node-01', '--reason', 'kernel', '--timeout', '30m']);
    expect(r.code).toBe(0);
    expect(api.requests.at(-1)!.body).toEqual({ reason: 'kernel', timeout: '30m' });
    expect(r.stdout).toBe('node gpu-node-01 draining (until 2025-01-01T12:30:00.000Z at the latest)\n');
    expect((await run(['nodes', 'drain', 'gpu-node-01'])).stdout).toBe('node gpu-node-01 drained: nothing was running\n');
    expect(api.requests.at(-1)!.body).toEqual({});
    const bad = await run(['nodes', 'drain', 'gpu-node-01', '--timeout', 'a while']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--timeout 'a while' is not a duration/);
  });

  it('cordons and uncordons one GPU', async () => {
    const c = await run(['gpus', 'cordon', 'gpu-node-01/1', '--reason', 'ECC']);
    expect(c.code).toBe(0);
    expect(api.requests.at(-1)!.body).toEqual({ reason: 'ECC' });
    expect(c.stdout).toBe('GPU 1 of node gpu-node-01 cordoned\n');
    const u = await run(['gpus', 'uncordon', 'gpu-node-01/0000:18:00.0']);
    expect(u.stdout).toBe('GPU 1 of node gpu-node-01 uncordoned: READY\n');
    const missing = await run(['gpus', 'cordon', 'gpu-node-01/GPU-nope']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no GPU 'GPU-nope'/);
    const bad = await run(['gpus', 'cordon', 'gpu-node-01']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/is not NODE\/GPU/);
  });

  it('clears health of a GPU or a node, and needs a reason', async () => {
    const r = await run(['health', 'clear', 'gpu-node-01/2', '--reason', 'replaced']);
    expect(r.code).toBe(0);
    expect(api.requests.at(-1)!.body).toEqual({ reason: 'replaced', gpu: '2' });
    expect(r.stdout).toBe('GPU 2 of node gpu-node-01: 2 findings cleared; node READY, health healthy\n');
    await run(['health', 'clear', 'gpu-node-01', '--reason', 'rebooted']);
    expect(api.requests.at(-1)!.body).toEqual({ reason: 'rebooted' });
    const none = await run(['health', 'clear', 'gpu-node-01']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/--reason/);
    expect((await run(['health', 'clear', 'gpu-node-01', '--reason', ' '])).code).toBe(2);
  });

  it('shows the policy in force', async () => {
    const r = await run(['health', 'policy']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('policy: /etc/gpufleet/health.yaml (XID catalog r590-1+abc)\n');
    const [head, a, b] = r.stdout.trimEnd().split('\n');
    expect(head).toMatch(/^RULE\s+MATCH\s+WHEN\s+VERDICT\s+SCOPE\s+ACTIONS\s+RECOVER$/);
    expect(a).toMatch(/^xid-13\s+xid codes=13,31\s+3 in 10m\s+degraded\s+gpu\s+alert\s+after 30m$/);
    expect(b).toMatch(/^hot\s+metric metric=temperature_c above=83\s+for 5m\s+degraded\s+gpu\s+-\s+never$/);
  });
});
