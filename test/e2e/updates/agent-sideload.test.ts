import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPendingUpdate, readTar, writeTar } from '@gpufleet/agent';
import { buildAgentRelease } from '../../../scripts/build-agent-release.js';
import { assertBuilt, ChildServer } from '../support/child-server.js';
import { freePort } from '../support/free-port.js';
import type { ApiCall } from '../support/http-json.js';
import { waitFor } from '../support/wait-for.js';
import { AGENT_BIN, assertAgentBuilt, cliFor, LaunchedHost, setUpReleases } from './agent-fleet.js';

/**
 * Side-loading an agent build with the server stopped (issue 14): `releases export` writes the
 * signed offline tar, `gpufleet-agent sideload --install` verifies it with TUF on the host and
 * installs it; the running launcher restarts the agent into the new build, which runs without
 * any server and reports the update (no rollout id) once the server is back.
 */

const run = promisify(execFile);
const work = mkdtempSync(join(tmpdir(), 'gpufleet-e2e-agent-sideload-'));
let server: ChildServer;
let api: ApiCall;
let host: LaunchedHost;
let keys: string;

async function node(): Promise<{ agentVersion: string; connected: boolean }> {
  return (await api('GET', `/api/v1/nodes/${host.nodeId}`)).body;
}

async function sideload(...args: string[]) {
  try {
    const { stdout, stderr } = await run(process.execPath, [AGENT_BIN, 'sideload', ...args, '--data-dir', host.dataDir]);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(async () => {
  assertBuilt();
  assertAgentBuilt();
  server = new ChildServer({
    port: await freePort(),
    dataDir: join(work, 'server'),
    flags: ['--heartbeat-interval', '500ms', '--metrics-interval', '1s'],
    env: { GPUFLEET_MASTER_KEY: 'e2e-agent-sideload-master-key-0123456789' },
  });
  await server.start(30_000);
  const adminToken = readFileSync(join(work, 'server', 'admin-token'), 'utf8').trim();
  const cli = cliFor(server, adminToken, work);
  ({ api, keys } = await setUpReleases(server, adminToken, work));
  const built = await buildAgentRelease({ version: '9.9.1', outDir: join(work, 'built') });
  await cli('releases', 'publish', 'agent', built, '--version', '9.9.1', '--keys', keys);
  await cli('releases', 'export', 'agent@9.9.1', '--out', join(work, 'offline.tar'));
  const token = await api('POST', '/api/v1/join-tokens', { description: 'sideload e2e', reusable: false });
  expect(token.status, token.text).toBe(201);
  host = new LaunchedHost('sideload');
  // This host never had the release root online: sideload --root gives it the first one.
  await host.join(token.body.token, join(keys, '1.root.json'));
  rmSync(join(host.dataDir, 'releases'), { recursive: true, force: true });
  host.start('60s');
  await waitFor('the built-in agent connected', async () => ((await node()).connected ? true : null), { timeoutMs: 30_000 });
}, 120_000);

afterAll(async () => {
  await host?.stop();
  await server?.stop();
  if (host) rmSync(host.dataDir, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

describe('gpufleet-agent sideload --install with the server stopped', { timeout: 120_000 }, () => {
  it('verifies and installs; the restarted agent runs the new build offline and reports it when the server is back', async () => {
    await server.stop();
    const verifyOnly = await sideload(join(work, 'offline.tar'), '--root', join(keys, '1.root.json'));
    expect(verifyOnly.code, verifyOnly.stderr).toBe(0);
    expect(verifyOnly.stdout).toMatch(/^verified agent gpufleet-agent 9\.9\.1/);
    expect(verifyOnly.stdout).toMatch(/not installed: add --install/);
    expect(existsSync(join(host.installDir, 'current'))).toBe(false);

    const installed = await sideload(join(work, 'offline.tar'), '--install');
    expect(installed.code, installed.stderr).toBe(0);
    expect(installed.stdout).toMatch(/installed agent 9\.9\.1 in .*agent-install\/a \(before: the built-in agent 0\.1\.0\)/);
    // The running launcher takes the restart: no `systemctl restart` by hand.
    expect(installed.stdout).toMatch(/\nthe launcher is restarting the agent into it/);
    expect(readPendingUpdate(host.dataDir)).toMatchObject({
      rolloutId: null,
      toVersion: '9.9.1',
      state: 'switched',
      needsServer: false,
      launcherRestart: 'taken',
    });

    // The new build passes its self-check without a server: one collection.
    await waitFor('the side-loaded build confirmed', () => readPendingUpdate(host.dataDir) === null && existsSync(join(host.dataDir, 'node.json')), {
      timeoutMs: 60_000,
      intervalMs: 200,
    });
    // One launcher throughout: the built-in agent, then the side-loaded build.
    expect(host.agentStarts()).toHaveLength(2);
    expect(host.agentStarts().at(-1)).toMatch(/agent-install\/a\/gpufleet-agent\/agent\.mjs$/);
    expect(readlinkSync(join(host.installDir, 'current'))).toBe('a');
    expect(host.running).toBe(true);

    // The report waits in the outbox, across another restart, until the agent next connects.
    await server.start(30_000);
    await host.stop();
    host.start('60s');
    await waitFor(
      'the node on agent 9.9.1',
      async () => {
        const n = await node();
        return n.connected && n.agentVersion === '9.9.1' ? n : null;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    const events = await waitFor(
      'the update reported',
      async () => {
        const items = (await api('GET', '/api/v1/events?kind=update-state&limit=20')).body.items as Array<{ message: string }>;
        return items?.some((e) => /update agent 9\.9\.1: healthy/.test(e.message)) ? items : null;
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    expect(JSON.stringify(events)).toContain('passed its self-check (was 0.1.0)');
  });

  it('refuses a tampered tar and garbage flags, installing nothing', async () => {
    // The same tar with one byte of the target changed (read and written with the agent's own ustar code).
    const files = readTar(readFileSync(join(work, 'offline.tar')));
    const target = [...files.keys()].find((name) => name.startsWith('targets/'));
    expect(target).toBeDefined();
    files.get(target!)![100]! ^= 0xff;
    const tar = writeTar([...files].map(([name, bytes]) => ({ name, bytes: new Uint8Array(bytes) })));
    writeFileSync(join(work, 'evil.tar'), tar);
    const evil = await sideload(join(work, 'evil.tar'), '--install');
    expect(evil.code).toBe(1);
    expect(evil.stderr).toMatch(/release refused: Expected hash [0-9a-f]{64} but got [0-9a-f]{64}/);
    const bad = await sideload(join(work, 'nope.tar'), '--install');
    expect(bad).toMatchObject({ code: 1, stderr: expect.stringMatching(/cannot read .*nope\.tar: ENOENT/) });
    expect(await sideload(join(work, 'offline.tar'), '--install-dir', join(work, 'x'))).toMatchObject({ code: 2 });
    expect(readlinkSync(join(host.installDir, 'current'))).toBe('a');
  });
});
