import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AddSshHostRequest, SshHostView } from '@gpufleet/protocol';
import { runCli } from '../cli.js';
import { captureIo, type CaptureOptions } from '../testing/capture-io.js';
import { FakeRunApi } from '../testing/fake-run-api.js';
import { sampleGpu, sampleNode } from '../testing/sample-node.js';

const NOW = Date.UTC(2026, 11, 5, 12, 10, 0);
const T0 = '2026-12-05T12:00:00.000Z';
const FP = `SHA256:${'u'.repeat(43)}`;
const KEY_TEXT = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE\n-----END OPENSSH PRIVATE KEY-----\n';
let home: string;
let api: FakeRunApi;

function hostOf(name: string, over: Partial<SshHostView> = {}): SshHostView {
  return {
    nodeId: `did:key:z6Mk${name}`,
    hostname: name,
    address: '10.0.0.7',
    port: 22,
    user: 'root',
    bastion: null,
    loginKind: 'key',
    hostKey: { algorithm: 'ssh-ed25519', fingerprint: FP, pinnedAt: T0, source: 'first-use' },
    refusedHostKey: null,
    reachable: true,
    lastContactAt: T0,
    lastError: null,
    factsAt: T0,
    credentialKeyVersion: 1,
    ...over,
  };
}

beforeAll(() => {
  home = mkdtempSync(join(tmpdir(), 'gpufleet-ssh-cli-'));
  mkdirSync(join(home, 'keys'));
  writeFileSync(join(home, 'keys', 'id'), KEY_TEXT);
  writeFileSync(join(home, 'keys', 'not-a-key'), 'hello\n');
  writeFileSync(
    join(home, 'hosts.yaml'),
    'hosts:\n  - { name: gpu-07, address: 10.0.0.7, key_file: keys/id, labels: { rack: a } }\n  - { name: gpu-08, address: 10.0.0.8, port: 2222, user: ubuntu }\n',
  );
  writeFileSync(
    join(home, 'ansible.yaml'),
    [
      'all:',
      '  vars: { ansible_user: ubuntu }',
      '  hosts:',
      '    gpu-10: { ansible_host: 10.0.0.10, ansible_ssh_private_key_file: keys/id }',
      '  children:',
      '    rack_b:',
      '      vars: { ansible_port: 2222, site: b }',
      '      hosts:',
      '        gpu-11: { ansible_host: 10.0.0.11, ansible_user: root }',
      '        gpu-12:',
      '',
    ].join('\n'),
  );
  writeFileSync(join(home, 'bad-port.yaml'), 'hosts:\n  - name: gpu-07\n    address: 10.0.0.7\n    port: ninety\n');
  writeFileSync(join(home, 'bad-field.yaml'), 'hosts:\n  - name: gpu-07\n    host: 10.0.0.7\n');
  writeFileSync(join(home, 'bad-yaml.yaml'), 'hosts: [\n');
  writeFileSync(join(home, 'bad-ansible.yaml'), 'all:\n  hosts:\n    gpu-1: { ansible_port: 70000 }\n');
  writeFileSync(join(home, 'bad-group.yaml'), 'all:\n  children:\n    9lives:\n      hosts:\n        gpu-1:\n');
});
afterAll(() => rmSync(home, { recursive: true, force: true }));
beforeEach(async () => {
  api = await new FakeRunApi().start();
  api.json.set('POST /api/v1/ssh-hosts', (req) => {
    const body = req.body as AddSshHostRequest;
    if (body.hostname === 'gpu-08')
      return { status: 503, body: { error: { code: 'unavailable', message: 'cannot add gpu-08: connect ECONNREFUSED 10.0.0.8:2222' } } };
    return { status: 201, body: { host: hostOf(body.hostname, { address: body.address, port: body.port, user: body.user }), pinnedNow: true } };
  });
  for (const name of ['gpu-07', 'gpu-10', 'gpu-11', 'gpu-12'])
    api.json.set(`GET /api/v1/nodes/did:key:z6Mk${name}`, () => ({
      body: sampleNode({ id: `did:key:z6Mk${name}`, hostname: name, gpus: [sampleGpu(0), sampleGpu(1)] }),
    }));
});
afterEach(() => api.close());

async function run(argv: string[], opts: CaptureOptions = {}) {
  const io = captureIo({ home, cwd: home, columns: 200, ...opts });
  const code = await runCli(['--server', api.url, '--token', 'gft_t_s', ...argv], io, { now: () => NOW });
  return { code, stdout: io.stdout, stderr: io.stderr };
}
const posts = (path: string) => api.requests.filter((r) => r.method === 'POST' && r.path === path).map((r) => r.body);

describe('gpufleet nodes add --ssh', () => {
  it('sends the key text, port, labels and bastion; prints the pinned fingerprint and the GPUs', async () => {
    const r = await run([
      'nodes',
      'add',
      'gpu-07',
      '--ssh',
      'root@10.0.0.7:2200',
      '--key',
      'keys/id',
      '--bastion',
      'jump@bastion.example.org',
      '-L',
      'rack=a',
      '-L',
      'team=ml',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(posts('/api/v1/ssh-hosts')).toEqual([
      {
        hostname: 'gpu-07',
        address: '10.0.0.7',
        port: 2200,
        user: 'root',
        login: { kind: 'key', privateKey: KEY_TEXT },
        bastion: { address: 'bastion.example.org', port: 22, user: 'jump', login: { kind: 'key', privateKey: KEY_TEXT } },
        labels: { rack: 'a', team: 'ml' },
      },
    ]);
    expect(r.stdout).toContain(`host key pinned: ssh-ed25519 ${FP} (first use)`);
    expect(r.stdout).toMatch(/GPUs: 2x/);
  });

  it('reads a password and a passphrase from the environment only', async () => {
    const r = await run(['nodes', 'add', 'gpu-07', '--ssh', 'root@10.0.0.7', '--password-env', 'GPU_PW', '--host-key', FP], { env: { GPU_PW: 'hunter2' } });
    expect(r.code).toBe(0);
    expect(posts('/api/v1/ssh-hosts')[0]).toMatchObject({ login: { kind: 'password', password: 'hunter2' }, hostKey: FP, port: 22 });
  });

  it.each([
    [['nodes', 'add', 'gpu-07', '--key', 'keys/id'], /--ssh user@host/],
    [['nodes', 'add', 'gpu-07', '--ssh', '10.0.0.7', '--key', 'keys/id'], /must be user@host/],
    [['nodes', 'add', 'gpu-07', '--ssh', 'root@10.0.0.7:99999', '--key', 'keys/id'], /port 99999/],
    [['nodes', 'add', 'gpu-07', '--ssh', 'root@10.0.0.7'], /--key FILE/],
    [['nodes', 'add', 'gpu-07', '--ssh', 'root@10.0.0.7', '--key', 'keys/missing'], /no such file/],
    [['nodes', 'add', 'gpu-07', '--ssh', 'root@10.0.0.7', '--key', 'keys/not-a-key'], /not a private key/],
    [['nodes', 'add', 'gpu-07', '--ssh', 'root@10.0.0.7', '--key', 'keys'], /is a folder/],
    [['nodes', 'add', 'gpu-07', '--ssh', 'root@10.0.0.7', '--password-env', 'NOPE'], /NOPE: the environment variable is not set/],
    [['nodes', 'add', 'gpu-07', '--ssh', 'root@10.0.0.7', '--key', 'keys/id', '--host-key', 'md5:aa'], /--host-key 'md5:aa'/],
    [['nodes', 'add', 'gpu-07', '--ssh', 'root@10.0.0.7', '--key', 'keys/id', '--port', 'x'], /--port 'x'/],
    [['nodes', 'add', 'gpu-07', '--ssh', 'root@10.0.0.7', '--key', 'keys/id', '-L', 'rack'], /key=value/],
    [['nodes', 'add', 'gpu-07', '--ssh', 'root@10.0.0.7', '--key', 'keys/id', '--bastion-key', 'keys/id'], /--bastion-key needs --bastion/],
    [['nodes', 'add', 'bad name', '--ssh', 'root@10.0.0.7', '--key', 'keys/id'], /not a hostname/],
    [['nodes', 'add', 'gpu-07', '--ssh-inventory', 'hosts.yaml'], /give no NAME/],
  ])('refuses %j before any request', async (argv, message) => {
    const r = await run(argv);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(api.requests).toEqual([]);
  });

  it('shows the server refusal as one line', async () => {
    api.json.set('POST /api/v1/ssh-hosts', () => ({
      status: 412,
      body: { error: { code: 'failed_precondition', message: 'adding an SSH host needs a master key to seal credentials: set GPUFLEET_MASTER_KEY' } },
    }));
    const r = await run(['nodes', 'add', 'gpu-07', '--ssh', 'root@10.0.0.7', '--key', 'keys/id']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/set GPUFLEET_MASTER_KEY/);
  });
});

describe('gpufleet nodes add --ssh-inventory', () => {
  it('adds each host of our file, one row each, progress on stderr, failing hosts named with the reason', async () => {
    const r = await run(['nodes', 'add', '--ssh-inventory', 'hosts.yaml', '--key', 'keys/id']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('[1/2] adding gpu-07');
    expect(r.stderr).toContain('1 of 2 hosts could not be added');
    expect(r.stdout).toMatch(/gpu-07\s+ok\s+SHA256:u+\s+2 GPUs/);
    expect(r.stdout).toMatch(/gpu-08\s+failed\s+cannot add gpu-08: connect ECONNREFUSED/);
    expect(posts('/api/v1/ssh-hosts').map((b) => [b.hostname, b.port, b.user, b.labels])).toEqual([
      ['gpu-07', 22, 'root', { rack: 'a' }],
      ['gpu-08', 2222, 'ubuntu', {}],
    ]);
  });

  it('reads an Ansible inventory: group vars for their hosts, a host’s own win, key files relative to the inventory', async () => {
    api.json.set('POST /api/v1/groups', (req) => ({ status: 201, body: { name: req.body.name } }));
    api.json.set('PUT /api/v1/vars', () => ({ body: {} }));
    const r = await run(['nodes', 'add', '--ssh-inventory', 'ansible.yaml', '--key', 'keys/id', '-o', 'json']);
    expect(r.code).toBe(0);
    // Its groups come along: rack_b with its hosts and its own variables but the connection ones.
    expect(r.stderr).toContain('group rack_b: created with 2 host(s), variables site');
    expect(posts('/api/v1/groups')).toEqual([{ name: 'rack_b', members: ['gpu-11', 'gpu-12'], description: 'from the inventory ansible.yaml' }]);
    expect(api.requests.filter((q) => q.method === 'PUT').map((q) => q.body)).toEqual([{ scope: 'group', target: 'rack_b', set: { site: 'b' } }]);
    expect(JSON.parse(r.stdout).items.map((i: { result: string }) => i.result)).toEqual(['ok', 'ok', 'ok']);
    expect(posts('/api/v1/ssh-hosts').map((b) => [b.hostname, b.address, b.port, b.user])).toEqual([
      ['gpu-10', '10.0.0.10', 22, 'ubuntu'],
      ['gpu-11', '10.0.0.11', 2222, 'root'],
      ['gpu-12', 'gpu-12', 2222, 'ubuntu'],
    ]);
  });

  it('an inventory group that exists gets the added hosts as members; a host that failed to be added is not one', async () => {
    writeFileSync(
      join(home, 'ansible-groups.yaml'),
      [
        'all:',
        '  children:',
        '    gpu_nodes:',
        '      hosts:',
        '        gpu-07: { ansible_host: 10.0.0.7 }',
        '        gpu-08: { ansible_host: 10.0.0.8 }',
        '',
      ].join('\n'),
    );
    api.json.set('GET /api/v1/groups/gpu_nodes', () => ({ body: { name: 'gpu_nodes' } }));
    api.json.set('PATCH /api/v1/groups/gpu_nodes', () => ({ body: { name: 'gpu_nodes' } }));
    const r = await run(['nodes', 'add', '--ssh-inventory', 'ansible-groups.yaml', '--key', 'keys/id']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('group gpu_nodes: added 1 host(s)');
    expect(api.requests.filter((q) => q.method === 'PATCH').map((q) => q.body)).toEqual([{ add: ['gpu-07'] }]);
    expect(posts('/api/v1/groups')).toEqual([]);
  });

  it.each([
    ['bad-group.yaml', /bad-group\.yaml:\d+:\d+: all\.children\.9lives: '9lives' cannot be a group name/],
    ['bad-port.yaml', /bad-port\.yaml:4:11: hosts\[0\]\.port/],
    ['bad-field.yaml', /bad-field\.yaml:2:5: hosts\[0\]\.address: required \(and 1 more problem\)/],
    ['bad-yaml.yaml', /bad-yaml\.yaml:\d+:\d+: not valid YAML/],
    ['bad-ansible.yaml', /bad-ansible\.yaml:3:\d+: all\.hosts\.gpu-1\.ansible_port/],
    ['missing.yaml', /no such file/],
  ])('refuses %s naming file:line:col, adding nothing', async (file, message) => {
    const r = await run(['nodes', 'add', '--ssh-inventory', file, '--key', 'keys/id']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(api.requests).toEqual([]);
  });
});

describe('SSH host commands', () => {
  it('trust-hostkey sends the fingerprint and reason; garbage is refused first', async () => {
    api.json.set('POST /api/v1/ssh-hosts/gpu-07/trust-host-key', () => ({
      body: hostOf('gpu-07', { hostKey: { algorithm: 'ssh-ed25519', fingerprint: FP, pinnedAt: T0, source: 'operator' } }),
    }));
    const r = await run(['nodes', 'trust-hostkey', 'gpu-07', '--fingerprint', FP, '--reason', 'reinstalled']);
    expect(r.code).toBe(0);
    expect(posts('/api/v1/ssh-hosts/gpu-07/trust-host-key')).toEqual([{ fingerprint: FP, reason: 'reinstalled' }]);
    expect(r.stdout).toContain('(operator');
    const bad = await run(['nodes', 'trust-hostkey', 'gpu-07', '--fingerprint', 'SHA256:short', '--reason', 'x']);
    expect(bad.code).toBe(2);
    const noReason = await run(['nodes', 'trust-hostkey', 'gpu-07', '--fingerprint', FP]);
    expect(noReason.code).toBe(2);
    expect(posts('/api/v1/ssh-hosts/gpu-07/trust-host-key')).toHaveLength(1);
  });

  it('collect-facts shows the host; an unreachable one exits 1 with the reason', async () => {
    api.json.set('POST /api/v1/ssh-hosts/gpu-07/collect-facts', () => ({
      body: hostOf('gpu-07', { reachable: false, lastError: `host key of gpu-07 changed: pinned ${FP}, presented SHA256:new` }),
    }));
    const r = await run(['nodes', 'collect-facts', 'gpu-07']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('Last error:    host key of gpu-07 changed');
    expect(r.stderr).toContain('gpu-07 is unreachable');
  });

  it('ssh-hosts ls fits 100 columns, get shows the detail, credentials rotate prints the count', async () => {
    api.json.set('GET /api/v1/ssh-hosts', () => ({
      body: {
        items: [
          hostOf('gpu-07'),
          hostOf('gpu-08', { bastion: 'jump@bastion:22', reachable: false, refusedHostKey: { algorithm: 'ssh-ed25519', fingerprint: FP, seenAt: T0 } }),
        ],
      },
    }));
    const ls = await run(['ssh-hosts', 'ls']);
    expect(ls.code).toBe(0);
    expect(ls.stdout).toMatch(/^NAME\s+ADDRESS\s+USER\s+BASTION\s+REACHABLE\s+LAST CONTACT/);
    expect(ls.stdout).toContain('no: host key changed');
    for (const line of ls.stdout.split('\n')) expect(line.length).toBeLessThanOrEqual(100);
    api.json.set('GET /api/v1/ssh-hosts/gpu-07', () => ({ body: hostOf('gpu-07') }));
    expect((await run(['ssh-hosts', 'get', 'gpu-07'])).stdout).toContain(`Host key:      ssh-ed25519 ${FP} (first-use`);
    api.json.set('POST /api/v1/credentials/rotate', () => ({ body: { rotated: 4, keyVersion: 2 } }));
    expect((await run(['credentials', 'rotate'])).stdout).toBe('re-sealed 4 credentials under master key version 2\n');
  });

  it('credentials rotate says how many control plane records it re-sealed, and warns of any neither key opens', async () => {
    const sealedRecords = { resealed: 3, current: 1, unopenable: [] as string[] };
    api.json.set('POST /api/v1/credentials/rotate', () => ({ body: { rotated: 4, keyVersion: 2, sealedRecords } }));
    const done = await run(['credentials', 'rotate']);
    expect(done.stdout).toBe('re-sealed 4 credentials under master key version 2\nre-sealed 3 control plane records (1 already under that key)\n');
    expect(done.stderr).toBe('');
    expect(JSON.parse((await run(['credentials', 'rotate', '-o', 'json'])).stdout)).toEqual({ rotated: 4, keyVersion: 2, sealedRecords });

    sealedRecords.unopenable = ['release-key.ab12', 'server-tls.ca'];
    const lost = await run(['credentials', 'rotate', '-o', 'json']);
    expect(lost.code).toBe(0);
    expect(JSON.parse(lost.stdout).sealedRecords.unopenable).toEqual(['release-key.ab12', 'server-tls.ca']);
    expect(lost.stderr).toBe(
      'warning: neither master key opens these 2 sealed records: release-key.ab12, server-tls.ca; keep GPUFLEET_MASTER_KEY_PREVIOUS until they are restored, or they are lost with it\n',
    );
  });

  it('nodes ls shows MODE and UNREACHABLE', async () => {
    api.json.set('GET /api/v1/nodes', () => ({
      body: {
        items: [
          sampleNode({ hostname: 'agent-1', now: NOW }),
          sampleNode({ id: 'did:key:z6MkSsh', hostname: 'gpu-07', status: 'UNREACHABLE', mode: 'ssh', now: NOW }),
        ],
        total: 2,
      },
    }));
    const r = await run(['nodes', 'ls']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^NAME\s+ID\s+STATUS\s+MODE/);
    expect(r.stdout).toMatch(/gpu-07\s+\S+\s+UNREACHABLE\s+ssh/);
    expect(r.stdout).toMatch(/agent-1\s+\S+\s+READY\s+agent/);
  });
});
