import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InProcessBus } from '../bus/in-process-bus.js';
import type { NodeGroups, SshHostDirectory } from '../jobcenter/job-center-contracts.js';
import { PlayRunners } from '../replicas/play-runners.js';
import type { ActionOutcome } from '../services/audit-log.js';
import { samplePlay, sampleTemplate } from '../store/__tests__/contract-plays.js';
import { openSqliteStore } from '../store/sqlite-store.js';
import type { Store } from '../store/store.js';
import type { PlayRuns } from './agent-play-part.js';
import { PlayService } from './play-service.js';
import { sha256Hex, TemplateService } from './template-service.js';

/** What PlayService refuses or repairs before any host is involved (the runs themselves: test/e2e/plays). */
describe('play service without hosts', () => {
  let dir: string;
  let store: Store;
  const notes: ActionOutcome[] = [];
  const audit = { actor: 'token:ops(o1)', note: async (n: ActionOutcome) => void notes.push(n) };
  const noHosts: SshHostDirectory = { sshNodeIds: async () => [], access: async () => expect.fail('no access expected') };
  const groups = { select: async () => ['did:key:z6MkAgentOnly'] } as unknown as NodeGroups;
  const noRuns: PlayRuns = {
    submit: async () => expect.fail('no agent part expected'),
    get: async () => expect.fail('no agent part expected'),
    output: async () => expect.fail('no agent part expected'),
    cancel: async () => expect.fail('no agent part expected'),
  };

  function service(ansiblePlaybook: string | null, directory: SshHostDirectory = noHosts): PlayService {
    return new PlayService({
      store,
      clock: { now: () => 2000 },
      templates: new TemplateService({ store, clock: { now: () => 1000 }, builtinDir: null }),
      sshHosts: () => directory,
      runs: noRuns,
      nodeGroups: () => groups,
      runsDir: join(dir, 'runs'),
      // The embedded control plane: this instance is the only one alive.
      runners: new PlayRunners({
        bus: new InProcessBus(),
        replica: 'cp',
        instance: 'cp-now',
        directory: { isAlive: (_name, instance) => instance === 'cp-now' },
        log: { warn: () => expect.fail('no warning expected') },
      }),
      ansiblePlaybook,
      sshpass: null,
    });
  }

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gpufleet-playsvc-'));
    store = await openSqliteStore({ path: join(dir, 'db.sqlite') });
    await store.migrate();
    notes.length = 0;
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('ends plays a previous process left RUNNING or PENDING as FAILED, and makes the runs folder private', async () => {
    const before = { replica: 'cp', instance: 'cp-before' };
    await store.insertPlay(samplePlay('p-running', { state: 'RUNNING', startedAt: 1500, runner: before }), []);
    await store.insertPlay(samplePlay('p-pending', { runner: before }), []);
    await store.insertPlay(samplePlay('p-done', { state: 'SUCCEEDED' }), []);
    expect(await service('/usr/bin/ansible-playbook').load()).toBe(2);
    expect(await store.getPlay('p-running')).toMatchObject({ state: 'FAILED', endedAt: 2000, error: expect.stringContaining('(cp) stopped during it') });
    expect(await store.getPlay('p-pending')).toMatchObject({ state: 'FAILED', error: 'the replica the play was queued on (cp) stopped before it started' });
    expect((await store.getPlay('p-done'))?.state).toBe('SUCCEEDED');
    expect(statSync(join(dir, 'runs')).mode & 0o777).toBe(0o700);
  });

  it('refuses to start on SSH hosts without ansible-playbook, saying how to install it', async () => {
    await store.insertTemplate(sampleTemplate('x', 1, { sha256: sha256Hex(sampleTemplate('x', 1).playbook) }));
    const oneSsh: SshHostDirectory = { sshNodeIds: async () => ['did:key:z6MkAgentOnly'], access: async () => ({ hostname: 'ssh-1' }) as never };
    await expect(service(null, oneSsh).start({ template: 'x', selector: 'all', check: false }, audit)).rejects.toMatchObject({
      code: 'failed_precondition',
      message: expect.stringContaining('apt-get install ansible'),
    });
    expect(notes).toEqual([expect.objectContaining({ action: 'play.start', result: 'error' })]);
  });

  it('refuses a template whose stored playbook no longer matches its SHA-256', async () => {
    await store.insertTemplate(sampleTemplate('tampered', 1, { sha256: sha256Hex('something else') }));
    await expect(service('/usr/bin/ansible-playbook').start({ template: 'tampered', selector: 'all', check: false }, audit)).rejects.toMatchObject({
      code: 'failed_precondition',
      message: expect.stringMatching(/tampered@1: the stored playbook's SHA-256 is .* not run/),
    });
    expect(await store.listPlays()).toEqual([]);
  });

  it('refuses a selector that picks only agent nodes when their parts are not signed, saying how to sign them', async () => {
    const playbook = '- hosts: all\n  tasks: []\n';
    await store.insertTemplate(sampleTemplate('ok', 1, { playbook, sha256: sha256Hex(playbook) }));
    await expect(service('/usr/bin/ansible-playbook').start({ template: 'ok', selector: 'all', check: false }, audit)).rejects.toMatchObject({
      code: 'failed_precondition',
      message: expect.stringMatching(/picks only agent hosts \(did:key:z6MkAgentOnly\).*--key NAME signs them/),
    });
  });
});
