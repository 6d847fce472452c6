import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  commandSigningInput,
  localPlayScript,
  SignedCommand,
  verifyEd25519,
  type PlayEventView,
  type PlayHostStats,
  type PlayPlanView,
  type PlayView,
  type TemplateDetailView,
  type TemplateView,
} from '@gpufleet/protocol';
import { createOperatorKey } from '../keys/index.js';
import { runCli } from '../cli.js';
import { captureIo, type CaptureOptions, type CapturedIo } from '../testing/capture-io.js';
import { FakeRunApi } from '../testing/fake-run-api.js';

const NOW = Date.UTC(2026, 11, 5, 12, 10, 0);
const T0 = '2026-12-05T12:00:00.000Z';
let home: string;
let api: FakeRunApi;

function templateOf(name: string, over: Partial<TemplateView> = {}): TemplateView {
  return {
    name,
    version: 1,
    description: 'Ping each host',
    category: 'check',
    builtin: true,
    become: false,
    timeoutMs: 120_000,
    vars: {},
    sha256: 'ab'.repeat(32),
    createdAt: T0,
    createdBy: 'system',
    ...over,
  };
}

function hostOf(hostname: string, over: Partial<PlayHostStats> = {}): PlayHostStats {
  return { hostname, nodeId: `did:key:z6Mk${hostname}`, ok: 0, changed: 0, failed: 0, unreachable: 0, skipped: 0, state: 'pending', ...over };
}

function playOf(over: Partial<PlayView> = {}): PlayView {
  return {
    id: 'play_01',
    template: 'connectivity_check',
    templateVersion: 1,
    selector: 'group=gpu',
    serial: null,
    check: false,
    state: 'PENDING',
    hosts: [hostOf('gpu-1'), hostOf('gpu-2')],
    createdBy: 'token:ops(t1)',
    createdAt: T0,
    startedAt: null,
    endedAt: null,
    exitCode: null,
    error: null,
    reason: null,
    ...over,
  };
}

function ev(seq: number, over: Partial<PlayEventView>): PlayEventView {
  return { seq, at: T0, kind: 'output', host: null, task: null, status: null, message: '', ...over };
}

const LOG: PlayEventView[] = [
  ev(1, { kind: 'state', message: 'RUNNING' }),
  ev(2, { kind: 'play', message: 'Connectivity check' }),
  ev(3, { kind: 'task', task: 'Ping', message: 'Ping' }),
  ev(4, { kind: 'host', host: 'gpu-1', task: 'Ping', status: 'ok', message: 'pong' }),
  ev(5, { kind: 'host', host: 'gpu-2', task: 'Ping', status: 'unreachable', message: 'Host key verification failed.' }),
  ev(6, { kind: 'recap', host: 'gpu-1', message: 'ok=1 changed=0 failed=0 unreachable=0 skipped=0' }),
];

const ENDED_OK = playOf({
  state: 'SUCCEEDED',
  startedAt: T0,
  endedAt: '2026-12-05T12:00:07.000Z',
  exitCode: 0,
  hosts: [hostOf('gpu-1', { ok: 3, state: 'ok' }), hostOf('gpu-2', { ok: 2, changed: 1, skipped: 1, state: 'ok' })],
});

beforeAll(() => {
  home = mkdtempSync(join(tmpdir(), 'gpufleet-plays-cli-'));
  writeFileSync(join(home, 'disk.yml'), '- hosts: all\n  tasks:\n    - ansible.builtin.ping:\n');
  writeFileSync(join(home, 'empty.yml'), '  \n');
});
afterAll(() => rmSync(home, { recursive: true, force: true }));
const PLAYBOOK = '- hosts: all\n  gather_facts: false\n  tasks:\n    - ansible.builtin.ping:\n';
const PLAYBOOK_SHA = '86e8d73a24af3517f9fac030ff3cc7474a636b0940f920944e27db5049b4f6c1';

function planOf(over: Partial<PlayPlanView> = {}): PlayPlanView {
  return {
    template: { name: 'connectivity_check', version: 1, sha256: PLAYBOOK_SHA, playbook: PLAYBOOK, become: false, vars: { port: 9100 } },
    ssh: [{ nodeId: 'did:key:z6Mkgpu-1', hostname: 'gpu-1' }],
    agents: [],
    extraVars: {},
    check: false,
    timeoutMs: 600_000,
    ...over,
  };
}

beforeEach(async () => {
  api = await new FakeRunApi().start();
  api.json.set('POST /api/v1/plays/plan', () => ({ body: planOf() }));
});
afterEach(() => api.close());

async function run(argv: string[], opts: CaptureOptions = {}, io: CapturedIo = captureIo({ home, cwd: home, columns: 100, ...opts })) {
  const code = await runCli(['--server', api.url, '--token', 'gft_t_s', ...argv], io, { now: () => NOW });
  return { code, stdout: io.stdout, stderr: io.stderr, io };
}

const posted = (path: string) => api.requests.filter((r) => r.method === 'POST' && r.path === path).map((r) => r.body);

describe('gpufleet templates', () => {
  it('ls shows name, version, category, kind, become, timeout and description', async () => {
    api.json.set('GET /api/v1/templates', () => ({
      body: {
        items: [
          templateOf('connectivity_check'),
          templateOf('mine', { version: 3, builtin: false, become: true, timeoutMs: 1_800_000, category: 'custom', description: 'x' }),
        ],
      },
    }));
    const r = await run(['templates', 'ls']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+VER\s+CATEGORY\s+KIND\s+BECOME\s+TIMEOUT\s+DESCRIPTION$/);
    expect(lines[1]).toMatch(/^connectivity_check\s+1\s+check\s+builtin\s+no\s+2m\s+Ping each host$/);
    expect(lines[2]).toMatch(/^mine\s+3\s+custom\s+custom\s+yes\s+30m\s+x$/);
  });

  it('show prints settings, variables and the playbook; --version asks for that version', async () => {
    const detail: TemplateDetailView = {
      ...templateOf('install_nvidia_driver', { become: true, vars: { nvidia_driver_version: '550' } }),
      playbook: '- hosts: all\n  tasks: []\n',
      versions: [1, 2],
    };
    api.json.set('GET /api/v1/templates/install_nvidia_driver', () => ({ body: detail }));
    const r = await run(['templates', 'show', 'install_nvidia_driver', '--version', '1']);
    expect(r.code).toBe(0);
    expect(api.requests.at(-1)?.query).toEqual({ version: '1' });
    expect(r.stdout).toContain('(version 1 of 1, 2)');
    expect(r.stdout).toContain('nvidia_driver_version = "550"');
    expect(r.stdout).toContain('Playbook:\n  - hosts: all\n    tasks: []\n');
  });

  it('add sends the playbook, flags and typed variables', async () => {
    api.json.set('POST /api/v1/templates', (req) => ({ status: 201, body: templateOf(req.body.name, { version: 2, builtin: false }) }));
    const r = await run([
      'templates',
      'add',
      'disk_check',
      '--playbook',
      'disk.yml',
      '--category',
      'check',
      '--become',
      '--timeout',
      '5m',
      '--var',
      'min_free_gb=50',
      '--var',
      'strict=true',
      '--var',
      'note=hello world',
      '--description',
      'disks',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`template disk_check version 2 added (sha256 ${'ab'.repeat(6)})\n`);
    expect(posted('/api/v1/templates')).toEqual([
      {
        name: 'disk_check',
        playbook: '- hosts: all\n  tasks:\n    - ansible.builtin.ping:\n',
        category: 'check',
        become: true,
        timeout: '5m',
        vars: { min_free_gb: 50, strict: true, note: 'hello world' },
        description: 'disks',
      },
    ]);
  });

  it.each([
    [['templates', 'add', 'Bad-Name', '--playbook', 'disk.yml'], /not a template name/],
    [['templates', 'add', 'ok', '--playbook', 'missing.yml'], /cannot read playbook missing.yml: no such file/],
    [['templates', 'add', 'ok', '--playbook', 'empty.yml'], /empty.yml is empty/],
    [['templates', 'add', 'ok', '--playbook', 'disk.yml', '--timeout', 'forever'], /--timeout 'forever' is not a duration/],
    [['templates', 'add', 'ok', '--playbook', 'disk.yml', '--var', 'novalue'], /--var 'novalue' must be NAME=VALUE/],
    [['templates', 'add', 'ok', '--playbook', 'disk.yml', '--var', '1x=2'], /--var '1x' is not a variable name/],
    [['templates', 'add', 'ok', '--playbook', 'disk.yml', '--category', 'weird'], /Allowed choices are facts, check, driver, monitoring, custom/],
    [['templates', 'show', 'x', '--version', '0'], /--version '0' must be a whole number from 1/],
  ])('refuses %j before any request', async (argv, message) => {
    const r = await run(argv);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(api.requests).toEqual([]);
  });

  it("shows the server's refusal of a playbook with its line:col", async () => {
    api.json.set('POST /api/v1/templates', () => ({
      status: 400,
      body: { error: { code: 'invalid_argument', message: 'playbook: line 3:5: play 1 has no hosts' } },
    }));
    const r = await run(['templates', 'add', 'ok', '--playbook', 'disk.yml']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('playbook: line 3:5: play 1 has no hosts');
  });
});

describe('gpufleet plays run', () => {
  it('starts the play, prints its log as it comes, a progress line per task on stderr, then the stats table; exit 0 when SUCCEEDED', async () => {
    api.json.set('POST /api/v1/plays', () => ({ status: 201, body: playOf() }));
    api.streams.set('GET /api/v1/plays/play_01/stream', [...LOG.map((e) => ({ event: 'event', data: e })), { event: 'end', data: ENDED_OK }]);
    const r = await run([
      'plays',
      'run',
      'connectivity_check',
      '-l',
      'group=gpu',
      '--serial',
      '25%',
      '--max-fail',
      '10',
      '-e',
      'nvidia_driver_version=550',
      '-e',
      'install_cuda=false',
      '--check',
      '--timeout',
      '10m',
      '--reason',
      'new rack',
    ]);
    expect(r.stderr).toContain('play play_01: connectivity_check@1 on 2 host(s)');
    expect(r.code).toBe(0);
    expect(posted('/api/v1/plays')).toEqual([
      {
        template: 'connectivity_check',
        selector: 'group=gpu',
        check: true,
        serial: '25%',
        maxFailPercentage: 10,
        extraVars: { nvidia_driver_version: 550, install_cuda: false },
        timeout: '10m',
        reason: 'new rack',
      },
    ]);
    expect(r.stdout).toContain(
      [
        '-- RUNNING',
        'PLAY [Connectivity check]',
        'TASK [Ping]',
        '  ok: gpu-1 - pong',
        '  UNREACHABLE: gpu-2 - Host key verification failed.',
        'RECAP gpu-1: ok=1 changed=0 failed=0 unreachable=0 skipped=0',
      ].join('\n'),
    );
    expect(r.stderr).toContain('hosts: gpu-1 pending, gpu-2 pending\n');
    const table = r.stdout.slice(r.stdout.indexOf('HOST')).trimEnd().split('\n');
    expect(table[0]).toMatch(/^HOST\s+OK\s+CHANGED\s+FAILED\s+UNREACHABLE\s+SKIPPED\s+STATE$/);
    expect(table[2]).toMatch(/^gpu-2\s+2\s+1\s+0\s+0\s+1\s+ok$/);
    expect(r.stderr).toContain('play play_01 SUCCEEDED in 7s');
  });

  it('exits 1 with the reason when the play FAILED', async () => {
    api.json.set('POST /api/v1/plays', () => ({ status: 201, body: playOf() }));
    const failed = playOf({
      state: 'FAILED',
      exitCode: 4,
      error: 'ansible-playbook exited 4; unreachable: gpu-2',
      hosts: [hostOf('gpu-1', { state: 'ok' }), hostOf('gpu-2', { unreachable: 1, state: 'unreachable' })],
    });
    api.streams.set('GET /api/v1/plays/play_01/stream', [
      { event: 'event', data: LOG[4] },
      { event: 'end', data: failed },
    ]);
    const r = await run(['plays', 'run', 'connectivity_check', '-l', 'group=gpu']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/gpu-2\s+0\s+0\s+0\s+1\s+0\s+unreachable/);
    expect(r.stderr).toContain('play play_01 FAILED: ansible-playbook exited 4; unreachable: gpu-2');
  });

  it('Ctrl-C asks the server to cancel and follows the play to its end', async () => {
    api.json.set('POST /api/v1/plays', () => ({ status: 201, body: playOf() }));
    api.json.set('POST /api/v1/plays/play_01/cancel', () => ({ body: playOf({ state: 'RUNNING' }) }));
    api.streams.set('GET /api/v1/plays/play_01/stream', [
      { event: 'event', data: LOG[2] },
      { waitFor: 'POST /api/v1/plays/play_01/cancel' },
      { event: 'end', data: playOf({ state: 'CANCELED', exitCode: 130 }) },
    ]);
    const io = captureIo({ home, cwd: home, columns: 100 });
    const pending = run(['plays', 'run', 'connectivity_check', '-l', 'group=gpu'], {}, io);
    for (let i = 0; i < 100 && !io.stdout.includes('TASK [Ping]'); i++) await new Promise((r) => setTimeout(r, 20));
    io.interrupt();
    const r = await pending;
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('canceling play play_01 (Ctrl-C again to stop following)');
    expect(r.stderr).toContain('play play_01 CANCELED');
    expect(posted('/api/v1/plays/play_01/cancel')).toHaveLength(1);
  });

  it('reopens a stream that ended early after the last event printed, printing nothing twice', async () => {
    api.json.set('POST /api/v1/plays', () => ({ status: 201, body: playOf() }));
    api.streamSequences.set('GET /api/v1/plays/play_01/stream', [
      [{ event: 'event', data: LOG[0] }, { event: 'event', data: LOG[1] }, { cut: true }],
      [
        { event: 'event', data: LOG[1] },
        { event: 'event', data: LOG[2] },
        { event: 'end', data: ENDED_OK },
      ],
    ]);
    const r = await run(['plays', 'run', 'connectivity_check', '-l', 'group=gpu']);
    expect(r.code).toBe(0);
    const streams = api.requests.filter((q) => q.path === '/api/v1/plays/play_01/stream');
    // The cut may come before the last event's second half arrived: the cursor is what was printed.
    expect(streams[0]?.query.after).toBe('0');
    expect(['1', '2']).toContain(streams[1]?.query.after);
    expect(r.stdout.match(/PLAY \[/g)).toHaveLength(1);
    expect(r.stdout.match(/-- RUNNING/g)).toHaveLength(1);
    expect(r.stdout).toContain('TASK [Ping]');
    expect(r.stderr).toContain('ended early; reconnecting');
  });

  it('--detach prints the id only; -o json follows as one JSON object a line', async () => {
    api.json.set('POST /api/v1/plays', () => ({ status: 201, body: playOf() }));
    expect((await run(['plays', 'run', 'collect_facts', '-l', 'all', '--detach'])).stdout).toBe('play_01\n');
    api.streams.set('GET /api/v1/plays/play_01/stream', [
      { event: 'event', data: LOG[3] },
      { event: 'end', data: ENDED_OK },
    ]);
    const r = await run(['plays', 'run', 'collect_facts', '-l', 'all', '-o', 'json']);
    expect(r.code).toBe(0);
    const lines = r.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toEqual([LOG[3], ENDED_OK]);
  });

  it.each([
    [['plays', 'run', 'x'], /required option '-l, --selector/],
    [['plays', 'run', 'x', '-l', ' '], /-l\/--selector must say which hosts/],
    [['plays', 'run', 'X!', '-l', 'all'], /not a template name/],
    [['plays', 'run', 'x', '-l', 'all', '--serial', '0'], /--serial '0' must be a number of hosts/],
    [['plays', 'run', 'x', '-l', 'all', '--serial', '150%'], /--serial '150%'/],
    [['plays', 'run', 'x', '-l', 'all', '--max-fail', '101'], /--max-fail '101' must be a percentage from 0 to 100/],
    [['plays', 'run', 'x', '-l', 'all', '-e', '=x'], /-e '=x' must be NAME=VALUE/],
    [['plays', 'run', 'x', '-l', 'all', '--timeout', '2y'], /--timeout '2y' is not a duration/],
    [['plays', 'run', 'x', '-l', 'all', '--timeout', '2d'], /--timeout '2d' must be from 1s to 24h/],
    [['plays', 'run', 'x', '-l', 'all', '--reason', 'r'.repeat(501)], /--reason is at most 500/],
    [['plays', 'ls', '--state', 'DONE'], /--state 'DONE' is not one of PENDING, RUNNING/],
    [['plays', 'ls', '--limit', '0'], /--limit '0' must be a whole number from 1 to 1000/],
    [['plays', 'get', '../etc'], /not a play id/],
    [['plays', 'cancel', 'a b'], /not a play id/],
  ])('refuses %j before any request', async (argv, message) => {
    const r = await run(argv);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(api.requests).toEqual([]);
  });
});

describe('gpufleet plays ls|get|logs|cancel', () => {
  it('ls shows id, template@version, state, hosts and age; --state and --limit go to the server', async () => {
    api.json.set('GET /api/v1/plays', () => ({
      body: { items: [playOf({ state: 'RUNNING', startedAt: T0, hosts: [hostOf('a', { state: 'failed' }), hostOf('b', { state: 'running' }), hostOf('c')] })] },
    }));
    const r = await run(['plays', 'ls', '--state', 'running', '--limit', '5']);
    expect(r.code).toBe(0);
    expect(api.requests.at(-1)?.query).toEqual({ state: 'RUNNING', limit: '5' });
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+TEMPLATE\s+STATE\s+HOSTS\s+STARTED$/);
    expect(lines[1]).toMatch(/^play_01\s+connectivity_check@1\s+RUNNING\s+3, 1 failed, 1 running\s+10m ago$/);
  });

  it('get shows the play and the per-host table; logs pages the stored log', async () => {
    api.json.set('GET /api/v1/plays/play_01', () => ({ body: { ...ENDED_OK, reason: 'new rack' } }));
    const got = await run(['plays', 'get', 'play_01']);
    expect(got.code).toBe(0);
    expect(got.stdout).toContain('State:     SUCCEEDED (exit 0)');
    expect(got.stdout).toContain('Reason:    new rack');
    expect(got.stdout).toMatch(/gpu-1\s+3\s+0\s+0\s+0\s+0\s+ok/);
    api.json.set('GET /api/v1/plays/play_01/events', () => ({ body: { items: LOG.slice(2, 4), next: 4 } }));
    const logs = await run(['plays', 'logs', 'play_01']);
    expect(logs.stdout).toBe('TASK [Ping]\n  ok: gpu-1 - pong\n');
  });

  it('logs -f follows the stream to the end; cancel posts and shows the state', async () => {
    api.json.set('GET /api/v1/plays/play_01', () => ({ body: playOf({ state: 'RUNNING' }) }));
    api.streams.set('GET /api/v1/plays/play_01/stream', [
      { event: 'event', data: LOG[3] },
      { event: 'end', data: ENDED_OK },
    ]);
    const f = await run(['plays', 'logs', 'play_01', '-f']);
    expect(f.code).toBe(0);
    expect(f.stdout).toBe('  ok: gpu-1 - pong\n');
    api.json.set('POST /api/v1/plays/play_01/cancel', () => ({ body: playOf({ state: 'CANCELED' }) }));
    const c = await run(['plays', 'cancel', 'play_01']);
    expect(c.stdout).toBe('play play_01 CANCELED\n');
    api.json.set('POST /api/v1/plays/play_02/cancel', () => ({
      status: 412,
      body: { error: { code: 'failed_precondition', message: 'play play_02 already ended (SUCCEEDED)' } },
    }));
    const late = await run(['plays', 'cancel', 'play_02']);
    expect(late.code).not.toBe(0);
    expect(late.stderr).toContain('already ended (SUCCEEDED)');
  });
});

describe('gpufleet plays run on agent hosts', () => {
  const agents: PlayPlanView['agents'] = [
    { nodeId: 'did:key:z6Mkagent-1', hostname: 'agent-1', target: 'hostname=agent-1', groups: ['gpu'], vars: { slot: 'a' }, notes: [] },
    {
      nodeId: 'did:key:z6Mkagent-2',
      hostname: 'agent-2',
      target: 'hostname=agent-2',
      groups: [],
      vars: { slot: 'b' },
      notes: ['agent-2: variable ansible_host (from node) is ignored'],
    },
  ];

  it("signs each agent host's part with the operator key: the host's own target, an exec/run shell command rendering exactly the planned play", async () => {
    const env = { XDG_CONFIG_HOME: join(home, 'xdg-sign') };
    const key = createOperatorKey('ops', { env, home });
    api.json.set('POST /api/v1/plays/plan', () => ({ body: planOf({ agents, extraVars: { run: 1 }, check: true }) }));
    api.json.set('POST /api/v1/plays', () => ({ status: 201, body: playOf() }));
    api.streams.set('GET /api/v1/plays/play_01/stream', [{ event: 'end', data: ENDED_OK }]);
    const r = await run(['plays', 'run', 'connectivity_check', '-l', 'group=gpu', '-e', 'run=1', '--check', '--key', 'ops'], { env });
    expect(r.stderr).toMatch(/note: agent-2: variable ansible_host \(from node\) is ignored/);
    expect(r.stderr).toMatch(/signed the part of 2 agent host\(s\) with did:key:/);
    expect(r.code).toBe(0);
    expect(posted('/api/v1/plays/plan')).toEqual([{ template: 'connectivity_check', selector: 'group=gpu', check: true, extraVars: { run: 1 } }]);
    const [body] = posted('/api/v1/plays') as { agentCommands: unknown[] }[];
    expect(body!.agentCommands).toHaveLength(2);
    for (const [i, raw] of body!.agentCommands.entries()) {
      const c = SignedCommand.parse(raw);
      const host = agents[i]!;
      expect(c.payload).toMatchObject({ ability: 'exec/run', target: host.target, invoker: key.did, capability: null, timeoutMs: 600_000, issuedAt: NOW });
      expect(verifyEd25519(key.did, commandSigningInput(c.payload), c.sig)).toBe(true);
      expect(c.payload.command).toEqual({
        kind: 'shell',
        script: localPlayScript({
          template: { name: 'connectivity_check', version: 1, sha256: PLAYBOOK_SHA, playbook: PLAYBOOK, become: false },
          hostname: host.hostname,
          groups: host.groups,
          defaults: { port: 9100 },
          vars: host.vars,
          extraVars: { run: 1 },
          check: true,
        }),
      });
    }
  });

  it('without a key it says how to sign or leave the agent hosts out; --ssh-only signs nothing; a playbook that does not hash as recorded is not signed', async () => {
    const env = { XDG_CONFIG_HOME: join(home, 'xdg-none') };
    api.json.set('POST /api/v1/plays/plan', () => ({ body: planOf({ agents }) }));
    const missing = await run(['plays', 'run', 'connectivity_check', '-l', 'group=gpu'], { env });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/picks 2 agent host\(s\), whose parts are signed with your operator key: pass --key, or --ssh-only/);
    expect(posted('/api/v1/plays')).toEqual([]);

    api.json.set('POST /api/v1/plays', () => ({ status: 201, body: playOf() }));
    expect((await run(['plays', 'run', 'connectivity_check', '-l', 'group=gpu', '--ssh-only', '--detach'], { env })).code).toBe(0);
    expect(posted('/api/v1/plays')).toEqual([{ template: 'connectivity_check', selector: 'group=gpu', check: false }]);

    createOperatorKey('ops', { env, home });
    api.json.set('POST /api/v1/plays/plan', () => ({ body: planOf({ agents, template: { ...planOf().template, playbook: `${PLAYBOOK}# changed\n` } }) }));
    const tampered = await run(['plays', 'run', 'connectivity_check', '-l', 'group=gpu', '--key', 'ops'], { env });
    expect(tampered.code).toBe(1);
    expect(tampered.stderr).toMatch(/hashes to .*, not 86e8d73a24af… as recorded: nothing signed/);
    expect(posted('/api/v1/plays')).toHaveLength(1);
  });
});
