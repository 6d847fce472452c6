import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProviderError, type ProvisionRequest } from '../../../packages/server/src/pools/providers/cloud-provider.js';
import { memoryProviderContext } from '../../../packages/server/src/pools/providers/__tests__/memory-provider-context.js';
import { createSshProvider } from '../../../packages/server/src/pools/providers/ssh-provider.js';
import { startTestServer, type TestServer } from '../../../packages/server/src/testing/test-server.js';
import { Cleanups } from '../support/cleanups.js';
import { freePort } from '../support/free-port.js';
import { waitFor } from '../support/wait-for.js';
import { makeKey, TestSshd } from '../../support/test-sshd.js';

/**
 * The ssh provider against real sshd processes on loopback ports and a real control plane: a
 * provision logs in, joins the built agent to the server with a single-use token and starts it in
 * the background; terminate stops it and gives the host back. The refusals (a changed host key,
 * wrong credentials, a port nobody answers, no free host, a garbage hosts file) each get the
 * error kind the pool manager acts on.
 */

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
/** The agent as packages/agent/package.json's `bin` names it. */
const AGENT_BIN = resolve(REPO, 'packages/agent', JSON.parse(readFileSync(resolve(REPO, 'packages/agent/package.json'), 'utf8')).bin['gpufleet-agent']);
const MASTER_KEY = 'ssh-provider-e2e-master-key';

describe('ssh provider (real sshd, real agent, real server)', () => {
  const cleanups = new Cleanups();
  let dir = '';
  let sshdA: TestSshd;
  let sshdB: TestSshd;
  let server: TestServer;
  /** Every agent pid seen, killed at the end whatever happened. */
  const pids = new Set<number>();

  beforeAll(async () => {
    if (!existsSync(resolve(REPO, 'packages/agent/dist/bin.js'))) throw new Error('the agent is not built: run `npm run build` first (`npm test` does it)');
    dir = mkdtempSync(join(tmpdir(), 'gpufleet-ssh-e2e-'));
    cleanups.add('temp dir', () => rmSync(dir, { recursive: true, force: true }));
    // Agents run detached (setsid): whatever a failed test left running is killed by its pid file.
    cleanups.add('agents', () => {
      killAgentsUnder(join(dir, 'agents'));
      for (const pid of pids) killOurAgent(pid);
    });
    makeKey(join(dir, 'client_key'));
    makeKey(join(dir, 'wrong_key'));
    sshdA = await TestSshd.start(join(dir, 'sshd-a'), [join(dir, 'client_key.pub')]);
    cleanups.add('sshd a', () => sshdA.stop());
    sshdB = await TestSshd.start(join(dir, 'sshd-b'), [join(dir, 'client_key.pub')]);
    cleanups.add('sshd b', () => sshdB.stop());
    server = await startTestServer({ heartbeatInterval: '200ms', offlineAfter: 3 });
    cleanups.add('server', () => server.close());
  }, 60_000);

  afterAll(() => cleanups.run());

  /** A host entry that runs the built agent in the background with its own data dir. */
  const agentHost = (name: string, sshd: TestSshd, extra: Record<string, unknown> = {}) => ({
    name,
    address: '127.0.0.1',
    port: sshd.port,
    key_file: 'client_key',
    agent_command: [process.execPath, AGENT_BIN],
    service: 'background',
    data_dir: join(dir, 'agents', name),
    ...extra,
  });

  /** Writes a hosts file and builds a provider over it, with its state in memory and closed at the end. */
  function providerOf(file: string, hosts: object[], env: Record<string, string> = {}) {
    writeFileSync(join(dir, file), stringify({ hosts }));
    const ctx = memoryProviderContext({ name: 'lab', masterKey: MASTER_KEY, baseDir: dir, env, clock: { now: () => Date.now() } });
    const p = createSshProvider({ type: 'ssh', hostsFile: file }, ctx, { readyTimeoutMs: 5_000, commandTimeoutMs: 30_000, joinTimeoutMs: 30_000 });
    cleanups.add(`provider ${file}`, () => p.close());
    return { p, ctx };
  }

  async function mintToken(): Promise<string> {
    const r = await server.api('POST', '/api/v1/join-tokens', { description: 'ssh provider e2e', labels: { pool: 'lab' } });
    if (r.status !== 201) throw new Error(`join-tokens answered ${r.status}: ${r.text}`);
    expect(r.body.reusable).toBe(false);
    return r.body.token;
  }

  const request = (operationId: string, joinToken: string, over: Partial<ProvisionRequest> = {}): ProvisionRequest => ({
    operationId,
    pool: 'lab',
    instanceType: 'ssh',
    zone: null,
    image: null,
    joinToken,
    userData: '',
    labels: { pool: 'lab' },
    ...over,
  });

  /** The node a host's agent enrolled as (from its data dir, which is on this machine). */
  const nodeIdIn = (dataDir: string): string => JSON.parse(readFileSync(join(dataDir, 'node.json'), 'utf8')).nodeId;
  const agentPid = (dataDir: string): number => {
    const pid = Number(readFileSync(join(dataDir, 'background.pid'), 'utf8').trim());
    pids.add(pid);
    return pid;
  };
  const agentLog = (dataDir: string): string =>
    existsSync(join(dataDir, 'background.log')) ? readFileSync(join(dataDir, 'background.log'), 'utf8').slice(-2000) : '(no log)';

  /** Waits until the node is READY and connected, and returns its view. */
  async function readyNode(nodeId: string, dataDir: string) {
    try {
      return await waitFor(
        `node ${nodeId} READY`,
        async () => {
          const r = await server.api('GET', `/api/v1/nodes/${encodeURIComponent(nodeId)}`);
          return r.status === 200 && r.body.status === 'READY' && r.body.connected ? r.body : null;
        },
        { timeoutMs: 20_000 },
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}\nagent log:\n${agentLog(dataDir)}`);
    }
  }

  /** Stops the host's agent the way the pool manager does after terminate: the node leaves the fleet, so the next agent on this machine may take the hostname. */
  async function removeNode(nodeId: string): Promise<void> {
    await waitFor(
      `node ${nodeId} disconnected`,
      async () => (await server.api('GET', `/api/v1/nodes/${encodeURIComponent(nodeId)}`)).body?.connected === false,
      {
        timeoutMs: 10_000,
      },
    );
    expect((await server.api('DELETE', `/api/v1/nodes/${encodeURIComponent(nodeId)}`)).status).toBe(204);
  }

  it('bootstraps a real agent that enrolls with a single-use token; terminate stops it and frees the host', async () => {
    const { p, ctx } = providerOf('hosts-main.yaml', [
      agentHost('a1', sshdA, { zone: 'a', labels: { rack: 'r1' }, price_per_hour: 1.5 }),
      agentHost('b1', sshdB, { zone: 'b' }),
    ]);
    const a1Dir = join(dir, 'agents', 'a1');
    const token = await mintToken();

    const inst = await p.provision(request('op-1', token, { zone: 'a' }));
    expect(inst).toMatchObject({ id: 'a1', pool: 'lab', operationId: 'op-1', zone: 'a', state: 'running', address: '127.0.0.1', pricePerHour: 1.5 });
    const nodeId = nodeIdIn(a1Dir);
    const node = await readyNode(nodeId, a1Dir);
    // The pool's label came with the token; the host's own from the hosts file, asked for at join.
    expect(node.labels).toMatchObject({ pool: 'lab', rack: 'r1' });
    const pid = agentPid(a1Dir);
    expect(isAlive(pid)).toBe(true);

    // The same operation again (a server that crashed mid-call) gets the same host, without a second join.
    expect(await p.provision(request('op-1', token, { zone: 'a' }))).toEqual(inst);
    expect(agentPid(a1Dir)).toBe(pid);

    // Zone a has one host, and it is taken.
    const full = await providerErrorOf(p.provision(request('op-2', await mintToken(), { zone: 'a' })));
    expect(full.kind).toBe('capacity');
    expect(full.details.zone).toBe('a');
    expect(full.message).toMatch(/all 1 hosts of instance_type ssh in zone a are in use/);
    expect((await p.describe(['ssh', 'nope']))[0]).toMatchObject({ instanceType: 'ssh', zonesWithCapacity: ['b'], pricePerHour: 1.5 });

    // The token was single use: a second host cannot join with it, is cleaned and given back.
    const reused = await providerErrorOf(p.provision(request('op-3', token)));
    expect(reused.kind).toBe('invalid');
    expect(reused.message).toMatch(/^host b1: the agent's join failed \(exit 1: /);
    expect(reused.message).not.toContain(token);
    expect(existsSync(join(dir, 'agents', 'b1'))).toBe(false);
    expect((await p.list()).map((i) => i.id)).toEqual(['a1']);

    // Credentials are kept sealed only, and the host key was pinned on first use.
    const state = [...ctx.state.values.entries()];
    expect(JSON.stringify(state)).not.toContain(readFileSync(join(dir, 'client_key'), 'utf8').split('\n')[1]);
    expect(JSON.parse(ctx.state.values.get('host/a1/credential')!)).toMatchObject({ v: 1, kdf: 'scrypt' });
    expect(JSON.parse(ctx.state.values.get('host/a1/host-key')!)).toMatchObject({
      algorithm: 'ssh-ed25519',
      fingerprint: sshdA.hostKeyFingerprint,
      source: 'first-use',
    });
    expect(ctx.logs.join('\n')).not.toContain(token);

    // A server that crashed after the join, before it marked the host running (and the agent gone
    // with it): a new provider over the same state resumes the operation on the same host and
    // skips the join (the token is spent), so the node is the same one.
    process.kill(pid, 'SIGKILL');
    await waitFor(`agent ${pid} gone`, () => !isAlive(pid));
    await ctx.state.put('lease/a1', { ...JSON.parse(ctx.state.values.get('lease/a1')!), stage: 'bootstrapping' });
    const restarted = createSshProvider({ type: 'ssh', hostsFile: 'hosts-main.yaml' }, ctx, { readyTimeoutMs: 5_000 });
    cleanups.add('provider main, restarted', () => restarted.close());
    expect(await restarted.list()).toMatchObject([{ id: 'a1', state: 'pending', operationId: 'op-1' }]);
    expect(await restarted.provision(request('op-1', token, { zone: 'a' }))).toEqual(inst);
    const resumedPid = agentPid(a1Dir);
    expect(resumedPid).not.toBe(pid);
    expect(isAlive(resumedPid)).toBe(true);
    expect(nodeIdIn(a1Dir)).toBe(nodeId);
    await readyNode(nodeId, a1Dir);

    await restarted.terminate('a1');
    expect(isAlive(resumedPid)).toBe(false);
    expect(existsSync(a1Dir)).toBe(false);
    expect(await p.list()).toEqual([]);
    expect((await p.describe(['ssh']))[0]?.zonesWithCapacity).toEqual(['a', 'b']);
    await removeNode(nodeId);
    // Already given back: not an error.
    await p.terminate('a1');
  }, 90_000);

  it('runs install_command when the agent is missing, then bootstraps as usual', async () => {
    const binDir = join(dir, 'installed', 'bin');
    const wrapper = join(binDir, 'gpufleet-agent');
    const install = `mkdir -p '${binDir}' && printf '#!/bin/sh\\nexec %s %s "$@"\\n' '${process.execPath}' '${AGENT_BIN}' > '${wrapper}' && chmod +x '${wrapper}'`;
    const { p } = providerOf('hosts-install.yaml', [agentHost('c1', sshdB, { agent_command: wrapper, install_command: install })]);
    const c1Dir = join(dir, 'agents', 'c1');
    expect(existsSync(wrapper)).toBe(false);
    const inst = await p.provision(request('op-install', await mintToken()));
    expect(inst.state).toBe('running');
    expect(existsSync(wrapper)).toBe(true);
    const nodeId = nodeIdIn(c1Dir);
    await readyNode(nodeId, c1Dir);
    const pid = agentPid(c1Dir);
    await p.terminate('c1');
    expect(isAlive(pid)).toBe(false);
    expect(existsSync(c1Dir)).toBe(false);
    await removeNode(nodeId);
  }, 90_000);

  it('refuses a host whose key changed, naming both fingerprints, until the hosts file names the new one', async () => {
    // No agent there and no install_command: the provision logs in (pinning the key) and stops with a clear message.
    const missing = { agent_command: '/nonexistent/gpufleet-agent' };
    const { p, ctx } = providerOf('hosts-key.yaml', [agentHost('k1', sshdB, missing)]);
    const noAgent = await providerErrorOf(p.provision(request('op-k1', 'gfj1.unused')));
    expect(noAgent.kind).toBe('invalid');
    expect(noAgent.message).toMatch(
      /host k1: the agent command `\/nonexistent\/gpufleet-agent` does not run there \(exit 127: .*\); install the agent or give install_command/,
    );
    const oldKey = sshdB.hostKeyFingerprint;
    expect(JSON.parse(ctx.state.values.get('host/k1/host-key')!).fingerprint).toBe(oldKey);

    await sshdB.changeHostKey();
    const newKey = sshdB.hostKeyFingerprint;
    expect(newKey).not.toBe(oldKey);
    const changed = await providerErrorOf(p.provision(request('op-k2', 'gfj1.unused')));
    expect(changed.kind).toBe('auth');
    expect(changed.details.code).toBe('host_key_changed');
    expect(changed.message).toContain(`presented host key ssh-ed25519 ${newKey}, but ${oldKey} was pinned on`);
    expect(await p.list()).toEqual([]);
    // The pin is not replaced by the key that was refused.
    expect(JSON.parse(ctx.state.values.get('host/k1/host-key')!).fingerprint).toBe(oldKey);

    // An operator who checked the new key writes it in the hosts file; the pin follows.
    writeFileSync(join(dir, 'hosts-key.yaml'), stringify({ hosts: [agentHost('k1', sshdB, { ...missing, host_key: newKey })] }));
    const p2 = createSshProvider({ type: 'ssh', hostsFile: 'hosts-key.yaml' }, { ...ctx }, { readyTimeoutMs: 5_000 });
    cleanups.add('provider key 2', () => p2.close());
    expect((await providerErrorOf(p2.provision(request('op-k3', 'gfj1.unused')))).kind).toBe('invalid');
    expect(JSON.parse(ctx.state.values.get('host/k1/host-key')!)).toMatchObject({ fingerprint: newKey, source: 'hosts-file' });
  }, 60_000);

  it('gives provisions that run at once different hosts, and capacity to the one left without', async () => {
    const missing = { agent_command: '/nonexistent/gpufleet-agent' };
    const { p } = providerOf('hosts-race.yaml', [agentHost('r1', sshdA, missing), agentHost('r2', sshdA, missing)]);
    const results = await Promise.all(['op-r1', 'op-r2', 'op-r3'].map((op) => providerErrorOf(p.provision(request(op, 'gfj1.unused')))));
    expect(results.map((e) => e.kind).sort()).toEqual(['capacity', 'invalid', 'invalid']);
    const hostsTried = results.filter((e) => e.kind === 'invalid').map((e) => /^host (r\d):/.exec(e.message)?.[1]);
    expect(hostsTried.sort()).toEqual(['r1', 'r2']);
    expect(await p.list()).toEqual([]);
  }, 60_000);

  it('refuses wrong credentials as auth and frees the host', async () => {
    const { p } = providerOf(
      'hosts-creds.yaml',
      [
        agentHost('w1', sshdA, { key_file: 'wrong_key', instance_type: 'wrong-key' }),
        { name: 'w2', address: '127.0.0.1', port: sshdA.port, password_env: 'W2_PASSWORD', instance_type: 'wrong-password', service: 'background' },
      ],
      { W2_PASSWORD: 'not-the-password' },
    );
    for (const type of ['wrong-key', 'wrong-password']) {
      const err = await providerErrorOf(p.provision(request(`op-${type}`, 'gfj1.unused', { instanceType: type })));
      expect(err.kind).toBe('auth');
      expect(err.message).toMatch(/^host w\d \(root@127\.0\.0\.1:\d+\): login refused/);
      expect(err.message).not.toContain('not-the-password');
    }
    expect(await p.list()).toEqual([]);
  }, 60_000);

  it('reports a host nobody answers, or one that never speaks SSH, as transient', async () => {
    // Accepts connections and never says a word.
    const held = new Set<Socket>();
    const silent: Server = createServer((sock) => void held.add(sock));
    await new Promise<void>((res) => silent.listen(0, '127.0.0.1', res));
    cleanups.add('silent server', () => {
      for (const sock of held) sock.destroy();
      return new Promise((res) => silent.close(res));
    });
    const silentPort = (silent.address() as { port: number }).port;
    writeFileSync(
      join(dir, 'hosts-down.yaml'),
      stringify({
        hosts: [
          agentHost('down', sshdA, { port: await freePort(), instance_type: 'down' }),
          agentHost('mute', sshdA, { port: silentPort, instance_type: 'mute' }),
        ],
      }),
    );
    const ctx = memoryProviderContext({ name: 'lab', masterKey: MASTER_KEY, baseDir: dir });
    const p = createSshProvider({ type: 'ssh', hostsFile: 'hosts-down.yaml' }, ctx, { readyTimeoutMs: 1_000 });
    cleanups.add('provider down', () => p.close());

    const refused = await providerErrorOf(p.provision(request('op-down', 'gfj1.unused', { instanceType: 'down' })));
    expect(refused.kind).toBe('transient');
    expect(refused.retryable).toBe(true);
    expect(refused.message).toMatch(/^host down \(root@127\.0\.0\.1:\d+\) cannot be reached: ECONNREFUSED/);
    const mute = await providerErrorOf(p.provision(request('op-mute', 'gfj1.unused', { instanceType: 'mute' })));
    expect(mute.kind).toBe('transient');
    expect(mute.message).toMatch(/no SSH handshake within 1000 ms/);
    expect(await p.list()).toEqual([]);

    // Asking for a type or zone the file does not have.
    expect((await providerErrorOf(p.provision(request('op-x', 'gfj1.unused', { instanceType: 'h100x8' })))).kind).toBe('invalid');
    const noZone = await providerErrorOf(p.provision(request('op-y', 'gfj1.unused', { instanceType: 'down', zone: 'mars' })));
    expect(noZone.kind).toBe('capacity');
    expect(noZone.message).toMatch(/no host of instance_type down in zone mars/);
  }, 60_000);

  it('refuses to be built with a garbage hosts file, no master key, or a credential it cannot read', () => {
    const build = (file: string, text: string, over: { masterKey?: string | null; env?: Record<string, string> } = {}) => {
      writeFileSync(join(dir, file), text);
      const ctx = memoryProviderContext({ name: 'lab', masterKey: MASTER_KEY, baseDir: dir, ...over });
      try {
        createSshProvider({ type: 'ssh', hostsFile: file }, ctx).close();
      } catch (err) {
        expect(err).toBeInstanceOf(ProviderError);
        expect((err as ProviderError).kind).toBe('invalid');
        return (err as Error).message;
      }
      throw new Error(`${file} was accepted`);
    };
    const path = join(dir, 'garbage.yaml');
    expect(build('garbage.yaml', 'hosts:\n  - name: g1\n    address: 127.0.0.1\n    prot: 22\n    key_file: client_key\n')).toBe(
      `provider lab: ${path}:4:5: hosts[0].prot: unknown field (did you mean port?)`,
    );
    expect(build('garbage.yaml', 'hosts:\n  - name: g1\n    address: [\n')).toMatch(new RegExp(`^provider lab: ${path}:\\d+:\\d+: not valid YAML`));
    expect(build('garbage.yaml', 'garbage :: ::\n')).toMatch(new RegExp(`^provider lab: ${path}:1:\\d+: not valid YAML`));
    const ok = 'hosts:\n  - name: g1\n    address: 127.0.0.1\n    key_file: client_key\n';
    expect(build('garbage.yaml', ok, { masterKey: null })).toBe('provider lab: the ssh provider keeps credentials sealed with GPUFLEET_MASTER_KEY; set it');
    expect(build('garbage.yaml', 'hosts:\n  - name: g1\n    address: 127.0.0.1\n    key_file: nope\n')).toBe(
      `provider lab, host g1: cannot read key_file ${join(dir, 'nope')}: no such file`,
    );
    expect(build('garbage.yaml', 'hosts:\n  - name: g1\n    address: 127.0.0.1\n    key_file: client_key.pub\n')).toMatch(
      /host g1: key_file .*client_key\.pub/,
    );
    expect(build('garbage.yaml', 'hosts:\n  - name: g1\n    address: 127.0.0.1\n    password_env: G1_PASSWORD\n')).toBe(
      'provider lab, host g1: password_env names G1_PASSWORD, which is not set',
    );
    expect(build('missing.yaml', '')).toMatch(/the hosts file is empty/);
  });
});

async function providerErrorOf(p: Promise<unknown>): Promise<ProviderError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ProviderError) return err;
    throw new Error(`expected a ProviderError, got ${(err as Error).stack}`);
  }
  throw new Error('expected a ProviderError, but the call succeeded');
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Kills every agent whose pid file is under `root` (a test that failed half way). */
function killAgentsUnder(root: string): void {
  if (!existsSync(root)) return;
  for (const name of readdirSync(root)) {
    const pidFile = join(root, name, 'background.pid');
    if (!existsSync(pidFile)) continue;
    killOurAgent(Number(readFileSync(pidFile, 'utf8').trim()));
  }
}

/** Kills `pid` only while it still is one of this test's agents (its command line names our temp folder): a recycled pid is left alone. */
function killOurAgent(pid: number): void {
  if (!Number.isSafeInteger(pid) || pid <= 1 || !isAlive(pid)) return;
  let cmdline = '';
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return;
  }
  if (cmdline.includes('gpufleet-ssh-e2e-') && cmdline.includes('--data-dir')) process.kill(pid, 'SIGKILL');
}
