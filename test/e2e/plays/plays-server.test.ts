import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeKey, TestSshd } from '../../support/test-sshd.js';
import { ChildServer, CLI_MAIN } from '../support/child-server.js';
import { freePort } from '../support/free-port.js';
import { apiClient, type ApiCall } from '../support/http-json.js';

/**
 * Plays end to end (issue 12): `gpufleet server` (the built CLI, a child process) with SSH hosts
 * added through its API (one direct, one through a jump host: the play's ssh goes through a
 * ProxyCommand with the jump host's pinned key), a group, layered variables and a custom template;
 * `gpufleet plays run` (the built CLI) follows the play to its stats table and exits 0; the files a
 * task wrote on each host hold the merged variables; the play's log is read back over REST.
 */

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'gpufleet-e2e-plays-'));
let hostA: TestSshd;
let hostB: TestSshd;
let jump: TestSshd;
let server: ChildServer;
let api: ApiCall;
let token: string;
let keyText: string;

const WRITE_VARS = `- hosts: gpu
  gather_facts: false
  tasks:
    - name: write the variables
      ansible.builtin.copy:
        dest: "{{ out_dir }}/{{ inventory_hostname }}.json"
        content: "{{ {'site': site, 'driver': driver, 'slot': slot, 'run': run_id, 'dflt': dflt} | to_json }}"
`;

beforeAll(async () => {
  const clientKey = join(dir, 'client_key');
  makeKey(clientKey);
  keyText = readFileSync(clientKey, 'utf8');
  [hostA, hostB, jump] = await Promise.all(['a', 'b', 'jump'].map((n) => TestSshd.start(join(dir, `sshd-${n}`), [`${clientKey}.pub`])));
  server = new ChildServer({
    port: await freePort(),
    dataDir: join(dir, 'data'),
    flags: ['--ssh-facts-interval', '1h'],
    env: { GPUFLEET_MASTER_KEY: 'e2e-plays-master-key-0123456789abcdef' },
  });
  await server.start();
  token = readFileSync(join(dir, 'data', 'admin-token'), 'utf8').trim();
  api = apiClient(server.url, token);
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await Promise.all([hostA?.stop(), hostB?.stop(), jump?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

describe('plays through gpufleet server', { timeout: 180_000 }, () => {
  it('runs a template on a group of SSH hosts (one through a jump host) with layered variables; the CLI follows it to SUCCEEDED', async () => {
    const login = { kind: 'key', privateKey: keyText };
    const a = await api('POST', '/api/v1/ssh-hosts', { hostname: 'gpu-a', address: '127.0.0.1', port: hostA.port, user: 'root', login });
    expect(a.status, a.text).toBe(201);
    const b = await api('POST', '/api/v1/ssh-hosts', {
      hostname: 'gpu-b',
      address: '127.0.0.1',
      port: hostB.port,
      user: 'root',
      login,
      hostKey: hostB.hostKeyFingerprint,
      bastion: { address: '127.0.0.1', port: jump.port, user: 'root', login },
    });
    expect(b.status, b.text).toBe(201);
    expect((await api('POST', '/api/v1/groups', { name: 'gpu', priority: 5, members: ['gpu-a', 'gpu-b'] })).status).toBe(201);
    const outDir = join(dir, 'out');
    mkdirSync(outDir);
    for (const body of [
      { scope: 'global', set: { out_dir: outDir, site: 'global', driver: 'global', slot: 'global' } },
      { scope: 'group', target: 'gpu', set: { driver: '550', slot: 'group' } },
      { scope: 'node', target: 'gpu-b', set: { slot: 'b-7' } },
    ]) {
      const r = await api('PUT', '/api/v1/vars', body);
      expect(r.status, r.text).toBe(200);
    }
    const added = await api('POST', '/api/v1/templates', { name: 'write_vars', playbook: WRITE_VARS, vars: { dflt: 'template', driver: 'template' } });
    expect(added.status, added.text).toBe(201);

    const cli = await run(
      process.execPath,
      [CLI_MAIN, '--server', server.url, '--token', token, 'plays', 'run', 'write_vars', '-l', 'group=gpu', '-e', 'run_id=r42', '--reason', 'e2e'],
      {
        cwd: dir,
        env: { ...process.env, NO_COLOR: '1' },
      },
    ).catch((err: { code: number; stdout: string; stderr: string }) => err);
    expect(cli.stderr).toMatch(/play play_\w+ SUCCEEDED/);
    expect(cli.stdout).toContain('TASK [write the variables]');
    expect(cli.stdout).toMatch(/changed: gpu-a/);
    expect(cli.stdout).toMatch(/changed: gpu-b/);
    expect(cli.stdout).toMatch(/^HOST\s+OK\s+CHANGED\s+FAILED\s+UNREACHABLE\s+SKIPPED\s+STATE$/m);
    expect(cli.stdout).toMatch(/^gpu-b\s+1\s+1\s+0\s+0\s+0\s+ok$/m);

    expect(JSON.parse(readFileSync(join(outDir, 'gpu-a.json'), 'utf8'))).toEqual({
      site: 'global',
      driver: '550',
      slot: 'group',
      run: 'r42',
      dflt: 'template',
    });
    expect(JSON.parse(readFileSync(join(outDir, 'gpu-b.json'), 'utf8'))).toEqual({ site: 'global', driver: '550', slot: 'b-7', run: 'r42', dflt: 'template' });

    const plays = (await api('GET', '/api/v1/plays')).body.items;
    expect(plays).toHaveLength(1);
    expect(plays[0]).toMatchObject({ template: 'write_vars', state: 'SUCCEEDED', reason: 'e2e', exitCode: 0 });
    const events = (await api('GET', `/api/v1/plays/${plays[0].id}/events`)).body.items;
    expect(
      events
        .filter((e: { kind: string }) => e.kind === 'recap')
        .map((e: { host: string }) => e.host)
        .sort(),
    ).toEqual(['gpu-a', 'gpu-b']);
    // The run folder is gone but for its artifacts; no key file stays behind.
    expect(readFileSync(join(dir, 'data', 'plays', plays[0].id, 'artifacts.json'), 'utf8')).toContain('SUCCEEDED');
    const audit = (await api('GET', '/api/v1/audit?action=play.start')).body;
    expect(JSON.stringify(audit)).toContain(plays[0].id);
  });

  it('a jump host whose key changed makes its target unreachable; the direct host still runs', async () => {
    await jump.changeHostKey();
    const started = await api('POST', '/api/v1/plays', { template: 'connectivity_check', selector: 'group=gpu' });
    expect(started.status, started.text).toBe(201);
    let play = started.body;
    for (let i = 0; i < 300 && !['SUCCEEDED', 'FAILED', 'CANCELED'].includes(play.state); i++) {
      await new Promise((r) => setTimeout(r, 200));
      play = (await api('GET', `/api/v1/plays/${started.body.id}`)).body;
    }
    expect(play.state).toBe('FAILED');
    expect(play.hosts.map((h: { hostname: string; state: string }) => [h.hostname, h.state])).toEqual([
      ['gpu-a', 'ok'],
      ['gpu-b', 'unreachable'],
    ]);
  });
});
