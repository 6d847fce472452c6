import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FleetError } from '@gpufleet/protocol';
import { afterAll, describe, expect, it } from 'vitest';
import { parseHostsFile, readHostsFile, SSH_HOST_DEFAULTS } from './ssh-hosts-file.js';

const opts = { file: 'hosts.yaml', baseDir: '/etc/gpufleet' };

/** The FleetError parseHostsFile throws for `text`. */
function refusal(text: string): FleetError {
  try {
    parseHostsFile(text, opts);
  } catch (err) {
    expect(err).toBeInstanceOf(FleetError);
    expect((err as FleetError).code).toBe('invalid_argument');
    return err as FleetError;
  }
  throw new Error('the hosts file was accepted');
}

/** Its message (the first problem). */
const problem = (text: string) => refusal(text).message;

/** Every problem, as `line:col: path: message`. */
function problems(text: string): string[] {
  const list = (refusal(text).details as { problems: Array<{ line: number; col: number; path: string; message: string }> }).problems;
  return list.map((p) => `${p.line}:${p.col}: ${p.path}: ${p.message}`);
}

describe('parseHostsFile', () => {
  it('fills every default of a host that gives only what it must', () => {
    const [h, ...rest] = parseHostsFile('hosts:\n  - name: gpu-01\n    address: 10.0.0.11\n    key_file: keys/fleet\n', opts);
    expect(rest).toEqual([]);
    expect(h).toEqual({
      name: 'gpu-01',
      address: '10.0.0.11',
      port: 22,
      user: 'root',
      login: { kind: 'key', keyFile: '/etc/gpufleet/keys/fleet', passphraseEnv: null },
      hostKey: null,
      agentCommand: ['gpufleet-agent'],
      installCommand: null,
      dataDir: SSH_HOST_DEFAULTS.dataDir,
      service: 'systemd',
      zone: null,
      instanceType: 'ssh',
      pricePerHour: null,
      gpus: null,
      gpuModel: null,
      labels: {},
    });
  });

  it('reads every field as written', () => {
    const text = `
hosts:
  - name: gpu-02
    address: gpu-02.lab.example
    port: 2222
    user: ubuntu
    password_env: GPU02_PASSWORD
    host_key: SHA256:${'A'.repeat(43)}
    agent_command: node /opt/gpufleet/bin/gpufleet-agent.js
    install_command: curl -fsSL https://example.test/install.sh | sh
    data_dir: /srv/gpufleet/agent
    service: background
    zone: rack-b
    instance_type: a100x4
    price_per_hour: 3.5
    gpus: 4
    gpu_model: A100
    labels: { rack: b, owner: ml-team }
  - name: gpu-03
    address: 10.0.0.13
    key_file: /root/.ssh/id_ed25519
    passphrase_env: KEY_PASSPHRASE
    agent_command: [node, "/opt/with space/agent.js"]
`;
    const [a, b] = parseHostsFile(text, opts);
    expect(a).toMatchObject({
      port: 2222,
      user: 'ubuntu',
      login: { kind: 'password', passwordEnv: 'GPU02_PASSWORD' },
      hostKey: `SHA256:${'A'.repeat(43)}`,
      agentCommand: ['node', '/opt/gpufleet/bin/gpufleet-agent.js'],
      installCommand: 'curl -fsSL https://example.test/install.sh | sh',
      dataDir: '/srv/gpufleet/agent',
      service: 'background',
      zone: 'rack-b',
      instanceType: 'a100x4',
      pricePerHour: 3.5,
      gpus: 4,
      gpuModel: 'A100',
      labels: { rack: 'b', owner: 'ml-team' },
    });
    expect(b?.login).toEqual({ kind: 'key', keyFile: '/root/.ssh/id_ed25519', passphraseEnv: 'KEY_PASSPHRASE' });
    expect(b?.agentCommand).toEqual(['node', '/opt/with space/agent.js']);
  });

  it('names the line, column and field of a wrong value', () => {
    const text = 'hosts:\n  - name: gpu-01\n    address: 10.0.0.11\n    key_file: k\n    port: 70000\n';
    expect(problem(text)).toBe('hosts.yaml:5:11: hosts[0].port: must be at most 65535');
  });

  it('refuses an unknown field and says which one was meant', () => {
    const text = 'hosts:\n  - name: gpu-01\n    hostname: 10.0.0.11\n    key_file: k\n';
    expect(problems(text)).toEqual(['2:5: hosts[0].address: required', '3:5: hosts[0].hostname: unknown field (did you mean address?)']);
  });

  it('refuses a password written in the file, pointing at password_env', () => {
    const text = 'hosts:\n  - name: gpu-01\n    address: a\n    password: hunter2\n';
    expect(problems(text)).toContain('4:5: hosts[0].password: unknown field (did you mean password_env?)');
    expect(JSON.stringify(refusal(text).details)).not.toContain('hunter2');
  });

  it('refuses a host with no way to log in, or two ways', () => {
    expect(problem('hosts:\n  - name: gpu-01\n    address: a\n')).toMatch(/^hosts\.yaml:2:5: hosts\[0\]: needs key_file .* or password_env/);
    expect(problem('hosts:\n  - name: gpu-01\n    address: a\n    key_file: k\n    password_env: P\n')).toMatch(
      /^hosts\.yaml:5:19: hosts\[0\]\.password_env: give key_file or password_env, not both/,
    );
    expect(problem('hosts:\n  - name: gpu-01\n    address: a\n    password_env: P\n    passphrase_env: Q\n')).toMatch(
      /hosts\[0\]\.passphrase_env: is the passphrase of key_file/,
    );
  });

  it('refuses a data dir it could not safely remove', () => {
    for (const dir of ['/', '/var', 'var/lib/x', '/var/lib/../..', '/var//lib', '/var/lib/x/']) {
      expect(problem(`hosts:\n  - name: h\n    address: a\n    key_file: k\n    data_dir: "${dir}"\n`)).toMatch(
        /hosts\[0\]\.data_dir: an absolute path at least two folders deep/,
      );
    }
  });

  it('refuses two hosts of one name, naming the second', () => {
    const text = 'hosts:\n  - name: gpu-01\n    address: a\n    key_file: k\n  - name: gpu-01\n    address: b\n    key_file: k\n';
    expect(problem(text)).toBe("hosts.yaml:5:11: hosts[1].name: 'gpu-01' is already the name of hosts[0]: each host has its own name");
  });

  it('refuses bad names, addresses, users, variables, fingerprints, services and labels', () => {
    const host = (extra: string) => `hosts:\n  - name: h\n    address: a\n    key_file: k\n    ${extra}\n`;
    expect(problem(host('user: "root; rm -rf /"'))).toMatch(/hosts\[0\]\.user: a user name/);
    expect(problem(host('host_key: "SHA256:short"'))).toMatch(/hosts\[0\]\.host_key: a fingerprint/);
    expect(problem(host('service: sysv'))).toMatch(/hosts\[0\]\.service: 'sysv' is not one of systemd, background/);
    expect(problem(host('labels: { "bad key!": x }'))).toMatch(/hosts\[0\]\.labels/);
    expect(problem(host('labels: { pool: other }'))).toMatch(/hosts\[0\]\.labels\.pool: is set by the server or the pool, not by a host/);
    expect(problem(host('labels: { gpu.model: H200 }'))).toMatch(
      /^hosts\.yaml:5:15: hosts\[0\]\.labels\."gpu\.model": is set by the server or the pool, not by a host \(hostname, .*pool\)$/,
    );
    expect(problem(host('price_per_hour: -1'))).toMatch(/hosts\[0\]\.price_per_hour: must be at least 0/);
    expect(problem(host('agent_command: ""'))).toMatch(/hosts\[0\]\.agent_command/);
    expect(problem('hosts:\n  - name: "bad name"\n    address: a\n    key_file: k\n')).toMatch(/^hosts\.yaml:2:11: hosts\[0\]\.name: letters, digits/);
    expect(problem('hosts:\n  - name: h\n    address: "a b"\n    key_file: k\n')).toMatch(/hosts\[0\]\.address: a host name or IP address/);
    expect(problem('hosts:\n  - name: h\n    address: a\n    password_env: "1BAD"\n')).toMatch(/hosts\[0\]\.password_env: an environment variable name/);
  });

  it('refuses garbage: not YAML, not a map, empty, no hosts', () => {
    expect(problem('hosts: [ {name: a\n')).toMatch(/^hosts\.yaml:\d+:\d+: not valid YAML/);
    expect(problem('- just\n- a list\n')).toBe('hosts.yaml:1:1: a hosts file is a map of fields (hosts), not a list');
    expect(problem('')).toBe('hosts.yaml:1:1: the hosts file is empty');
    expect(problem('hosts: []\n')).toBe('hosts.yaml:1:8: hosts: needs at least 1 item');
    expect(problem('hosts: 12\n')).toBe('hosts.yaml:1:8: hosts: expected a list, got the number 12');
    expect(problem('\u0000')).toMatch(/NUL byte/);
  });
});

describe('readHostsFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gpufleet-hosts-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('names the file it cannot read', () => {
    expect(() => readHostsFile(join(dir, 'missing.yaml'), dir)).toThrow(`cannot read the hosts file ${join(dir, 'missing.yaml')}: no such file`);
  });

  it('puts the file path in front of each position, and resolves key files against the base dir', () => {
    const path = join(dir, 'hosts.yaml');
    writeFileSync(path, 'hosts:\n  - name: h\n    address: a\n    key_file: id_ed25519\n    port: x\n');
    expect(() => readHostsFile(path, dir)).toThrow(`${path}:5:11: hosts[0].port: expected a number, got the text 'x'`);
    writeFileSync(path, 'hosts:\n  - name: h\n    address: a\n    key_file: id_ed25519\n');
    expect(readHostsFile(path, '/base')[0]?.login).toEqual({ kind: 'key', keyFile: '/base/id_ed25519', passphraseEnv: null });
  });
});

describe('the example hosts file that examples/pools/cloud.yaml names', () => {
  it('parses, every host of the instance type its lab pool asks for', () => {
    const examples = join(import.meta.dirname, '../../../../../examples/pools');
    expect(readFileSync(join(examples, 'cloud.yaml'), 'utf8')).toContain('hosts_file: hosts.yaml');
    const hosts = readHostsFile(join(examples, 'hosts.yaml'), examples);
    expect(hosts.map((h) => [h.name, h.instanceType, h.login.kind, h.service])).toEqual([
      ['lab-01', 'a100x4', 'key', 'systemd'],
      ['lab-02', 'a100x4', 'password', 'systemd'],
      ['lab-03', 'a100x4', 'key', 'background'],
    ]);
    expect(hosts[0]?.login).toEqual({ kind: 'key', keyFile: join(examples, 'keys/gpufleet_ed25519'), passphraseEnv: null });
  });
});
