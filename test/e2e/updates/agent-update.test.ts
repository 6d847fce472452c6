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
 * Agent updates end to end (issue 14): the built server with a real TUF repository, an agent
 * host run by `gpufleet-agent launch` from the built tree, and rollouts signed by the fleet root
 * and started through POST /api/v1/rollouts. The host restarts into a release built by
 * `npm run release:agent` (the node record shows its version), a release whose agent crashes
 * at start is rolled back by the launcher and reported failed, and a target whose bytes were
 * changed on the server is refused while the old build keeps running.
 */

const work = mkdtempSync(join(tmpdir(), 'gpufleet-e2e-agent-update-'));
let server: ChildServer;
let api: ApiCall;
let cli: (...args: string[]) => Promise<string>;
let root: Awaited<ReturnType<typeof setUpReleases>>['root'];
let keys: string;
let host: LaunchedHost;
const tgz: Record<string, Buffer> = {};

async function node(): Promise<{ agentVersion: string; connected: boolean }> {
  return (await api('GET', `/api/v1/nodes/${host.nodeId}`)).body;
}

async function publish(version: string, bytes: Buffer): Promise<void> {
  const file = join(work, `gpufleet-agent-${version}.tgz`);
  writeFileSync(file, bytes);
  tgz[version] = bytes;
  await cli('releases', 'publish', 'agent', file, '--version', version, '--keys', keys);
}

async function startRollout(version: string): Promise<string> {
  const res = await api('POST', '/api/v1/rollouts', { rollout: agentRollout(root, version, tgz[version]!) });
  expect(res.status, res.text).toBe(201);
  return res.body.id;
}

/** The host's entry in a rollout once it reached one of `states`. */
async function hostIn(rolloutId: string, states: string[], what: string) {
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
  host = new LaunchedHost('upd-1');
  await host.join(token.body.token, join(keys, '1.root.json'));
  host.start('60s');
  await waitFor('the built-in agent connected', async () => ((await node()).connected ? true : null), { timeoutMs: 30_000 });
}, 120_000);

afterAll(async () => {
  await host?.stop();
  await server?.stop();
  if (host) rmSync(host.dataDir, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

describe('agent updates through a rollout, with gpufleet-agent launch', { timeout: 120_000 }, () => {
  let first = '';

  it('restarts into the new build: the node record shows its version and the host reports healthy', async () => {
    expect((await node()).agentVersion).toBe('0.1.0');
    first = await startRollout('9.9.1');
    await waitFor(
      'the node on agent 9.9.1',
      async () => {
        const n = await node();
        return n.connected && n.agentVersion === '9.9.1' ? n : null;
      },
      { timeoutMs: 90_000, intervalMs: 250 },
    );
    const h = await hostIn(first, ['healthy'], 'the host healthy in the rollout');
    expect(h).toMatchObject({ fromVersion: '0.1.0', runningVersion: '9.9.1' });
    // The launcher started the built-in agent, then the release from slot a.
    expect(host.agentStarts()).toEqual([
      expect.stringMatching(/packages\/agent\/dist\/bin\.js$/),
      expect.stringMatching(/agent-install\/a\/gpufleet-agent\/agent\.mjs$/),
    ]);
    expect(readlinkSync(join(host.installDir, 'current'))).toBe('a');
    expect(readlinkSync(join(host.installDir, 'previous'))).toBe('builtin');
    expect(readPendingUpdate(host.dataDir)).toBeNull();
  });

  it('a build that crashes at start is rolled back by the launcher and reported failed by the old build', async () => {
    await settle(first);
    await publish('9.9.2', packAgentRelease({ version: '9.9.2', agentMjs: new Uint8Array(Buffer.from('process.exit(1);\n')) }));
    const id = await startRollout('9.9.2');
    const h = await hostIn(id, ['failed', 'rolled-back'], 'the host to report the crashed build');
    expect(h).toMatchObject({ state: 'failed', runningVersion: '9.9.1' });
    expect(h.message).toMatch(/the new agent 9\.9\.2 exited with code 1 before its self-check/);
    const n = await node();
    expect(n).toMatchObject({ agentVersion: '9.9.1' });
    // The built-in agent, 9.9.1 (a), the crashing 9.9.2 (b), then 9.9.1 again from a: no second try of 9.9.2.
    expect(host.agentStarts().map((e) => /agent-install\/(\w)\//.exec(e)?.[1] ?? 'built-in')).toEqual(['built-in', 'a', 'b', 'a']);
    expect(readlinkSync(join(host.installDir, 'current'))).toBe('a');
    expect(readPendingUpdate(host.dataDir)).toBeNull();
    expect(host.running).toBe(true);
    await settle(id);
  });

  it('a target whose bytes were changed on the server is refused; the old build keeps running', async () => {
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
    const starts = host.agentStarts().length;
    const id = await startRollout('9.9.3');
    const h = await hostIn(id, ['refused'], 'the host to refuse the changed target');
    expect(h.message).toMatch(/release refused/);
    expect(h.message).toMatch(/hash/i);
    expect(await node()).toMatchObject({ agentVersion: '9.9.1', connected: true });
    expect(host.agentStarts()).toHaveLength(starts);
    expect(host.running).toBe(true);
    expect(readlinkSync(join(host.installDir, 'current'))).toBe('a');
    await settle(id);
  });
});
