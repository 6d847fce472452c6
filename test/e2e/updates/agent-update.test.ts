import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packAgentRelease, readPendingUpdate } from '@gpufleet/agent';
import { buildAgentRelease } from '../../../scripts/build-agent-release.js';
import { assertBuilt, ChildServer } from '../support/child-server.js';
import { freePort } from '../support/free-port.js';
import type { ApiCall } from '../support/http-json.js';
import { waitFor } from '../support/wait-for.js';
import { agentRollout, assertAgentBuilt, cliFor, LaunchedHost, setUpReleases } from './agent-fleet.js';

/**
 * Agent updates end to end (issue 14): the built server with a real TUF repository, three agent
 * hosts run by `gpufleet-agent launch` from the built tree, and rollouts signed by the fleet root
 * and started through POST /api/v1/rollouts (a canary, then the rest). The hosts restart into a
 * release built by `npm run release:agent` (the node records show its version); a release whose
 * agent crashes at start is rolled back by the canary's launcher, reported failed, and the
 * rollout pauses before any other host takes it; a target whose bytes were changed on the server
 * is refused by the canary while every host keeps its build.
 */

const work = mkdtempSync(join(tmpdir(), 'gpufleet-e2e-agent-update-'));
let server: ChildServer;
let api: ApiCall;
let cli: (...args: string[]) => Promise<string>;
let root: Awaited<ReturnType<typeof setUpReleases>>['root'];
let keys: string;
const hosts: LaunchedHost[] = [];
const tgz: Record<string, Buffer> = {};
/** A canary, then every other host; no failure tolerated (a bad build stops at the canary). */
const PLAN = { canary: 1, waves: [100], healthyForMs: 1000, maxFailures: 0 };

async function node(host: LaunchedHost): Promise<{ agentVersion: string; connected: boolean }> {
  return (await api('GET', `/api/v1/nodes/${host.nodeId}`)).body;
}

const versions = async () => Promise.all(hosts.map(async (h) => (await node(h)).agentVersion));

async function publish(version: string, bytes: Buffer): Promise<void> {
  const file = join(work, `gpufleet-agent-${version}.tgz`);
  writeFileSync(file, bytes);
  tgz[version] = bytes;
  await cli('releases', 'publish', 'agent', file, '--version', version, '--keys', keys);
}

async function startRollout(version: string): Promise<string> {
  const res = await api('POST', '/api/v1/rollouts', { rollout: agentRollout(root, version, tgz[version]!, { plan: PLAN }) });
  expect(res.status, res.text).toBe(201);
  return res.body.id;
}

/** A host's entry in a rollout once it reached one of `states`. */
async function hostIn(rolloutId: string, host: LaunchedHost, states: string[], what: string) {
  return waitFor(
    what,
    async () => {
      const r = await api('GET', `/api/v1/rollouts/${rolloutId}`);
      const h = r.body.hosts?.find((x: { nodeId: string }) => x.nodeId === host.nodeId);
      return h && states.includes(h.state) ? h : null;
    },
    { timeoutMs: 90_000, intervalMs: 250 },
  );
}

/** The rollout's canary host (its step 0). */
async function canaryOf(rolloutId: string): Promise<LaunchedHost> {
  const r = await api('GET', `/api/v1/rollouts/${rolloutId}`);
  const ids = (r.body.hosts as Array<{ nodeId: string; step: number }>).filter((h) => h.step === 0).map((h) => h.nodeId);
  expect(ids).toHaveLength(1);
  return hosts.find((h) => h.nodeId === ids[0])!;
}

/** Ends a rollout that still runs, leaving the hosts as they are, so the next one may start. */
async function settle(rolloutId: string): Promise<void> {
  const r = await api('GET', `/api/v1/rollouts/${rolloutId}`);
  if (r.body.state === 'running' || r.body.state === 'paused') {
    const aborted = await api('POST', `/api/v1/rollouts/${rolloutId}/abort`, { reason: 'e2e: next case', rollback: false });
    expect(aborted.status, aborted.text).toBe(200);
  }
}

beforeAll(async () => {
  assertBuilt();
  assertAgentBuilt();
  server = new ChildServer({
    port: await freePort(),
    dataDir: join(work, 'server'),
    flags: ['--heartbeat-interval', '500ms', '--metrics-interval', '1s'],
    env: { GPUFLEET_MASTER_KEY: 'e2e-agent-update-master-key-0123456789' },
  });
  await server.start(30_000);
  const adminToken = readFileSync(join(work, 'server', 'admin-token'), 'utf8').trim();
  cli = cliFor(server, adminToken, work);
  ({ root, api, keys } = await setUpReleases(server, adminToken, work));
  await publish('9.9.1', readFileSync(await buildAgentRelease({ version: '9.9.1', outDir: join(work, 'built') })));
  const token = await api('POST', '/api/v1/join-tokens', { description: 'agent updates e2e', reusable: true });
  expect(token.status, token.text).toBe(201);
  for (const name of ['upd-1', 'upd-2', 'upd-3']) {
    const host = new LaunchedHost(name);
    hosts.push(host);
    await host.join(token.body.token, join(keys, '1.root.json'));
    host.start('60s');
  }
  for (const host of hosts) {
    await waitFor(`${host.name}'s built-in agent connected`, async () => ((await node(host)).connected ? true : null), { timeoutMs: 30_000 });
  }
}, 150_000);

afterAll(async () => {
  for (const host of hosts) await host.stop();
  await server?.stop();
  for (const host of hosts) rmSync(host.dataDir, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

describe('agent updates through a rollout, with gpufleet-agent launch', { timeout: 150_000 }, () => {
  let first = '';

  it('every host restarts into the new build, canary first: the node records show its version and each host reports healthy', async () => {
    expect(await versions()).toEqual(['0.1.0', '0.1.0', '0.1.0']);
    first = await startRollout('9.9.1');
    for (const host of hosts) {
      await waitFor(
        `${host.name} on agent 9.9.1`,
        async () => {
          const n = await node(host);
          return n.connected && n.agentVersion === '9.9.1' ? n : null;
        },
        { timeoutMs: 90_000, intervalMs: 250 },
      );
      const h = await hostIn(first, host, ['healthy'], `${host.name} healthy in the rollout`);
      expect(h).toMatchObject({ fromVersion: '0.1.0', runningVersion: '9.9.1' });
      // The launcher started the built-in agent, then the release from slot a.
      expect(host.agentStarts()).toEqual([
        expect.stringMatching(/packages\/agent\/dist\/bin\.js$/),
        expect.stringMatching(/agent-install\/a\/gpufleet-agent\/agent\.mjs$/),
      ]);
      expect(readlinkSync(join(host.installDir, 'current'))).toBe('a');
      expect(readlinkSync(join(host.installDir, 'previous'))).toBe('builtin');
      expect(readPendingUpdate(host.dataDir)).toBeNull();
    }
    await waitFor('the rollout succeeded', async () => ((await api('GET', `/api/v1/rollouts/${first}`)).body.state === 'succeeded' ? true : null), {
      timeoutMs: 30_000,
    });
  });

  it("a build that crashes at start is rolled back by the canary's launcher, reported failed, and goes no further", async () => {
    await settle(first);
    await publish('9.9.2', packAgentRelease({ version: '9.9.2', agentMjs: new Uint8Array(Buffer.from('process.exit(1);\n')) }));
    const id = await startRollout('9.9.2');
    const canary = await canaryOf(id);
    const h = await hostIn(id, canary, ['failed', 'rolled-back'], 'the canary to report the crashed build');
    expect(h).toMatchObject({ state: 'failed', runningVersion: '9.9.1' });
    expect(h.message).toMatch(/the new agent 9\.9\.2 exited with code 1 before its self-check/);
    const r = await waitFor('the rollout paused', async () => {
      const res = await api('GET', `/api/v1/rollouts/${id}`);
      return res.body.state === 'paused' ? res.body : null;
    });
    // The other hosts never got it.
    expect(r.hosts.filter((x: { nodeId: string }) => x.nodeId !== canary.nodeId).map((x: { state: string }) => x.state)).toEqual(['pending', 'pending']);
    expect(await versions()).toEqual(['9.9.1', '9.9.1', '9.9.1']);
    // The built-in agent, 9.9.1 (a), the crashing 9.9.2 (b), then 9.9.1 again from a: no second try of 9.9.2.
    expect(canary.agentStarts().map((e) => /agent-install\/(\w)\//.exec(e)?.[1] ?? 'built-in')).toEqual(['built-in', 'a', 'b', 'a']);
    expect(readlinkSync(join(canary.installDir, 'current'))).toBe('a');
    expect(readPendingUpdate(canary.dataDir)).toBeNull();
    for (const host of hosts) expect(host.running).toBe(true);
    for (const host of hosts.filter((x) => x !== canary)) expect(host.agentStarts()).toHaveLength(2);
    await settle(id);
  });

  it('a target whose bytes were changed on the server is refused; every host keeps its build', async () => {
    const bytes = packAgentRelease({ version: '9.9.3', agentMjs: new Uint8Array(Buffer.from('console.log("9.9.3");\n')) });
    await publish('9.9.3', bytes);
    // A stolen server (or a bad mirror) serves other bytes under the signed name.
    const sha = createHash('sha256').update(bytes).digest('hex');
    const db = new Database(join(work, 'server', 'gpufleet.db'));
    try {
      db.pragma('busy_timeout = 5000');
      const evil = Buffer.from(bytes);
      evil[evil.length - 1] = evil[evil.length - 1]! ^ 0xff;
      expect(db.prepare('UPDATE release_blobs SET bytes = ? WHERE sha256 = ?').run(evil, sha).changes).toBe(1);
    } finally {
      db.close();
    }
    const starts = hosts.map((h) => h.agentStarts().length);
    const id = await startRollout('9.9.3');
    const canary = await canaryOf(id);
    const h = await hostIn(id, canary, ['refused'], 'the canary to refuse the changed target');
    expect(h.message).toMatch(/release refused/);
    expect(h.message).toMatch(/hash/i);
    expect(await versions()).toEqual(['9.9.1', '9.9.1', '9.9.1']);
    expect(hosts.map((x) => x.agentStarts().length)).toEqual(starts);
    for (const host of hosts) {
      expect(host.running).toBe(true);
      expect(readlinkSync(join(host.installDir, 'current'))).toBe('a');
    }
    await settle(id);
  });
});
