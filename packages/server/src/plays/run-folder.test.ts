import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { SshHostAccess } from '../jobcenter/job-center-contracts.js';
import { keyTypeOf, knownHostsLine, writeRunFolder, type RunHost } from './run-folder.js';

// An ed25519 key blob: string "ssh-ed25519" then 32 bytes.
const ED_BLOB = Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from('ssh-ed25519'), Buffer.from([0, 0, 0, 32]), Buffer.alloc(32, 7)]).toString('base64');
const RSA_BLOB = Buffer.concat([Buffer.from([0, 0, 0, 7]), Buffer.from('ssh-rsa'), Buffer.alloc(20, 1)]).toString('base64');
const KEY = { algorithm: 'ssh-ed25519', fingerprint: 'SHA256:x', publicKey: ED_BLOB };

function access(over: Partial<SshHostAccess['endpoint']> = {}, bastionKey: SshHostAccess['bastionHostKey'] = null): SshHostAccess {
  return {
    nodeId: 'n1',
    hostname: 'gpu-1',
    endpoint: {
      name: 'gpu-1',
      address: '10.0.0.5',
      port: 2222,
      user: 'ubuntu',
      login: { kind: 'key', privateKey: '-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----', passphrase: null },
      hostKey: { kind: 'pinned', key: KEY },
      bastion: null,
      ...over,
    },
    hostKey: KEY,
    bastionHostKey: bastionKey,
  };
}

function host(a: SshHostAccess, vars: Record<string, unknown> = {}): RunHost {
  return { name: a.hostname, access: a, groups: ['gpu_nodes', 'all'], vars };
}

describe('run folder', () => {
  let dir: string;
  beforeEach(() => {
    dir = join(mkdtempSync(join(tmpdir(), 'gpufleet-runfolder-')), 'run');
  });
  afterEach(() => rmSync(join(dir, '..'), { recursive: true, force: true }));

  it('writes a private folder: inventory with groups, 0600 key, pinned known_hosts, strict ansible.cfg, host vars and defaults', async () => {
    const paths = await writeRunFolder({
      dir,
      playbook: '- hosts: all\n  tasks: []\n',
      hosts: [host(access(), { driver: '550' })],
      defaults: { d: 1 },
      extraVars: { x: 2 },
      sshpass: null,
      controlDir: '/tmp/gpufleet-cp-x1',
    });
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const inventory = parse(readFileSync(join(dir, 'inventory.yml'), 'utf8'));
    const vars = inventory.all.hosts['gpu-1'];
    expect(vars).toMatchObject({ ansible_host: '10.0.0.5', ansible_port: 2222, ansible_user: 'ubuntu', ansible_connection: 'ssh' });
    expect(statSync(vars.ansible_ssh_private_key_file).mode & 0o777).toBe(0o600);
    expect(readFileSync(vars.ansible_ssh_private_key_file, 'utf8')).toMatch(/END OPENSSH PRIVATE KEY-----\n$/);
    expect(inventory.all.children).toEqual({ gpu_nodes: { hosts: { 'gpu-1': null } } });
    expect(readFileSync(join(dir, 'known_hosts'), 'utf8')).toBe(`[10.0.0.5]:2222 ssh-ed25519 ${ED_BLOB}\n`);
    const cfg = readFileSync(paths.config, 'utf8');
    expect(cfg).toContain('host_key_checking = True');
    expect(cfg).toContain(`-o StrictHostKeyChecking=yes -o UserKnownHostsFile=${join(dir, 'known_hosts')}`);
    expect(cfg).not.toMatch(/StrictHostKeyChecking=no/);
    // Master connections live in the play's own control folder only.
    expect(cfg).toContain('-o ControlMaster=auto');
    expect(cfg).toContain('control_path_dir = /tmp/gpufleet-cp-x1');
    expect(parse(readFileSync(join(dir, 'host_vars', 'gpu-1.yml'), 'utf8'))).toEqual({ driver: '550' });
    expect(parse(readFileSync(join(dir, 'group_vars', 'all.yml'), 'utf8'))).toEqual({ d: 1 });
    expect(JSON.parse(readFileSync(paths.extraVars, 'utf8'))).toEqual({ x: 2 });
  });

  it('reaches a host through its jump host with a strict ProxyCommand and both pinned keys', async () => {
    const bastionKey = { algorithm: 'rsa-sha2-512', fingerprint: 'SHA256:j', publicKey: RSA_BLOB };
    const a = access(
      {
        bastion: {
          address: 'jump.example',
          port: 22,
          user: 'jump',
          login: { kind: 'key', privateKey: 'K', passphrase: null },
          hostKey: { kind: 'pinned', key: bastionKey },
        },
      },
      bastionKey,
    );
    await writeRunFolder({ dir, playbook: '- hosts: all\n  tasks: []\n', hosts: [host(a)], defaults: {}, extraVars: {}, sshpass: null, controlDir: '/tmp/cp' });
    expect(readFileSync(join(dir, 'known_hosts'), 'utf8').split('\n')[1]).toBe(`jump.example ssh-rsa ${RSA_BLOB}`);
    const args = parse(readFileSync(join(dir, 'inventory.yml'), 'utf8')).all.hosts['gpu-1'].ansible_ssh_common_args as string;
    expect(args).toMatch(/^-o ProxyCommand=/);
    expect(args).toContain('StrictHostKeyChecking=yes');
    expect(args).toContain("'-W'");
    expect(args).toContain('jump@jump.example');
  });

  it('refuses a password login without sshpass, a key with a passphrase, and a jump host without a pinned key', async () => {
    const pw = access({ login: { kind: 'password', password: 'secret' } });
    await expect(
      writeRunFolder({ dir: `${dir}-1`, playbook: 'x', hosts: [host(pw)], defaults: {}, extraVars: {}, sshpass: null, controlDir: '/tmp/cp' }),
    ).rejects.toMatchObject({
      code: 'failed_precondition',
      message: expect.stringContaining('apt-get install sshpass'),
    });
    const withPass = access({ login: { kind: 'key', privateKey: 'K', passphrase: 'p' } });
    await expect(
      writeRunFolder({ dir: `${dir}-2`, playbook: 'x', hosts: [host(withPass)], defaults: {}, extraVars: {}, sshpass: null, controlDir: '/tmp/cp' }),
    ).rejects.toThrow(/passphrase/);
    const noJumpKey = access({
      bastion: {
        address: 'j',
        port: 22,
        user: 'u',
        login: { kind: 'key', privateKey: 'K', passphrase: null },
        hostKey: { kind: 'fingerprint', fingerprint: 'SHA256:z' },
      },
    });
    await expect(
      writeRunFolder({ dir: `${dir}-3`, playbook: 'x', hosts: [host(noJumpKey)], defaults: {}, extraVars: {}, sshpass: null, controlDir: '/tmp/cp' }),
    ).rejects.toThrow(/no pinned key/);
  });

  it('writes known_hosts lines as OpenSSH reads them', () => {
    expect(knownHostsLine('10.0.0.1', 22, KEY)).toBe(`10.0.0.1 ssh-ed25519 ${ED_BLOB}`);
    expect(knownHostsLine('::1', 2200, KEY)).toBe(`[::1]:2200 ssh-ed25519 ${ED_BLOB}`);
    expect(keyTypeOf({ algorithm: 'rsa-sha2-256', fingerprint: '', publicKey: RSA_BLOB })).toBe('ssh-rsa');
    expect(keyTypeOf({ algorithm: 'rsa-sha2-256', fingerprint: '', publicKey: '' })).toBe('ssh-rsa');
  });
});
