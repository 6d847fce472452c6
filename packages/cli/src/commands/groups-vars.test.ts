import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { GroupView, ResolvedVarsView, VarsView } from '@gpufleet/protocol';
import { runCli } from '../cli.js';
import { captureIo } from '../testing/capture-io.js';
import { FakeRunApi } from '../testing/fake-run-api.js';

const T0 = '2026-12-05T12:00:00.000Z';
const N7 = 'did:key:z6MkGpuSeven';
let home: string;
let api: FakeRunApi;

function groupOf(name: string, over: Partial<GroupView> = {}): GroupView {
  return {
    name,
    description: '',
    priority: 10,
    selector: 'gpu.vendor=nvidia',
    members: [N7],
    nodes: [
      { id: N7, hostname: 'gpu-07' },
      { id: 'did:key:z6MkGpuEight', hostname: 'gpu-08' },
    ],
    vars: { nvidia_driver_version: 550 },
    createdAt: T0,
    ...over,
  };
}

beforeAll(() => {
  home = mkdtempSync(join(tmpdir(), 'gpufleet-groups-cli-'));
});
afterAll(() => rmSync(home, { recursive: true, force: true }));
beforeEach(async () => {
  api = await new FakeRunApi().start();
});
afterEach(() => api.close());

async function run(argv: string[]) {
  const io = captureIo({ home, cwd: home, columns: 100 });
  const code = await runCli(['--server', api.url, '--token', 'gft_t_s', ...argv], io, { now: () => Date.parse(T0) });
  return { code, stdout: io.stdout, stderr: io.stderr };
}

const sent = (method: string, path: string) => api.requests.filter((r) => r.method === method && r.path === path).map((r) => r.body);

describe('gpufleet groups', () => {
  it('create sends name, priority, selector, members and description', async () => {
    api.json.set('POST /api/v1/groups', (req) => ({ status: 201, body: groupOf(req.body.name) }));
    const r = await run([
      'groups',
      'create',
      'gpu_nodes',
      '--priority',
      '-5',
      '-l',
      'gpu.vendor=nvidia',
      '--member',
      'gpu-07',
      '--member',
      'z6Mk8',
      '--description',
      'GPUs',
    ]);
    expect(r.code).toBe(0);
    expect(sent('POST', '/api/v1/groups')).toEqual([
      { name: 'gpu_nodes', priority: -5, selector: 'gpu.vendor=nvidia', members: ['gpu-07', 'z6Mk8'], description: 'GPUs' },
    ]);
    expect(r.stdout).toBe('group gpu_nodes created with 2 member(s)\n');
  });

  it('ls shows name, priority, selector, members and vars counts in 100 columns', async () => {
    api.json.set('GET /api/v1/groups', () => ({
      body: { items: [groupOf('gpu_nodes'), groupOf('canary', { selector: null, priority: 0, nodes: [], vars: {} })] },
    }));
    const r = await run(['groups', 'ls']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+PRIORITY\s+SELECTOR\s+MEMBERS\s+VARS$/);
    expect(lines[1]).toMatch(/^gpu_nodes\s+10\s+gpu\.vendor=nvidia\s+2\s+1$/);
    expect(lines[2]).toMatch(/^canary\s+0\s+-\s+0\s+0$/);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(100);
  });

  it('get shows members by hostname (static ones marked) and variables', async () => {
    api.json.set('GET /api/v1/groups/gpu_nodes', () => ({ body: groupOf('gpu_nodes') }));
    const r = await run(['groups', 'get', 'gpu_nodes']);
    expect(r.stdout).toContain('Members (2):\n  gpu-07  (static)\n  gpu-08\n');
    expect(r.stdout).toContain('Variables:\n  nvidia_driver_version = 550\n');
    const j = await run(['groups', 'get', 'gpu_nodes', '-o', 'json']);
    expect(JSON.parse(j.stdout)).toEqual(groupOf('gpu_nodes'));
  });

  it('update sends only what is given; --no-selector sends null; rm deletes', async () => {
    api.json.set('PATCH /api/v1/groups/canary', () => ({ body: groupOf('canary') }));
    api.json.set('DELETE /api/v1/groups/canary', () => ({ status: 204, body: null }));
    expect((await run(['groups', 'update', 'canary', '--no-selector', '--add', 'gpu-09', '--remove', 'gpu-07'])).code).toBe(0);
    expect((await run(['groups', 'update', 'canary', '--priority', '20', '-l', 'zone=a'])).code).toBe(0);
    expect(sent('PATCH', '/api/v1/groups/canary')).toEqual([
      { selector: null, add: ['gpu-09'], remove: ['gpu-07'] },
      { priority: 20, selector: 'zone=a' },
    ]);
    const rm = await run(['groups', 'rm', 'canary']);
    expect(rm.code).toBe(0);
    expect(rm.stdout).toBe('group canary deleted\n');
  });

  it.each([
    [['groups', 'create', '9bad'], /not a group name/],
    [['groups', 'create', 'g', '--priority', 'high'], /--priority 'high' must be a whole number from -1000 to 1000/],
    [['groups', 'create', 'g', '--priority', '1001'], /--priority/],
    [['groups', 'create', 'g', '-l', ' '], /-l\/--selector/],
    [['groups', 'create', 'g', '--member', ''], /--member '' is not a node/],
    [['groups', 'create', 'g', '--description', 'x'.repeat(501)], /--description/],
    [['groups', 'update', 'g'], /nothing to change/],
    [['groups', 'get', 'a b'], /not a group name/],
    [['groups', 'create', 'g', '--bogus'], /unknown option '--bogus'/],
  ])('refuses %j before any request', async (argv, message) => {
    const r = await run(argv);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
    expect(api.requests).toEqual([]);
  });

  it("shows the server's refusal", async () => {
    api.json.set('POST /api/v1/groups', () => ({ status: 400, body: { error: { code: 'invalid_argument', message: 'members: unknown nodes: ghost' } } }));
    const r = await run(['groups', 'create', 'g', '--member', 'ghost']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('unknown nodes: ghost');
  });
});

describe('gpufleet vars', () => {
  const varsView = (over: Partial<VarsView> = {}): VarsView => ({ scope: 'global', target: null, vars: {}, updatedAt: T0, ...over });

  it('set reads values as YAML scalars and flow collections; --string keeps text; scope by flag', async () => {
    api.json.set('PUT /api/v1/vars', (req) => ({ body: varsView({ scope: req.body.scope, target: req.body.target ?? null, vars: req.body.set ?? {} }) }));
    expect((await run(['vars', 'set', 'v=550', 'cuda=true', 'l=[a, b]', 'm={x: 1}', 's=hello', 'e='])).code).toBe(0);
    expect((await run(['vars', 'set', '--group', 'gpu_nodes', '--string', 'v=550'])).code).toBe(0);
    const r = await run(['vars', 'set', '--node', 'gpu-07', 'v=535']);
    expect(sent('PUT', '/api/v1/vars')).toEqual([
      { scope: 'global', set: { v: 550, cuda: true, l: ['a', 'b'], m: { x: 1 }, s: 'hello', e: '' } },
      { scope: 'group', target: 'gpu_nodes', set: { v: '550' } },
      { scope: 'node', target: 'gpu-07', set: { v: 535 } },
    ]);
    expect(r.stdout).toContain('node gpu-07 variables');
    expect(r.stdout).toContain('  v = 535\n');
  });

  it('unset removes names; ls reads one scope', async () => {
    api.json.set('PUT /api/v1/vars', () => ({ body: varsView() }));
    api.json.set('GET /api/v1/vars', () => ({ body: varsView({ scope: 'group', target: 'g', vars: { a: [1] } }) }));
    expect((await run(['vars', 'unset', '--group', 'g', 'a', 'b'])).code).toBe(0);
    expect(sent('PUT', '/api/v1/vars')).toEqual([{ scope: 'group', target: 'g', remove: ['a', 'b'] }]);
    const ls = await run(['vars', 'ls', '--group', 'g']);
    expect(api.requests.at(-1)?.query).toEqual({ scope: 'group', target: 'g' });
    expect(ls.stdout).toContain('  a = [1]\n');
    const yaml = await run(['vars', 'ls', '--group', 'g', '-o', 'yaml']);
    expect(yaml.stdout).toContain('scope: group');
  });

  it('show prints NAME VALUE FROM OVERRIDES and sends -e as JSON', async () => {
    const view: ResolvedVarsView = {
      nodeId: N7,
      hostname: 'gpu-07',
      groups: [
        { name: 'gpu_nodes', priority: 10 },
        { name: 'rack1', priority: 0 },
      ],
      vars: {
        install_cuda: { value: false, origin: { scope: 'extra', source: null, overrides: [{ scope: 'global', source: null, value: true }] } },
        nvidia_driver_version: {
          value: 535,
          origin: {
            scope: 'node',
            source: N7,
            overrides: [
              { scope: 'global', source: null, value: 525 },
              { scope: 'group', source: 'gpu_nodes', value: 550 },
            ],
          },
        },
        zone: { value: 'a', origin: { scope: 'group', source: 'rack1', overrides: [] } },
      },
    };
    api.json.set('GET /api/v1/nodes/gpu-07/vars', () => ({ body: view }));
    const r = await run(['vars', 'show', 'gpu-07', '-e', 'install_cuda=false']);
    expect(r.code).toBe(0);
    expect(api.requests.at(-1)?.query).toEqual({ extra: '{"install_cuda":false}' });
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('gpu-07: groups gpu_nodes (10) > rack1 (0)');
    expect(lines[1]).toMatch(/^NAME\s+VALUE\s+FROM\s+OVERRIDES$/);
    expect(lines[2]).toMatch(/^install_cuda\s+false\s+extra\s+global=true$/);
    expect(lines[3]).toMatch(/^nvidia_driver_version\s+535\s+node gpu-07\s+global=525, group gpu_nodes=550$/);
    expect(lines[4]).toMatch(/^zone\s+"a"\s+group rack1\s+-$/);
    const j = await run(['vars', 'show', 'gpu-07', '-o', 'json']);
    expect(JSON.parse(j.stdout)).toEqual(view);
  });

  it.each([
    [['vars', 'set', '--group', 'g', '--node', 'n', 'a=1'], /--group or --node, not both/],
    [['vars', 'set', 'novalue'], /must be NAME=VALUE/],
    [['vars', 'set', 'bad-name=1'], /not a variable name/],
    [['vars', 'set', '--string', '=1'], /must be NAME=VALUE/],
    [['vars', 'set'], /missing required argument/],
    [['vars', 'unset', '9x'], /not a variable name/],
    [['vars', 'ls', '--group', 'bad group'], /not a group name/],
    [['vars', 'show', 'gpu-07', '-e', 'x'], /must be NAME=VALUE/],
    [['vars', 'show'], /missing required argument/],
    [['vars', 'ls', '--scope', 'x'], /unknown option '--scope'/],
  ])('refuses %j before any request', async (argv, message) => {
    const r = await run(argv);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
    expect(api.requests).toEqual([]);
  });

  it('help teaches the layering order and the replace rule', async () => {
    const r = await run(['vars', '--help']);
    expect(r.stdout).toMatch(/1\. global[\s\S]*2\. groups, by --priority[\s\S]*3\. the node[\s\S]*4\. a play's extra vars/);
    expect(r.stdout).toContain('hash_behaviour=replace');
  });
});
