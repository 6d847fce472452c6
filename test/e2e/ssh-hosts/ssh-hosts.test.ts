import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFakeGpuTools } from '../../../packages/server/src/ssh-hosts/__tests__/fake-gpu-tools.js';
import { fingerprintOf, makeKey, TestSshd } from '../../support/test-sshd.js';
import { ChildServer } from '../support/child-server.js';
import { freePort } from '../support/free-port.js';
import { apiClient, type ApiCall } from '../support/http-json.js';
import { waitFor } from '../support/wait-for.js';

/**
 * SSH hosts end to end (issue 12): `gpufleet server` (the built CLI, a child process with a master
 * key) adds real sshd hosts through the API (one directly, one through a jump host), collects their
 * facts with fake nvidia-smi on the session PATH, shows them as MODE ssh with GPU readings, refuses
 * a changed host key until trusted, marks a stopped host UNREACHABLE, removes one with `nodes rm`,
 * and never lets a secret out: the SQLite files, the server's log and every API answer are searched.
 */
const PASSWORD = 'Pa55-w0rd-never-shown-9f3e';
const dir = mkdtempSync(join(tmpdir(), 'gpufleet-e2e-ssh-hosts-'));
let keyText: string;
let keyLine: string;
let gpuHost: TestSshd;
let jump: TestSshd;
let server: ChildServer;
let api: ApiCall;
const answers: string[] = [];
let call: ApiCall;

beforeAll(async () => {
  const clientKey = join(dir, 'client_key');
  makeKey(clientKey);
  keyText = readFileSync(clientKey, 'utf8');
  // A line of the key's body: what must never appear anywhere.
  keyLine = keyText.split('\n')[2]!;
  const fakeBin = writeFakeGpuTools(join(dir, 'fake-bin'));
  const sessionPath = [`SetEnv PATH=${fakeBin}:/usr/sbin:/usr/bin:/sbin:/bin`];
  [gpuHost, jump] = await Promise.all([
    TestSshd.start(join(dir, 'gpu-host'), [`${clientKey}.pub`], { extraConfig: sessionPath }),
    TestSshd.start(join(dir, 'jump'), [`${clientKey}.pub`], { extraConfig: sessionPath }),
  ]);
  server = new ChildServer({
    port: await freePort(),
    dataDir: join(dir, 'data'),
    flags: ['--log-level', 'info', '--ssh-facts-interval', '1s'],
    env: { GPUFLEET_MASTER_KEY: 'e2e-master-key-0123456789abcdef' },
  });
  await server.start();
  const token = readFileSync(join(dir, 'data', 'admin-token'), 'utf8').trim();
  api = apiClient(server.url, token);
  // Every answer is kept for the secret search at the end.
  call = async (method, path, body) => {
    const res = await api(method, path, body);
    answers.push(JSON.stringify(res.body));
    return res;
  };
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await Promise.all([gpuHost?.stop(), jump?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

const login = () => ({ kind: 'key', privateKey: keyText });

describe('SSH hosts through gpufleet server', { timeout: 45_000 }, () => {
  it('refuses garbage bodies naming the field, adding nothing', async () => {
    const missing = await call('POST', '/api/v1/ssh-hosts', { hostname: 'gpu-07', address: '127.0.0.1', user: 'root' });
    expect(missing.status).toBe(400);
    expect(JSON.stringify(missing.body)).toContain('login');
    const extra = await call('POST', '/api/v1/ssh-hosts', { hostname: 'gpu-07', address: '127.0.0.1', user: 'root', login: login(), sudo: true });
    expect(extra.status).toBe(400);
    const badKey = await call('POST', '/api/v1/ssh-hosts', { hostname: 'gpu-07', address: '127.0.0.1', user: 'root', login: login(), hostKey: 'md5:00' });
    expect(badKey.status).toBe(400);
    expect(JSON.stringify(badKey.body)).toContain('hostKey');
    expect((await call('GET', '/api/v1/ssh-hosts')).body.items).toEqual([]);
  });

  it('probes the key a host presents without logging in or storing anything', async () => {
    const res = await call('POST', '/api/v1/ssh-hosts/probe', { address: '127.0.0.1', port: gpuHost.port });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toEqual({ hostKey: { algorithm: 'ssh-ed25519', fingerprint: gpuHost.hostKeyFingerprint } });
    const closed = await call('POST', '/api/v1/ssh-hosts/probe', { address: '127.0.0.1', port: await freePort() });
    expect(closed.status).toBe(503);
    expect((await call('GET', '/api/v1/ssh-hosts')).body.items).toEqual([]);
  });

  it('adds a host: pins its key, collects its GPUs, shows it as MODE ssh READY with readings, selectable by label', async () => {
    const res = await call('POST', '/api/v1/ssh-hosts', {
      hostname: 'gpu-07',
      address: '127.0.0.1',
      port: gpuHost.port,
      user: 'root',
      login: login(),
      labels: { rack: 'a' },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.host.hostKey).toMatchObject({ fingerprint: gpuHost.hostKeyFingerprint, source: 'first-use' });
    const node = (await call('GET', '/api/v1/nodes/gpu-07')).body;
    expect(node).toMatchObject({ mode: 'ssh', status: 'READY', hostname: 'gpu-07' });
    expect(node.gpus[0].name).toMatch(/RTX 4000/);
    expect(node.gpus[0].sample.temperatureC).toBeTypeOf('number');
    expect(node.labels['gpu.vendor']).toBe('nvidia');
    const selected = (await call('GET', '/api/v1/nodes?selector=rack%3Da,gpu.vendor%3Dnvidia')).body.items.map((n: { hostname: string }) => n.hostname);
    expect(selected).toEqual(['gpu-07']);
    const gpus = (await call('GET', '/api/v1/gpus')).body;
    expect(JSON.stringify(gpus)).toContain('gpu-07');
    expect(
      (await call('POST', '/api/v1/ssh-hosts', { hostname: 'gpu-07', address: '127.0.0.1', port: gpuHost.port, user: 'root', login: login() })).status,
    ).toBe(409);
  });

  it('adds a host through a jump host with the given fingerprint; a wrong password is refused and stores nothing', async () => {
    const res = await call('POST', '/api/v1/ssh-hosts', {
      hostname: 'gpu-08',
      address: '127.0.0.1',
      port: gpuHost.port,
      user: 'root',
      login: login(),
      hostKey: fingerprintOf(`${gpuHost.hostKeyPath}.pub`),
      bastion: { address: '127.0.0.1', port: jump.port, user: 'root', login: login() },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.host).toMatchObject({ bastion: `root@127.0.0.1:${jump.port}`, hostKey: { source: 'given' } });
    const wrong = await call('POST', '/api/v1/ssh-hosts', {
      hostname: 'gpu-09',
      address: '127.0.0.1',
      port: gpuHost.port,
      user: 'root',
      login: { kind: 'password', password: PASSWORD },
    });
    expect(wrong.status).toBeGreaterThanOrEqual(400);
    expect((await call('GET', '/api/v1/ssh-hosts')).body.items.map((h: { hostname: string }) => h.hostname)).toEqual(['gpu-07', 'gpu-08']);
  });

  it('refuses a changed host key with both fingerprints until that key is trusted', async () => {
    const before = gpuHost.hostKeyFingerprint;
    await gpuHost.changeHostKey();
    // A periodic pass begun before the change may still answer for the first call: ask until the new key is seen.
    const seen = await waitFor('the changed key refused', async () => {
      const host = (await call('POST', '/api/v1/ssh-hosts/gpu-07/collect-facts')).body;
      return host.refusedHostKey ? host : null;
    });
    expect(seen.reachable).toBe(false);
    expect(seen.lastError).toContain(before);
    expect(seen.lastError).toContain(gpuHost.hostKeyFingerprint);
    expect(seen.refusedHostKey.fingerprint).toBe(gpuHost.hostKeyFingerprint);
    expect((await call('GET', '/api/v1/nodes/gpu-07')).body.status).toBe('UNREACHABLE');
    const wrong = await call('POST', '/api/v1/ssh-hosts/gpu-07/trust-host-key', { fingerprint: before, reason: 'no' });
    expect(wrong.status).toBe(412);
    const trusted = await call('POST', '/api/v1/ssh-hosts/gpu-07/trust-host-key', { fingerprint: gpuHost.hostKeyFingerprint, reason: 'reinstalled' });
    expect(trusted.status, JSON.stringify(trusted.body)).toBe(200);
    expect(trusted.body).toMatchObject({ reachable: true, refusedHostKey: null, hostKey: { source: 'operator' } });
    expect((await call('GET', '/api/v1/nodes/gpu-07')).body.status).toBe('READY');
    const audit = (await call('GET', '/api/v1/audit?action=ssh-hosts.trust-host-key')).body.items;
    expect(audit[0]).toMatchObject({ result: 'ok', details: { reason: 'reinstalled' } });
  });

  it('a stopped host becomes UNREACHABLE on the periodic pass; nodes rm deletes its SSH record; rotation re-seals', async () => {
    await gpuHost.stop();
    await waitFor('gpu-07 UNREACHABLE', async () => ((await call('GET', '/api/v1/nodes/gpu-07')).body.status === 'UNREACHABLE' ? true : null), {
      timeoutMs: 15_000,
    });
    const host = (await call('GET', '/api/v1/ssh-hosts/gpu-07')).body;
    expect(host.reachable).toBe(false);
    expect(host.lastError).toBeTruthy();
    expect((await call('GET', '/api/v1/nodes?status=UNREACHABLE')).body.items.map((n: { hostname: string }) => n.hostname)).toContain('gpu-07');
    expect((await call('DELETE', '/api/v1/nodes/gpu-08')).status).toBeLessThan(300);
    await waitFor('gpu-08 SSH record gone', async () => ((await call('GET', '/api/v1/ssh-hosts')).body.items.length === 1 ? true : null));
    const rotated = await call('POST', '/api/v1/credentials/rotate');
    // The control plane key is sealed with the same master key: nothing of its own to re-seal.
    expect(rotated.body).toEqual({ rotated: 2, keyVersion: 1, sealedRecords: { resealed: 0, current: 1, unopenable: [] } });
  });

  it('never lets a secret out: not in the database files, the server log or any API answer', async () => {
    const dataDir = join(dir, 'data');
    const dbFiles = readdirSync(dataDir).filter((f) => f.includes('.db'));
    expect(dbFiles.length).toBeGreaterThan(0);
    for (const f of dbFiles) {
      const bytes = readFileSync(join(dataDir, f)).toString('latin1');
      expect(bytes.includes(keyLine), f).toBe(false);
      expect(bytes.includes(PASSWORD), f).toBe(false);
    }
    expect(server.output).toContain('SSH host added');
    expect(server.output.includes(keyLine)).toBe(false);
    expect(server.output.includes(PASSWORD)).toBe(false);
    const all = answers.join('\n');
    expect(all.includes(keyLine)).toBe(false);
    expect(all.includes(PASSWORD)).toBe(false);
  });
});
