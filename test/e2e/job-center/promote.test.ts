import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { hostname as osHostname, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { keyPairFromPem } from '@gpufleet/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { remoteLine, stopScript } from '../../../packages/server/src/pools/providers/ssh-agent-scripts.js';
import { writeFakeGpuTools } from '../../../packages/server/src/ssh-hosts/__tests__/fake-gpu-tools.js';
import { makeKey, TestSshd } from '../../support/test-sshd.js';
import { ChildServer } from '../support/child-server.js';
import { freePort } from '../support/free-port.js';
import { apiClient, type ApiCall } from '../support/http-json.js';
import { waitFor } from '../support/wait-for.js';

/**
 * `nodes promote` end to end (issue 12): `gpufleet server` (the built CLI, with a master key and
 * the promote flags) adds a real sshd host on loopback (root on this machine) through the API,
 * then promotes it: the server writes the node key over SSH, the repo's own agent
 * (packages/agent/dist/bin.js) joins with the single-use promote token and runs in the
 * background, and the node becomes MODE agent and READY through a real agent WebSocket session,
 * keeping its id, name and labels: the host is added under a name other than this machine's
 * hostname (which the agent reports in its inventory), and that name stays.
 */
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const AGENT_COMMAND = `${process.execPath} ${join(REPO, 'packages/agent/dist/bin.js')}`;
const dir = mkdtempSync(join(tmpdir(), 'gpufleet-e2e-promote-'));
const agentDataDir = join(dir, 'host-agent');
const HOST = osHostname() === 'gpu-promote' ? 'gpu-promote-2' : 'gpu-promote';
let host: TestSshd;
let server: ChildServer;
let api: ApiCall;
let keyText: string;
let nodeId: string;
let adminToken: string;

/** The promote waits for the agent's session: longer than the API helper's 10 s. */
async function promote(body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${server.url}/api/v1/ssh-hosts/${HOST}/promote`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(100_000),
  });
  return { status: res.status, body: await res.json() };
}

beforeAll(async () => {
  if (!existsSync(join(REPO, 'packages/agent/dist/bin.js'))) throw new Error('build the agent first: npx tsc -b packages/cli');
  const clientKey = join(dir, 'client_key');
  makeKey(clientKey);
  keyText = readFileSync(clientKey, 'utf8');
  const fakeBin = writeFakeGpuTools(join(dir, 'fake-bin'));
  host = await TestSshd.start(join(dir, 'host'), [`${clientKey}.pub`], { extraConfig: [`SetEnv PATH=${fakeBin}:/usr/sbin:/usr/bin:/sbin:/bin`] });
  server = new ChildServer({
    port: await freePort(),
    dataDir: join(dir, 'data'),
    flags: ['--log-level', 'info', '--heartbeat-interval', '500ms', '--promote-agent-command', AGENT_COMMAND, '--promote-data-dir', agentDataDir],
    env: { GPUFLEET_MASTER_KEY: 'e2e-master-key-0123456789abcdef' },
  });
  await server.start();
  adminToken = readFileSync(join(dir, 'data', 'admin-token'), 'utf8').trim();
  api = apiClient(server.url, adminToken);
  const added = await api('POST', '/api/v1/ssh-hosts', {
    hostname: HOST,
    address: '127.0.0.1',
    port: host.port,
    user: 'root',
    login: { kind: 'key', privateKey: keyText },
    labels: { rack: 'a' },
  });
  if (added.status !== 201) throw new Error(`add failed: ${JSON.stringify(added.body)}`);
  nodeId = added.body.host.nodeId;
}, 90_000);

afterAll(async () => {
  // The provider's stop script: the background agent (by its pid file) and its data dir.
  try {
    execFileSync('/bin/sh', [
      '-c',
      remoteLine({ user: 'root' }, stopScript({ agentCommand: AGENT_COMMAND.split(' '), dataDir: agentDataDir, service: 'background', user: 'root' })),
    ]);
  } catch {
    /* reported by the test that needed it */
  }
  await server?.stop();
  await host?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('nodes promote through gpufleet server and a real sshd', { timeout: 120_000 }, () => {
  it('refuses garbage bodies naming the field, minting no token and leaving the node an SSH node', async () => {
    for (const [body, field] of [
      [{ installCommand: '' }, 'installCommand'],
      [{ timeout: 'forever' }, 'timeout'],
      [{ hostKey: 'x' }, 'hostKey'],
      ['{"reason":', 'JSON'],
    ] as const) {
      const res = await api('POST', `/api/v1/ssh-hosts/${HOST}/promote`, body);
      expect(res.status, JSON.stringify(res.body)).toBe(400);
      expect(JSON.stringify(res.body)).toContain(field);
    }
    expect((await api('GET', '/api/v1/join-tokens')).body.items).toEqual([]);
    expect((await api('GET', `/api/v1/nodes/${nodeId}`)).body).toMatchObject({ mode: 'ssh', status: 'READY' });
  });

  it('promotes: same id, name and labels, MODE agent and READY through the agent session; the key file is 0600', async () => {
    const res = await promote({ reason: 'e2e', timeout: '90s' });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ nodeId, hostname: HOST, mode: 'agent' });
    expect(res.body.steps.map((s: { step: string }) => s.step)).toEqual(['token', 'agent-check', 'node-key', 'join', 'start', 'session', 'finish']);

    const node = await waitFor('the promoted node READY', async () => {
      const n = (await api('GET', `/api/v1/nodes/${nodeId}`)).body;
      return n.status === 'READY' && n.mode === 'agent' ? n : null;
    });
    expect(node).toMatchObject({ id: nodeId, hostname: HOST, mode: 'agent', connected: true, userLabels: { rack: 'a' } });
    // The agent's own inventory (the OS hostname) has arrived, and the node keeps the name it was added under.
    await waitFor('the agent inventory', async () => ((await api('GET', `/api/v1/nodes/${nodeId}`)).body.facts.hostname === osHostname() ? true : null));
    expect((await api('GET', `/api/v1/nodes/${nodeId}`)).body.hostname).toBe(HOST);
    expect(node.labels.rack).toBe('a');
    expect((await api('GET', '/api/v1/nodes')).body.items.map((n: { id: string }) => n.id)).toEqual([nodeId]);
    // The agent is the node: its key file holds the node's own key, private to root.
    const keyFile = join(agentDataDir, 'node.key');
    expect(keyPairFromPem(readFileSync(keyFile, 'utf8')).did).toBe(nodeId);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(statSync(agentDataDir).mode & 0o777).toBe(0o700);
    // The token was single-use and is used up.
    const tokens = (await api('GET', '/api/v1/join-tokens')).body.items;
    expect(tokens).toHaveLength(1);
    expect(tokens[0]).toMatchObject({ state: 'used', reusable: false, labels: { rack: 'a' } });
    expect(tokens[0].description).toContain(nodeId);
    const audit = (await api('GET', '/api/v1/audit?action=ssh-hosts.promote')).body.items;
    expect(audit[0]).toMatchObject({ target: nodeId, result: 'ok' });
  });

  it('the promoted host keeps its SSH access: its record is shown and a play still reaches it over SSH', async () => {
    const host = await api('GET', `/api/v1/ssh-hosts/${HOST}`);
    expect(host.status, JSON.stringify(host.body)).toBe(200);
    expect(host.body).toMatchObject({ nodeId, hostname: HOST });
    // Facts come from the agent now; collecting them over SSH is refused with the reason.
    const collect = await api('POST', `/api/v1/ssh-hosts/${HOST}/collect-facts`);
    expect(collect.status).toBe(412);
    expect(collect.body.error.message).toMatch(/runs the agent/);
    const started = await api('POST', '/api/v1/plays', { template: 'connectivity_check', selector: `hostname=${HOST}` });
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    const play = await waitFor(
      'the play on the promoted host ending',
      async () => {
        const p = (await api('GET', `/api/v1/plays/${started.body.id}`)).body;
        return ['SUCCEEDED', 'FAILED', 'CANCELED'].includes(p.state) ? p : null;
      },
      { timeoutMs: 90_000 },
    );
    expect(play).toMatchObject({ state: 'SUCCEEDED' });
    expect(play.hosts).toEqual([expect.objectContaining({ nodeId, hostname: HOST, state: 'ok', failed: 0, unreachable: 0 })]);
  });

  it('a second promote is refused: it is an agent host now', async () => {
    const again = await promote({});
    expect(again.status).toBe(412);
    expect(again.body.error.message).toMatch(/already an agent host/);
    expect((await api('GET', '/api/v1/join-tokens')).body.items).toHaveLength(1);
  });
});
