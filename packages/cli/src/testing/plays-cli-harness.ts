import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import type { PlayEventView, PlayHostStats, PlayPlanView, PlayView, TemplateView } from '@gpufleet/protocol';
import { runCli } from '../cli.js';
import { captureIo, type CaptureOptions, type CapturedIo } from './capture-io.js';
import { FakeRunApi } from './fake-run-api.js';

/** Fixtures and a CLI runner against a fake API for the `gpufleet templates` and `plays` tests. */

export const NOW = Date.UTC(2026, 11, 5, 12, 10, 0);
export const T0 = '2026-12-05T12:00:00.000Z';

export function templateOf(name: string, over: Partial<TemplateView> = {}): TemplateView {
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

export function hostOf(hostname: string, over: Partial<PlayHostStats> = {}): PlayHostStats {
  return { hostname, nodeId: `did:key:z6Mk${hostname}`, ok: 0, changed: 0, failed: 0, unreachable: 0, skipped: 0, state: 'pending', ...over };
}

export function playOf(over: Partial<PlayView> = {}): PlayView {
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

export function ev(seq: number, over: Partial<PlayEventView>): PlayEventView {
  return { seq, at: T0, kind: 'output', host: null, task: null, status: null, message: '', ...over };
}

export const LOG: PlayEventView[] = [
  ev(1, { kind: 'state', message: 'RUNNING' }),
  ev(2, { kind: 'play', message: 'Connectivity check' }),
  ev(3, { kind: 'task', task: 'Ping', message: 'Ping' }),
  ev(4, { kind: 'host', host: 'gpu-1', task: 'Ping', status: 'ok', message: 'pong' }),
  ev(5, { kind: 'host', host: 'gpu-2', task: 'Ping', status: 'unreachable', message: 'Host key verification failed.' }),
  ev(6, { kind: 'recap', host: 'gpu-1', message: 'ok=1 changed=0 failed=0 unreachable=0 skipped=0' }),
];

export const ENDED_OK = playOf({
  state: 'SUCCEEDED',
  startedAt: T0,
  endedAt: '2026-12-05T12:00:07.000Z',
  exitCode: 0,
  hosts: [hostOf('gpu-1', { ok: 3, state: 'ok' }), hostOf('gpu-2', { ok: 2, changed: 1, skipped: 1, state: 'ok' })],
});

export const PLAYBOOK = '- hosts: all\n  gather_facts: false\n  tasks:\n    - ansible.builtin.ping:\n';
export const PLAYBOOK_SHA = '86e8d73a24af3517f9fac030ff3cc7474a636b0940f920944e27db5049b4f6c1';

export function planOf(over: Partial<PlayPlanView> = {}): PlayPlanView {
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

/** A home with playbook files, a fresh fake API per test (its plan route answers planOf()), and the CLI run against it. */
export function playsCli() {
  let home = '';
  let api: FakeRunApi;
  beforeAll(() => {
    home = mkdtempSync(join(tmpdir(), 'gpufleet-plays-cli-'));
    writeFileSync(join(home, 'disk.yml'), '- hosts: all\n  tasks:\n    - ansible.builtin.ping:\n');
    writeFileSync(join(home, 'empty.yml'), '  \n');
  });
  afterAll(() => rmSync(home, { recursive: true, force: true }));
  beforeEach(async () => {
    api = await new FakeRunApi().start();
    api.json.set('POST /api/v1/plays/plan', () => ({ body: planOf() }));
  });
  afterEach(() => api.close());
  return {
    get home() {
      return home;
    },
    get api() {
      return api;
    },
    async run(argv: string[], opts: CaptureOptions = {}, io: CapturedIo = captureIo({ home, cwd: home, columns: 100, ...opts })) {
      const code = await runCli(['--server', api.url, '--token', 'gft_t_s', ...argv], io, { now: () => NOW });
      return { code, stdout: io.stdout, stderr: io.stderr, io };
    },
    posted(path: string) {
      return api.requests.filter((r) => r.method === 'POST' && r.path === path).map((r) => r.body);
    },
  };
}
