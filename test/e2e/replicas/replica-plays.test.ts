import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlayView } from '@gpufleet/protocol';
import { makeKey, TestSshd } from '../../support/test-sshd.js';
import { assertBuilt, CLI_MAIN } from '../support/child-server.js';
import { Cleanups } from '../support/cleanups.js';
import { waitFor } from '../support/wait-for.js';
import { ReplicaCluster, type Replica } from './replica-cluster.js';

/*
 * Plays with two `gpufleet server` replicas (the built CLI) on one PostgreSQL database and one NATS
 * namespace, against a real sshd host with the real ansible-playbook (issue 13). A play's
 * ansible-playbook runs on the replica that started it and cannot move: a replica that restarts
 * leaves the other's play alone (it ends SUCCEEDED, followed through the restarted replica), a
 * cancel asked of the other replica reaches the runner, and when the runner is SIGKILLed the
 * survivor ends its play FAILED, naming it, within seconds.
 */
const FLAGS = ['--heartbeat-interval', '1s', '--offline-after', '3', '--ssh-facts-interval', '1h'];
/** Holds the host until the test writes the release file (the sshd host shares this machine's files) or `secs` pass. */
const HOLD = `- hosts: all
  gather_facts: false
  tasks:
    - name: hold the host a while
      ansible.builtin.wait_for:
        path: "{{ release }}"
        timeout: "{{ secs }}"
`;
/** The survivor's limit from the runner's SIGKILL to the play read FAILED. */
const ORPHAN_LIMIT_MS = 10_000;

const run = promisify(execFile);
const cleanups = new Cleanups();
const cluster = new ReplicaCluster(cleanups, FLAGS);
const dir = mkdtempSync(join(tmpdir(), 'gpufleet-e2e-replica-plays-'));
let cp1: Replica;
let cp2: Replica;
let sshd: TestSshd;

beforeAll(async () => {
  assertBuilt();
  cleanups.add('test dir', () => rmSync(dir, { recursive: true, force: true }));
  const clientKey = join(dir, 'client_key');
  makeKey(clientKey);
  sshd = await TestSshd.start(join(dir, 'sshd'), [`${clientKey}.pub`]);
  cleanups.add('sshd', () => sshd.stop());
  await cluster.create();
  cp1 = await cluster.start('cp-1');
  cp2 = await cluster.start('cp-2');
  const login = { kind: 'key', privateKey: readFileSync(clientKey, 'utf8') };
  const added = await cp1.api('POST', '/api/v1/ssh-hosts', { hostname: 'gpu-a', address: '127.0.0.1', port: sshd.port, user: 'root', login });
  expect(added.status, added.text).toBe(201);
  expect((await cp1.api('POST', '/api/v1/groups', { name: 'gpu', priority: 5, members: ['gpu-a'] })).status).toBe(201);
  const template = await cp1.api('POST', '/api/v1/templates', { name: 'hold', playbook: HOLD, vars: { secs: 1 } });
  expect(template.status, template.text).toBe(201);
}, 90_000);
afterAll(() => cleanups.run(), 30_000);

let plays = 0;

/** A play holding the host until its release file is written; returns it and that file. */
async function startPlay(on: Replica): Promise<PlayView & { release: string }> {
  const release = join(dir, `release-${++plays}`);
  const res = await on.api('POST', '/api/v1/plays', { template: 'hold', selector: 'group=gpu', extraVars: { secs: 90, release } });
  expect(res.status, res.text).toBe(201);
  return { ...(res.body as PlayView), release };
}

/** Processes whose command line names the play (its ansible-playbook runs in the play's run folder). */
function processesOf(playId: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (argv.includes(playId) && argv.includes('ansible-playbook')) found.push(`${pid}: ${argv}`);
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

async function playOn(r: Replica, id: string): Promise<PlayView> {
  const res = await r.api('GET', `/api/v1/plays/${id}`);
  if (res.status !== 200) throw new Error(`${r.name} GET /api/v1/plays/${id}: ${res.status} ${res.text}`);
  return res.body as PlayView;
}

/** The play RUNNING with its task started on the host (read through `r`). */
async function untilHolding(r: Replica, id: string): Promise<void> {
  await waitFor(
    `play ${id} holding the host`,
    async () => {
      const events = (await r.api('GET', `/api/v1/plays/${id}/events`)).body.items as { kind: string; task: string | null }[];
      return (await playOn(r, id)).state === 'RUNNING' && events.some((e) => e.kind === 'task' && e.task === 'hold the host a while');
    },
    { timeoutMs: 30_000, intervalMs: 100 },
  );
}

describe('plays with two replicas', { timeout: 120_000 }, () => {
  it('a replica restarted while the other runs a play leaves it RUNNING; it ends SUCCEEDED, followed through the restarted one', async () => {
    const play = await startPlay(cp1);
    await untilHolding(cp2, play.id);
    await cp2.server.stop();
    await cp2.server.start(30_000);
    expect((await playOn(cp2, play.id)).state).toBe('RUNNING');
    expect((await playOn(cp1, play.id)).state).toBe('RUNNING');
    writeFileSync(play.release, 'go\n');
    // `plays logs -f` through the replica that does not run the play: the stored log, then the end.
    const cli = await run(process.execPath, [CLI_MAIN, '--server', cp2.server.url, '--token', cluster.adminToken, 'plays', 'logs', play.id, '-f'], {
      cwd: dir,
      env: { ...process.env, NO_COLOR: '1' },
    });
    expect(cli.stdout).toContain('TASK [hold the host a while]');
    expect(cli.stdout).toMatch(/ok: gpu-a/);
    expect(cli.stderr).toMatch(new RegExp(`play ${play.id} SUCCEEDED`));
    const [on1, on2] = [await playOn(cp1, play.id), await playOn(cp2, play.id)];
    expect(on2).toMatchObject({ state: 'SUCCEEDED', exitCode: 0, error: null });
    expect(on2.hosts).toEqual([expect.objectContaining({ hostname: 'gpu-a', state: 'ok', ok: 1, failed: 0 })]);
    expect(on1).toEqual(on2);
  });

  it('a play started on one replica is cancelled through the other: the runner stops ansible-playbook', async () => {
    const play = await startPlay(cp1);
    await untilHolding(cp2, play.id);
    const t0 = performance.now();
    const canceled = await cp2.api('POST', `/api/v1/plays/${play.id}/cancel`);
    expect(canceled.status, canceled.text).toBe(200);
    expect(canceled.body).toMatchObject({ id: play.id, state: 'CANCELED' });
    // SIGINT, not the 10 s kill: the runner got the cancel at once.
    expect(performance.now() - t0).toBeLessThan(10_000);
    expect((await playOn(cp1, play.id)).state).toBe('CANCELED');
    const events = (await cp1.api('GET', `/api/v1/plays/${play.id}/events`)).body.items as { kind: string; message: string }[];
    expect(events.at(-1)).toMatchObject({ kind: 'state', message: 'CANCELED' });
    // The audit entry is written once the response is sent.
    const audit = await waitFor('the cancel audited', async () => {
      const text = (await cp2.api('GET', '/api/v1/audit?action=play.cancel')).text;
      return text.includes(play.id) ? text : null;
    });
    expect(audit).toContain('"runner":"cp-1"');
  });

  it('the runner SIGKILLed: the survivor ends its play FAILED, naming it, within seconds', async () => {
    const play = await startPlay(cp1);
    await untilHolding(cp2, play.id);
    expect(processesOf(play.id).length).toBeGreaterThan(0);
    await cp1.server.kill('SIGKILL');
    const t0 = performance.now();
    const ended = await waitFor(
      'the play ended by the survivor',
      async () => {
        const p = await playOn(cp2, play.id);
        return p.state === 'RUNNING' ? null : p;
      },
      { timeoutMs: ORPHAN_LIMIT_MS + 5000, intervalMs: 100 },
    );
    const tookMs = performance.now() - t0;
    expect(ended).toMatchObject({
      state: 'FAILED',
      error: 'the replica running the play (cp-1) stopped during it; its ansible-playbook cannot go on elsewhere',
    });
    // Its one task never reported: the host's result is unknown, not ok.
    expect(ended.hosts).toEqual([expect.objectContaining({ hostname: 'gpu-a', state: 'pending', ok: 0 })]);
    expect(tookMs).toBeLessThan(ORPHAN_LIMIT_MS);
    // Its ansible-playbook died with it (parent death signal): no task starts after the play ended.
    await waitFor('no ansible-playbook of the play left', () => processesOf(play.id).length === 0, { timeoutMs: 5000 });
    console.log(`play of the SIGKILLed replica ended FAILED by the survivor after ${Math.round(tookMs)} ms`);
  });
});
