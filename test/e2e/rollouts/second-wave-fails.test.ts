import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimFleet, type SimFleet } from '@gpufleet/sim';
import type { RolloutDetail } from '@gpufleet/protocol';
import { startTestServer, type TestServer } from '../../../packages/server/src/testing/test-server.js';
import { runCli } from '../../../packages/cli/src/cli.js';
import { createOperatorKey } from '../../../packages/cli/src/keys/index.js';
import { captureIo } from '../../../packages/cli/src/testing/capture-io.js';
import { Cleanups } from '../support/cleanups.js';
import { FAST_BACKOFF } from '../support/e2e-host.js';
import { waitFor } from '../support/wait-for.js';

/**
 * A rollout end to end (issue 14): a real control plane with a TUF repository, the CLI in
 * process (release keys, publish, `rollouts start` signed by the operator's key, a fleet root),
 * and simulated hosts (the real Agent over real WebSockets, fake updates that fetch the TUF
 * files over HTTP). The second wave fails: the rollout pauses and the failed hosts roll back.
 */

const cleanups = new Cleanups();
let t: TestServer;
let dir: string;
let fleet: SimFleet;
const HOSTS = ['ro-01', 'ro-02', 'ro-03', 'ro-04', 'ro-05', 'ro-06'];

async function cli(...args: string[]) {
  const io = captureIo({ columns: 200, home: dir, cwd: dir, env: {} });
  const code = await runCli([...args, '--server', t.url, '--token', t.adminToken], io);
  return { code, stdout: io.stdout, stderr: io.stderr };
}

const rollout = async (id: string): Promise<RolloutDetail> => (await t.api('GET', `/api/v1/rollouts/${id}`)).body;
const states = (d: RolloutDetail) => Object.fromEntries(d.hosts.map((h) => [h.hostname, h.state]));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gpufleet-e2e-rollouts-'));
  cleanups.add('dir', () => rmSync(dir, { recursive: true, force: true }));
  t = await startTestServer({ heartbeatInterval: '200ms', offlineAfter: 3, metricsInterval: '500ms' }, { masterKey: 'e2e-rollouts-master-key-0123456789' });
  cleanups.add('server', () => t.close());
  const operator = createOperatorKey('default', { home: dir, env: {} });
  expect((await t.api('POST', '/api/v1/roots/init', { did: operator.did })).status).toBe(201);
  const token = (await t.api('POST', '/api/v1/join-tokens', { description: 'rollouts e2e', labels: { pool: 'inference' }, reusable: true })).body.token;
  fleet = await startSimFleet({
    token,
    count: HOSTS.length,
    hostnames: HOSTS,
    seed: 'rollouts-e2e',
    gpuCount: 1,
    agentVersion: '0.2.0',
    startSpreadMs: 200,
    agentOptions: { backoff: FAST_BACKOFF },
    workloads: false,
    updates: { stepMs: 30, tuf: { url: t.url } },
  });
  cleanups.add('fleet', () => fleet.stop());
  await fleet.started;
  await waitFor(
    'every host connected',
    async () => ((await t.api('GET', '/api/v1/nodes?limit=100')).body?.items ?? []).filter((n: { connected: boolean }) => n.connected).length === HOSTS.length,
    {
      timeoutMs: 20_000,
    },
  );
  writeFileSync(join(dir, 'gpufleet-agent-0.3.0.tgz'), `#!/bin/sh\necho gpufleet-agent 0.3.0\n`);
  for (const args of [
    ['releases', 'keys', 'init', '--dir', 'keys'],
    ['releases', 'keys', 'upload', '--dir', 'keys'],
    ['releases', 'publish', 'agent', 'gpufleet-agent-0.3.0.tgz', '--version', '0.3.0', '--keys', 'keys'],
  ]) {
    const r = await cli(...args);
    expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  }
}, 60_000);
afterAll(() => cleanups.run(), 30_000);

describe('e2e rollouts: the second wave fails', () => {
  it('canary and first wave take agent@0.3.0; the second wave fails past max-failures: paused, failed hosts rolled back', async () => {
    // Sorted by hostname: canary ro-01; wave 1 (40% of 5 = 2) ro-02, ro-03; wave 2 ro-04..ro-06.
    fleet.updates!.failOn(['ro-04']); // fails and rolls itself back
    fleet.updates!.failOn(['ro-05', 'ro-06'], { rolledBack: false, message: 'new agent exits at start' });
    const started = await cli(
      'rollouts',
      'start',
      'agent@0.3.0',
      '-l',
      'pool=inference',
      '--canary',
      '1',
      '--waves',
      '40%,100%',
      '--healthy-for',
      '300ms',
      '--max-failures',
      '1',
    );
    expect(started.code, started.stderr).toBe(0);
    const id = started.stdout.trim();
    expect(started.stderr).toBe(`rollout ${id} started: agent@0.3.0 to 6 hosts in 3 steps\n`);

    const paused = await waitFor('the rollout paused', async () => ((await rollout(id)).state === 'paused' ? rollout(id) : null), { timeoutMs: 30_000 });
    expect(paused.message).toMatch(/^paused: [23] hosts failed \(ro-0[456].*\), more than max-failures 1$/);
    expect(paused.steps.map((s) => s.state)).toEqual(['done', 'done', 'failed']);
    const settled = await waitFor(
      'the failed hosts rolled back',
      async () => {
        const d = await rollout(id);
        const s = states(d);
        return s['ro-04'] === 'failed' && s['ro-05'] === 'rolled-back' && s['ro-06'] === 'rolled-back' ? d : null;
      },
      { timeoutMs: 20_000 },
    );
    expect(states(settled)).toMatchObject({ 'ro-01': 'healthy', 'ro-02': 'healthy', 'ro-03': 'healthy' });
    expect(settled.counts).toMatchObject({ healthy: 3, failed: 1, rolledBack: 2, skipped: 0, pending: 0 });
    expect(settled.hosts.find((h) => h.hostname === 'ro-05')).toMatchObject({ runningVersion: '0.2.0', fromVersion: '0.2.0' });

    // The hosts run what the rollout says: the new agent on the first three, the old one back on the rest.
    for (const h of HOSTS) expect(fleet.updates!.runningVersion(h, 'gpufleet-agent'), h).toBe(['ro-01', 'ro-02', 'ro-03'].includes(h) ? '0.3.0' : '0.2.0');
    await waitFor('the server sees the new agent versions', async () => {
      const nodes: Array<{ hostname: string; agentVersion: string }> = (await t.api('GET', '/api/v1/nodes?limit=100')).body.items;
      return (
        nodes
          .filter((n) => n.agentVersion === '0.3.0')
          .map((n) => n.hostname)
          .sort()
          .join(',') === 'ro-01,ro-02,ro-03'
      );
    });
    // Each host fetched timestamp, snapshot, targets and the target itself.
    expect(fleet.updates!.bytesFetched).toBeGreaterThan(0);
    expect(fleet.updates!.fetchErrors).toBe(0);

    // The history and the audit log say what happened.
    const history = (await t.api('GET', `/api/v1/rollouts/${id}/events`)).body.items.map((e: { kind: string }) => e.kind);
    expect(history.slice(0, 2)).toEqual(['created', 'step-started']);
    expect(history).toEqual(expect.arrayContaining(['step-done', 'host-failed', 'paused', 'host-rolled-back']));
    const ls = await cli('rollouts', 'get', id);
    expect(ls.stdout).toMatch(/ro-05\s+wave 2 \(100%\)\s+rolled-back/);
    const audit = (await t.api('GET', '/api/v1/audit?limit=200')).body;
    expect(JSON.stringify(audit)).toContain('rollout.start');

    // Abort without rollback leaves the healthy hosts on 0.3.0.
    const aborted = await cli('rollouts', 'abort', id, '--no-rollback', '--reason', 'investigating');
    expect(aborted.code, aborted.stderr).toBe(0);
    expect((await rollout(id)).state).toBe('aborted');
    expect(fleet.updates!.runningVersion('ro-01', 'gpufleet-agent')).toBe('0.3.0');
  }, 60_000);
});
