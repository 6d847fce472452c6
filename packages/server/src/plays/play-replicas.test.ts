import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InProcessBroker, InProcessBus } from '../bus/in-process-bus.js';
import { subjects } from '../bus/subjects.js';
import type { NodeGroups, SshHostDirectory } from '../jobcenter/job-center-contracts.js';
import { PlayRunners } from '../replicas/play-runners.js';
import type { ActionOutcome } from '../services/audit-log.js';
import { samplePlay, sampleTemplate } from '../store/__tests__/contract-plays.js';
import { openSqliteStore } from '../store/sqlite-store.js';
import type { PlayRecord, Store } from '../store/store.js';
import type { PlayRuns } from './agent-play-part.js';
import { followPlay } from './play-follow.js';
import { PlayService } from './play-service.js';
import { sha256Hex, TemplateService } from './template-service.js';

/*
 * Plays with several replicas (issue 13), two PlayServices on one SQLite store and one in-process
 * broker: which replica instance runs a play, who ends the plays of one that is gone, and cancels
 * and follows asked of a replica that does not run the play. ansible-playbook is a shell script
 * here (it sleeps, or exits as told): the processes, signals and store writes are real; the real
 * ansible-playbook against sshd is test/e2e/replicas/replica-plays.test.ts.
 */

const NODE = 'did:key:z6MkReplicaPlayHost';
const PLAYBOOK = '- hosts: all\n  gather_facts: false\n  tasks: []\n';
const T = 1_700_000_000_000;

let dir: string;
let store: Store;
let broker: InProcessBroker;
const buses: InProcessBus[] = [];
const services: PlayService[] = [];
/** The instances the replica directory lists now. */
const alive = new Set<string>();
const errors: unknown[] = [];
const warnings: string[] = [];
const notes: (ActionOutcome & { actor: string })[] = [];
const audit = (actor: string) => ({ actor, note: async (n: ActionOutcome) => void notes.push({ actor, ...n }) });

const host: SshHostDirectory = {
  sshNodeIds: async () => [NODE],
  access: async (nodeId) => ({
    nodeId,
    hostname: 'gpu-1',
    endpoint: {
      name: 'gpu-1',
      address: '127.0.0.1',
      port: 2222,
      user: 'root',
      login: { kind: 'key', privateKey: 'not a key: the fake ansible-playbook never reads it', passphrase: null },
      hostKey: { kind: 'pinned', key: { algorithm: 'ssh-ed25519', publicKey: 'AAAAC3NzaC1lZDI1NTE5', fingerprint: 'SHA256:x' } },
      bastion: null,
    },
    hostKey: { algorithm: 'ssh-ed25519', publicKey: 'AAAAC3NzaC1lZDI1NTE5', fingerprint: 'SHA256:x' },
    bastionHostKey: null,
  }),
};
const groups: NodeGroups = {
  select: async () => [NODE],
  groupsOf: async () => [],
  resolve: async (nodeId) => ({ nodeId, hostname: 'gpu-1', groups: [], vars: {} }),
};
const noRuns: PlayRuns = {
  submit: async () => expect.fail('no agent part expected'),
  get: async () => expect.fail('no agent part expected'),
  output: async () => expect.fail('no agent part expected'),
  cancel: async () => expect.fail('no agent part expected'),
};

/** A stand-in ansible-playbook: `sleep N; exit CODE` (a stop's SIGINT ends the sleep). */
function fakeAnsible(seconds: number, code = 0): string {
  const path = join(dir, `ansible-${seconds}-${code}`);
  writeFileSync(path, `#!/bin/sh\necho "fake ansible-playbook $*" >&2\nsleep ${seconds}\nexit ${code}\n`);
  chmodSync(path, 0o755);
  return path;
}

function replica(name: string, instance: string, options: { ansible?: string; maxConcurrent?: number; cancelWaitMs?: number } = {}) {
  const bus = new InProcessBus({ broker });
  buses.push(bus);
  alive.add(instance);
  const runners = new PlayRunners({
    bus,
    replica: name,
    instance,
    directory: { isAlive: (_n, i) => alive.has(i) },
    log: { warn: (_obj, msg) => void warnings.push(msg) },
  });
  const plays = new PlayService({
    store,
    clock: { now: () => Date.now() },
    templates: new TemplateService({ store, clock: { now: () => T }, builtinDir: null }),
    sshHosts: () => host,
    nodeGroups: () => groups,
    runs: noRuns,
    runsDir: join(dir, `runs-${instance}`),
    ansiblePlaybook: options.ansible ?? fakeAnsible(30),
    sshpass: null,
    runners,
    graceMs: 500,
    orphansEveryMs: 50,
    followPollMs: 20,
    ...(options.maxConcurrent === undefined ? {} : { maxConcurrent: options.maxConcurrent }),
    ...(options.cancelWaitMs === undefined ? {} : { remoteCancelWaitMs: options.cancelWaitMs }),
    onError: (err) => void errors.push(err),
  });
  services.push(plays);
  return { plays, runners, bus, instance };
}

async function until<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const stateOf = async (id: string) => (await store.getPlay(id))?.state;
const start = (plays: PlayService) => plays.start({ template: 'noop', selector: 'all', check: false }, audit('token:ops(a)'));

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gpufleet-play-replicas-'));
  store = await openSqliteStore({ path: join(dir, 'db.sqlite') });
  await store.migrate();
  await store.insertTemplate(sampleTemplate('noop', 1, { playbook: PLAYBOOK, sha256: sha256Hex(PLAYBOOK) }));
  broker = new InProcessBroker();
  for (const list of [errors, warnings, notes]) list.length = 0;
  alive.clear();
});
afterEach(async () => {
  for (const s of services.splice(0)) await s.stop();
  for (const b of buses.splice(0)) await b.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('plays across replicas', { timeout: 30_000 }, () => {
  it('a replica that starts ends only the plays whose runner is gone, naming the replica; a live replica keeps its plays', async () => {
    const a = { replica: 'cp-a', instance: 'a-1' };
    const gone = { replica: 'cp-a', instance: 'a-0' };
    alive.add(a.instance);
    const seed = async (id: string, o: Partial<PlayRecord>) =>
      store.insertPlay(samplePlay(id, { createdAt: T, ...o }), [
        { playId: id, nodeId: NODE, hostname: 'gpu-1', ok: 1, changed: 0, failed: 0, unreachable: 0, skipped: 0, state: 'running' },
      ]);
    await seed('live-running', { state: 'RUNNING', runner: a });
    await seed('live-queued', { state: 'PENDING', runner: a });
    await seed('dead-running', { state: 'RUNNING', runner: gone });
    await seed('dead-queued', { state: 'PENDING', runner: gone });
    await seed('before-0014', { state: 'RUNNING', runner: null });
    await seed('done', { state: 'SUCCEEDED', runner: gone });

    const b = replica('cp-b', 'b-1');
    expect(await b.plays.load()).toBe(3);
    expect(await stateOf('live-running')).toBe('RUNNING');
    expect(await stateOf('live-queued')).toBe('PENDING');
    expect(await store.getPlay('dead-running')).toMatchObject({
      state: 'FAILED',
      error: 'the replica running the play (cp-a) stopped during it; its ansible-playbook cannot go on elsewhere',
    });
    expect((await store.listPlayHosts('dead-running'))[0]?.state).toBe('failed');
    expect((await store.listPlayHosts('live-running'))[0]?.state).toBe('running');
    expect(await store.getPlay('dead-queued')).toMatchObject({ state: 'FAILED', error: 'the replica the play was queued on (cp-a) stopped before it started' });
    expect(await store.getPlay('before-0014')).toMatchObject({ state: 'FAILED', error: 'the control plane restarted during the play' });
    expect(await stateOf('done')).toBe('SUCCEEDED');
  });

  it('a replica restarted while another runs a play leaves it RUNNING, and the runner ends it SUCCEEDED', async () => {
    const a = replica('cp-a', 'a-1', { ansible: fakeAnsible(1.5) });
    await a.plays.load();
    await a.plays.serve();
    const b0 = replica('cp-b', 'b-0');
    await b0.plays.serve();
    const play = await start(a.plays);
    expect(play.state).toBe('PENDING');
    await until(
      'RUNNING',
      () => stateOf(play.id),
      (s) => s === 'RUNNING',
    );
    // cp-b restarts: a new instance under the same name.
    await b0.plays.stop();
    alive.delete('b-0');
    const b1 = replica('cp-b', 'b-1');
    expect(await b1.plays.load()).toBe(0);
    await b1.plays.serve();
    expect(await stateOf(play.id)).toBe('RUNNING');
    const end = await until(
      'the end',
      () => store.getPlay(play.id),
      (p) => p?.state !== 'RUNNING',
    );
    expect(end).toMatchObject({ state: 'SUCCEEDED', exitCode: 0, error: null, runner: { replica: 'cp-a', instance: 'a-1' } });
    expect(errors).toEqual([]);
  });

  it('a cancel asked of another replica stops the runner process; a follower there hears the stored log and the end', async () => {
    const a = replica('cp-a', 'a-1');
    await a.plays.load();
    await a.plays.serve();
    const b = replica('cp-b', 'b-1');
    await b.plays.serve();
    const play = await start(a.plays);
    await until(
      'RUNNING',
      () => stateOf(play.id),
      (s) => s === 'RUNNING',
    );
    expect(a.plays.running).toBe(1);

    const sent: { event: string; data: unknown }[] = [];
    let ended!: () => void;
    const followed = new Promise<void>((r) => (ended = r));
    const stop = followPlay(b.plays, play.id, 0, { send: (event, data) => void sent.push({ event, data }), end: () => ended() });

    const view = await b.plays.cancel(play.id, audit('token:ops(b)'));
    expect(view.state).toBe('CANCELED');
    expect(a.plays.running).toBe(0);
    expect(notes.filter((n) => n.action === 'play.cancel')).toEqual([
      expect.objectContaining({ actor: 'token:ops(b)', result: 'ok', details: { was: 'RUNNING', runner: 'cp-a' } }),
    ]);
    await followed;
    stop();
    const messages = sent.filter((s) => s.event === 'event').map((s) => (s.data as { message: string }).message);
    expect(messages[0]).toBe('RUNNING');
    expect(messages.at(-1)).toBe('CANCELED');
    expect(sent.at(-1)).toMatchObject({ event: 'end', data: { id: play.id, state: 'CANCELED' } });
    const seqs = sent.filter((s) => s.event === 'event').map((s) => (s.data as { seq: number }).seq);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(new Set(seqs).size).toBe(seqs.length);
    // Reads on either replica tell the same.
    expect(await a.plays.get(play.id)).toEqual(await b.plays.get(play.id));
    await expect(b.plays.cancel(play.id, audit('token:ops(b)'))).rejects.toMatchObject({ code: 'failed_precondition' });
    expect(errors).toEqual([]);
  });

  it('a queued play is cancelled through another replica and never starts', async () => {
    const a = replica('cp-a', 'a-1', { maxConcurrent: 0 });
    await a.plays.serve();
    const b = replica('cp-b', 'b-1');
    const play = await start(a.plays);
    expect((await b.plays.cancel(play.id, audit('token:ops(b)'))).state).toBe('CANCELED');
    expect(a.plays.running).toBe(0);
    expect(await store.listPlayEvents(play.id, 0)).toEqual([]);
  });

  it('the plays of a replica that dies end FAILED within a look; the runner, back from a pause, stops its process and records nothing', async () => {
    const a = replica('cp-a', 'a-1', { maxConcurrent: 1 });
    await a.plays.serve();
    const b = replica('cp-b', 'b-1');
    await b.plays.serve();
    const running = await start(a.plays);
    const queued = await start(a.plays);
    await until(
      'RUNNING',
      () => stateOf(running.id),
      (s) => s === 'RUNNING',
    );
    // cp-a's directory entry lapses (killed, or paused past it): cp-b ends its plays.
    const t0 = Date.now();
    alive.delete('a-1');
    await until(
      'orphans ended',
      () => Promise.all([stateOf(running.id), stateOf(queued.id)]),
      (s) => s.every((x) => x === 'FAILED'),
      2000,
    );
    expect(Date.now() - t0).toBeLessThan(1000);
    expect((await store.getPlay(running.id))?.error).toBe('the replica running the play (cp-a) stopped during it; its ansible-playbook cannot go on elsewhere');
    expect((await store.getPlay(queued.id))?.error).toBe('the replica the play was queued on (cp-a) stopped before it started');
    // cp-a was only paused: its own look finds its play ended elsewhere and stops the process.
    await until(
      'the runner let go',
      async () => a.plays.running,
      (n) => n === 0,
      5000,
    );
    expect(await store.getPlay(running.id)).toMatchObject({ state: 'FAILED', error: expect.stringContaining('(cp-a) stopped') });
    expect(await stateOf(queued.id)).toBe('FAILED');
    expect(errors.map((e) => (e as Error).message)).toContain(
      `play ${running.id} was ended by another replica while this one ran it; its ansible-playbook is stopped`,
    );
  });

  it('a cancel of a play whose runner is gone ends it as orphaned; one whose runner does not answer is refused after the wait', async () => {
    const a = replica('cp-a', 'a-1', { maxConcurrent: 0 });
    const b = replica('cp-b', 'b-1', { cancelWaitMs: 300 });
    const deaf = await start(a.plays);
    // cp-a is alive but does not listen (not served): the cancel cannot be confirmed.
    await expect(b.plays.cancel(deaf.id, audit('token:ops(b)'))).rejects.toMatchObject({
      code: 'unavailable',
      message: expect.stringContaining(`replica cp-a, which runs play ${deaf.id}, did not end it`),
    });
    expect(await stateOf(deaf.id)).toBe('PENDING');
    alive.delete('a-1');
    const view = await b.plays.cancel(deaf.id, audit('token:ops(b)'));
    expect(view).toMatchObject({ state: 'FAILED', error: 'the replica the play was queued on (cp-a) stopped before it started' });
    expect(notes.filter((n) => n.action === 'play.cancel').map((n) => n.result)).toEqual(['error', 'ok']);
  });

  it('ignores a cancel message without a play id, and one for a play it does not run', async () => {
    const a = replica('cp-a', 'a-1', { maxConcurrent: 0 });
    await a.plays.serve();
    const play = await start(a.plays);
    a.bus.publish(subjects.playCancels('a-1'), { playId: 42 });
    a.bus.publish(subjects.playCancels('a-1'), new TextEncoder().encode('not json'));
    a.bus.publish(subjects.playCancels('a-1'), { playId: 'play_0000000000000000' });
    await new Promise((r) => setTimeout(r, 100));
    expect(warnings).toEqual(['a play cancel without a play id was ignored', 'a play cancel without a play id was ignored']);
    expect(await stateOf(play.id)).toBe('PENDING');
    expect(errors).toEqual([]);
  });
});
