import { describe, expect, it } from 'vitest';
import type { TemplateDetailView } from '@gpufleet/protocol';
import { captureIo } from '../testing/capture-io.js';
import { ENDED_OK, LOG, hostOf, playOf, playsCli, T0, templateOf } from '../testing/plays-cli-harness.js';

const cli = playsCli();
const { run, posted } = { run: cli.run.bind(cli), posted: cli.posted.bind(cli) };

describe('gpufleet templates', () => {
  it('ls shows name, version, category, kind, become, timeout and description', async () => {
    cli.api.json.set('GET /api/v1/templates', () => ({
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
    cli.api.json.set('GET /api/v1/templates/install_nvidia_driver', () => ({ body: detail }));
    const r = await run(['templates', 'show', 'install_nvidia_driver', '--version', '1']);
    expect(r.code).toBe(0);
    expect(cli.api.requests.at(-1)?.query).toEqual({ version: '1' });
    expect(r.stdout).toContain('(version 1 of 1, 2)');
    expect(r.stdout).toContain('nvidia_driver_version = "550"');
    expect(r.stdout).toContain('Playbook:\n  - hosts: all\n    tasks: []\n');
  });

  it('add sends the playbook, flags and typed variables', async () => {
    cli.api.json.set('POST /api/v1/templates', (req) => ({ status: 201, body: templateOf(req.body.name, { version: 2, builtin: false }) }));
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
    expect(cli.api.requests).toEqual([]);
  });

  it("shows the server's refusal of a playbook with its line:col", async () => {
    cli.api.json.set('POST /api/v1/templates', () => ({
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
    cli.api.json.set('POST /api/v1/plays', () => ({ status: 201, body: playOf() }));
    cli.api.streams.set('GET /api/v1/plays/play_01/stream', [...LOG.map((e) => ({ event: 'event', data: e })), { event: 'end', data: ENDED_OK }]);
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
    cli.api.json.set('POST /api/v1/plays', () => ({ status: 201, body: playOf() }));
    const failed = playOf({
      state: 'FAILED',
      exitCode: 4,
      error: 'ansible-playbook exited 4; unreachable: gpu-2',
      hosts: [hostOf('gpu-1', { state: 'ok' }), hostOf('gpu-2', { unreachable: 1, state: 'unreachable' })],
    });
    cli.api.streams.set('GET /api/v1/plays/play_01/stream', [
      { event: 'event', data: LOG[4] },
      { event: 'end', data: failed },
    ]);
    const r = await run(['plays', 'run', 'connectivity_check', '-l', 'group=gpu']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/gpu-2\s+0\s+0\s+0\s+1\s+0\s+unreachable/);
    expect(r.stderr).toContain('play play_01 FAILED: ansible-playbook exited 4; unreachable: gpu-2');
  });

  it('Ctrl-C asks the server to cancel and follows the play to its end', async () => {
    cli.api.json.set('POST /api/v1/plays', () => ({ status: 201, body: playOf() }));
    cli.api.json.set('POST /api/v1/plays/play_01/cancel', () => ({ body: playOf({ state: 'RUNNING' }) }));
    cli.api.streams.set('GET /api/v1/plays/play_01/stream', [
      { event: 'event', data: LOG[2] },
      { waitFor: 'POST /api/v1/plays/play_01/cancel' },
      { event: 'end', data: playOf({ state: 'CANCELED', exitCode: 130 }) },
    ]);
    const io = captureIo({ home: cli.home, cwd: cli.home, columns: 100 });
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
    cli.api.json.set('POST /api/v1/plays', () => ({ status: 201, body: playOf() }));
    cli.api.streamSequences.set('GET /api/v1/plays/play_01/stream', [
      [{ event: 'event', data: LOG[0] }, { event: 'event', data: LOG[1] }, { cut: true }],
      [
        { event: 'event', data: LOG[1] },
        { event: 'event', data: LOG[2] },
        { event: 'end', data: ENDED_OK },
      ],
    ]);
    const r = await run(['plays', 'run', 'connectivity_check', '-l', 'group=gpu']);
    expect(r.code).toBe(0);
    const streams = cli.api.requests.filter((q) => q.path === '/api/v1/plays/play_01/stream');
    // The cut may come before the last event's second half arrived: the cursor is what was printed.
    expect(streams[0]?.query.after).toBe('0');
    expect(['1', '2']).toContain(streams[1]?.query.after);
    expect(r.stdout.match(/PLAY \[/g)).toHaveLength(1);
    expect(r.stdout.match(/-- RUNNING/g)).toHaveLength(1);
    expect(r.stdout).toContain('TASK [Ping]');
    expect(r.stderr).toContain('ended early; reconnecting');
  });

  it('--detach prints the id only; -o json follows as one JSON object a line', async () => {
    cli.api.json.set('POST /api/v1/plays', () => ({ status: 201, body: playOf() }));
    expect((await run(['plays', 'run', 'collect_facts', '-l', 'all', '--detach'])).stdout).toBe('play_01\n');
    cli.api.streams.set('GET /api/v1/plays/play_01/stream', [
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
    expect(cli.api.requests).toEqual([]);
  });
});

describe('gpufleet plays ls|get|logs|cancel', () => {
  it('ls shows id, template@version, state, hosts and age; --state and --limit go to the server', async () => {
    cli.api.json.set('GET /api/v1/plays', () => ({
      body: { items: [playOf({ state: 'RUNNING', startedAt: T0, hosts: [hostOf('a', { state: 'failed' }), hostOf('b', { state: 'running' }), hostOf('c')] })] },
    }));
    const r = await run(['plays', 'ls', '--state', 'running', '--limit', '5']);
    expect(r.code).toBe(0);
    expect(cli.api.requests.at(-1)?.query).toEqual({ state: 'RUNNING', limit: '5' });
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+TEMPLATE\s+STATE\s+HOSTS\s+STARTED$/);
    expect(lines[1]).toMatch(/^play_01\s+connectivity_check@1\s+RUNNING\s+3, 1 failed, 1 running\s+10m ago$/);
  });

  it('get shows the play and the per-host table; logs pages the stored log', async () => {
    cli.api.json.set('GET /api/v1/plays/play_01', () => ({ body: { ...ENDED_OK, reason: 'new rack' } }));
    const got = await run(['plays', 'get', 'play_01']);
    expect(got.code).toBe(0);
    expect(got.stdout).toContain('State:     SUCCEEDED (exit 0)');
    expect(got.stdout).toContain('Reason:    new rack');
    expect(got.stdout).toMatch(/gpu-1\s+3\s+0\s+0\s+0\s+0\s+ok/);
    cli.api.json.set('GET /api/v1/plays/play_01/events', () => ({ body: { items: LOG.slice(2, 4), next: 4 } }));
    const logs = await run(['plays', 'logs', 'play_01']);
    expect(logs.stdout).toBe('TASK [Ping]\n  ok: gpu-1 - pong\n');
  });

  it('logs -f follows the stream to the end; cancel posts and shows the state', async () => {
    cli.api.json.set('GET /api/v1/plays/play_01', () => ({ body: playOf({ state: 'RUNNING' }) }));
    cli.api.streams.set('GET /api/v1/plays/play_01/stream', [
      { event: 'event', data: LOG[3] },
      { event: 'end', data: ENDED_OK },
    ]);
    const f = await run(['plays', 'logs', 'play_01', '-f']);
    expect(f.code).toBe(0);
    expect(f.stdout).toBe('  ok: gpu-1 - pong\n');
    cli.api.json.set('POST /api/v1/plays/play_01/cancel', () => ({ body: playOf({ state: 'CANCELED' }) }));
    const c = await run(['plays', 'cancel', 'play_01']);
    expect(c.stdout).toBe('play play_01 CANCELED\n');
    cli.api.json.set('POST /api/v1/plays/play_02/cancel', () => ({
      status: 412,
      body: { error: { code: 'failed_precondition', message: 'play play_02 already ended (SUCCEEDED)' } },
    }));
    const late = await run(['plays', 'cancel', 'play_02']);
    expect(late.code).not.toBe(0);
    expect(late.stderr).toContain('already ended (SUCCEEDED)');
  });
});
