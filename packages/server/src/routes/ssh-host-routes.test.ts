import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../testing/test-server.js';

/**
 * The SSH host routes on a real server started without a master key (GPUFLEET_MASTER_KEY unset):
 * roles, garbage bodies and params refused naming the field, an add refused saying how to set a
 * master key, unknown hosts. The real-sshd flows are in test/e2e/ssh-hosts.
 */
let t: TestServer;
let viewer: string;
let operator: string;
const KEY = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAnotreal\n-----END OPENSSH PRIVATE KEY-----\n';
const body = { hostname: 'gpu-07', address: '127.0.0.1', port: 22, user: 'root', login: { kind: 'key', privateKey: KEY } };

beforeAll(async () => {
  delete process.env.GPUFLEET_MASTER_KEY;
  t = await startTestServer();
  viewer = (await t.api('POST', '/api/v1/api-tokens', { name: 'v', role: 'viewer' })).body.token;
  operator = (await t.api('POST', '/api/v1/api-tokens', { name: 'o', role: 'operator' })).body.token;
});
afterAll(() => t?.close());

describe('SSH host routes', () => {
  it('without a master key, adding is refused and says how to set one; nothing is stored or echoed', async () => {
    const res = await t.api('POST', '/api/v1/ssh-hosts', body);
    expect(res.status).toBe(412);
    expect(res.body.error.message).toMatch(/set GPUFLEET_MASTER_KEY/);
    expect(res.text).not.toContain('b3BlbnNzaC1rZXktdjEAAAAAnotreal');
    expect((await t.api('GET', '/api/v1/ssh-hosts')).body).toEqual({ items: [] });
    expect((await t.api('GET', '/api/v1/nodes')).body.items).toEqual([]);
    const audit = (await t.api('GET', '/api/v1/audit?action=ssh-hosts.add')).body.items;
    expect(audit[0]).toMatchObject({ result: 'error', target: 'gpu-07' });
    expect(JSON.stringify(audit)).not.toContain('b3BlbnNzaC1rZXktdjEAAAAAnotreal');
  });

  it.each([
    [{ ...body, hostname: 'bad name' }, 'hostname'],
    [{ ...body, port: 70000 }, 'port'],
    [{ ...body, user: 'x y' }, 'user'],
    [{ ...body, login: { kind: 'token', token: 'x' } }, 'login'],
    [{ ...body, hostKey: 'SHA256:short' }, 'hostKey'],
    [{ ...body, labels: { 'bad key!': 'x' } }, 'labels'],
    [{ ...body, extra: 1 }, 'extra'],
  ])('refuses a garbage add naming the field (%#)', async (bad, field) => {
    const res = await t.api('POST', '/api/v1/ssh-hosts', bad);
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body)).toContain(field);
  });

  it('checks roles: viewers read, operators collect facts, only admins add, trust keys and rotate', async () => {
    expect((await t.api('GET', '/api/v1/ssh-hosts', undefined, viewer)).status).toBe(200);
    expect((await t.api('POST', '/api/v1/ssh-hosts', body, operator)).status).toBe(403);
    expect((await t.api('POST', '/api/v1/ssh-hosts/probe', { address: '127.0.0.1' }, operator)).status).toBe(403);
    expect((await t.api('POST', '/api/v1/credentials/rotate', undefined, operator)).status).toBe(403);
    expect((await t.api('POST', '/api/v1/ssh-hosts/gpu-07/trust-host-key', { fingerprint: `SHA256:${'a'.repeat(43)}`, reason: 'x' }, operator)).status).toBe(
      403,
    );
    expect((await t.api('POST', '/api/v1/ssh-hosts/gpu-07/collect-facts', undefined, viewer)).status).toBe(403);
    expect((await t.api('POST', '/api/v1/ssh-hosts/gpu-07/collect-facts', undefined, operator)).status).toBe(404);
  });

  it('unknown hosts are not found; a bad trust body names the field; rotation without a key says how to set one', async () => {
    expect((await t.api('GET', '/api/v1/ssh-hosts/nobody')).status).toBe(404);
    const bad = await t.api('POST', '/api/v1/ssh-hosts/nobody/trust-host-key', { fingerprint: 'nope' });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('fingerprint');
    const rotate = await t.api('POST', '/api/v1/credentials/rotate');
    expect(rotate.status).toBe(412);
    expect(rotate.body.error.message).toMatch(/GPUFLEET_MASTER_KEY/);
  });
});
