import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FleetError, type PlayEventView } from '@gpufleet/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlayService } from '../../../packages/server/src/plays/play-service.js';
import type { TemplateService } from '../../../packages/server/src/plays/template-service.js';
import { PlayKit, waitForEnd } from './play-kit.js';

/**
 * Plays against real sshd hosts with the real ansible-playbook: the built-in checks on several
 * hosts, a rolling run stopped by max_fail_percentage, cancel during a sleep (the log streams
 * while it sleeps), a timeout, layered and extra variables reaching the hosts, a changed host key
 * making its host unreachable, and the refusals that store nothing.
 */

const SLEEPER = `- hosts: all
  gather_facts: false
  tasks:
    - name: before the sleep
      ansible.builtin.debug:
        msg: awake
    - name: sleep
      ansible.builtin.command: sleep 30
`;

const FAIL_BY_VAR = `- hosts: all
  gather_facts: false
  tasks:
    - name: fail where asked
      ansible.builtin.fail:
        msg: "asked to fail on {{ inventory_hostname }}"
      when: fail_here | default(false) | bool
    - name: after
      ansible.builtin.debug:
        msg: done
`;

const WRITE_VARS = `- hosts: all
  gather_facts: false
  tasks:
    - name: write the variables
      ansible.builtin.copy:
        dest: "{{ out_dir }}/{{ inventory_hostname }}.json"
        content: "{{ {'g': from_global, 'grp': from_group, 'n': from_node, 'x': from_extra, 'd': tmpl_default, 'o': overridden} | to_json }}"
`;

async function eventsOf(plays: PlayService, id: string): Promise<PlayEventView[]> {
  return (await plays.events(id, 0, 10_000)).items;
}

// ansible-playbook over real ssh takes seconds per task on a loaded machine: generous limits.
describe('plays (real sshd, real ansible-playbook)', { timeout: 120_000 }, () => {
  let kit: PlayKit;
  let templates: TemplateService;
  let plays: PlayService;

  beforeAll(async () => {
    kit = await PlayKit.start(['host-a', 'host-b', 'host-c']);
    templates = kit.templates();
    await templates.loadBuiltins();
    plays = kit.plays(templates, { graceMs: 3000 });
    await plays.load();
    const audit = kit.audit('token:admin(t0)');
    await templates.add({ name: 'sleeper', category: 'custom', playbook: SLEEPER, become: false }, audit);
    await templates.add({ name: 'fail_by_var', category: 'custom', playbook: FAIL_BY_VAR, become: false }, audit);
    await templates.add(
      { name: 'write_vars', category: 'custom', playbook: WRITE_VARS, become: false, vars: { tmpl_default: 'd0', overridden: 'template' } },
      audit,
    );
  }, 60_000);

  afterAll(async () => {
    await plays?.stop();
    await kit?.close();
    expect(kit?.errors ?? []).toEqual([]);
  });

  it('connectivity_check on three hosts: SUCCEEDED, each host ok, the log has tasks and host results, the run folder keeps only artifacts', async () => {
    const started = await plays.start({ template: 'connectivity_check', selector: 'all', check: false }, kit.audit());
    expect(started.state).toBe('PENDING');
    expect(started.hosts.map((h) => h.hostname)).toEqual(['host-a', 'host-b', 'host-c']);
    const ended = await waitForEnd(plays, started.id);
    expect(ended.error).toBeNull();
    expect(ended.state).toBe('SUCCEEDED');
    expect(ended.exitCode).toBe(0);
    for (const h of ended.hosts) expect(h).toMatchObject({ state: 'ok', ok: 3, failed: 0, unreachable: 0 });
    const events = await eventsOf(plays, started.id);
    expect(events.filter((e) => e.kind === 'task').map((e) => e.task)).toEqual(['Ping', 'uname -a', 'Show uname']);
    expect(events.find((e) => e.kind === 'host' && e.task === 'Ping' && e.host === 'host-b')).toMatchObject({ status: 'ok', message: 'pong' });
    expect(events.find((e) => e.kind === 'host' && e.task === 'Show uname')?.message).toMatch(/^Linux /);
    expect(events.filter((e) => e.kind === 'recap')).toHaveLength(3);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    const runDir = join(kit.dir, 'runs', started.id);
    expect(readdirSync(runDir)).toEqual(['artifacts.json']);
    expect(statSync(runDir).mode & 0o777).toBe(0o700);
    expect(kit.audits.find((a) => a.action === 'play.start' && a.target === started.id)).toMatchObject({ result: 'ok', actor: 'token:ops(t1)' });
  });

  it('collect_facts on two hosts prints a summary per host', async () => {
    const started = await plays.start({ template: 'collect_facts', selector: 'host-a,host-b', check: false }, kit.audit());
    const ended = await waitForEnd(plays, started.id);
    expect(ended.state).toBe('SUCCEEDED');
    const summaries = (await eventsOf(plays, started.id)).filter((e) => e.kind === 'host' && e.task === 'Summary');
    expect(summaries.map((e) => e.host).sort()).toEqual(['host-a', 'host-b']);
    expect(summaries[0]!.message).toMatch(/kernel .* vCPUs, .*MiB memory, \d+ PCI GPU\(s\)/);
  });

  it('a rolling run (serial 1, max fail 0) stops after the first host fails: the others never start', async () => {
    kit.nodeVars.set(kit.host('host-a').nodeId, { fail_here: true });
    try {
      const started = await plays.start({ template: 'fail_by_var', selector: 'all', serial: '1', maxFailPercentage: 0, check: false }, kit.audit());
      const ended = await waitForEnd(plays, started.id);
      expect(ended.state).toBe('FAILED');
      expect(ended.error).toMatch(/exited 2; failed on host-a/);
      expect(ended.hosts.map((h) => [h.hostname, h.state, h.failed])).toEqual([
        ['host-a', 'failed', 1],
        ['host-b', 'pending', 0],
        ['host-c', 'pending', 0],
      ]);
      const failure = (await eventsOf(plays, started.id)).find((e) => e.status === 'failed');
      expect(failure).toMatchObject({ host: 'host-a', task: 'fail where asked', message: 'asked to fail on host-a' });
    } finally {
      kit.nodeVars.delete(kit.host('host-a').nodeId);
    }
  });

  it('cancel during a sleep: the log streams while it sleeps, the play ends CANCELED within the grace', async () => {
    const started = await plays.start({ template: 'sleeper', selector: 'host-b', check: false }, kit.audit());
    const seen: PlayEventView[] = [];
    const sleeping = new Promise<void>((resolve) => {
      plays.subscribe(started.id, (u) => {
        if (u.type !== 'event') return;
        seen.push(u.event);
        if (u.event.kind === 'task' && u.event.task === 'sleep') resolve();
      });
    });
    await sleeping;
    // The events before the sleep arrived while ansible-playbook still runs: jsonl streams them.
    expect(seen.some((e) => e.kind === 'host' && e.message === 'awake')).toBe(true);
    expect((await plays.get(started.id)).state).toBe('RUNNING');
    const t0 = Date.now();
    const canceled = await plays.cancel(started.id, kit.audit());
    expect(canceled.state).toBe('CANCELED');
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(kit.audits.find((a) => a.action === 'play.cancel' && a.target === started.id)?.result).toBe('ok');
    await expect(plays.cancel(started.id, kit.audit())).rejects.toMatchObject({ code: 'failed_precondition' });
  });

  it('a play past its timeout ends FAILED, timed out', async () => {
    const started = await plays.start({ template: 'sleeper', selector: 'host-c', timeout: '2s', check: false }, kit.audit());
    const ended = await waitForEnd(plays, started.id);
    expect(ended.state).toBe('FAILED');
    expect(ended.error).toBe('timed out after 2s');
  });

  it('layered variables and extra vars reach each host: template default < global < group < node < extra', async () => {
    const outDir = join(kit.dir, 'vars-out');
    kit.globalVars.out_dir = outDir;
    kit.globalVars.from_global = 'G';
    kit.globalVars.overridden = 'global';
    kit.groups.set('gpu', {
      priority: 5,
      members: new Set([kit.host('host-a').nodeId, kit.host('host-c').nodeId]),
      vars: { from_group: 'GRP', overridden: 'group' },
    });
    kit.nodeVars.set(kit.host('host-c').nodeId, { from_node: 'N-c', from_group: 'node wins' });
    kit.nodeVars.set(kit.host('host-a').nodeId, { from_node: 'N-a' });
    const { mkdirSync } = await import('node:fs');
    mkdirSync(outDir, { recursive: true });
    const started = await plays.start({ template: 'write_vars', selector: 'group=gpu', extraVars: { from_extra: 'X' }, check: false }, kit.audit());
    const ended = await waitForEnd(plays, started.id);
    expect(ended.error).toBeNull();
    expect(JSON.parse(readFileSync(join(outDir, 'host-a.json'), 'utf8'))).toEqual({ g: 'G', grp: 'GRP', n: 'N-a', x: 'X', d: 'd0', o: 'group' });
    expect(JSON.parse(readFileSync(join(outDir, 'host-c.json'), 'utf8'))).toEqual({ g: 'G', grp: 'node wins', n: 'N-c', x: 'X', d: 'd0', o: 'group' });
    expect(existsSync(join(outDir, 'host-b.json'))).toBe(false);
  });

  it('refuses an agent-only selector (naming the node), connection extra vars, an unknown template, a bad timeout: nothing stored', async () => {
    await kit.addAgentNode('agent-1');
    const before = (await plays.list()).length;
    const noSsh = await plays.start({ template: 'connectivity_check', selector: 'agent-1', check: false }, kit.audit()).catch((e) => e);
    expect(noSsh).toBeInstanceOf(FleetError);
    expect(noSsh.code).toBe('failed_precondition');
    expect(noSsh.message).toMatch(/picks only agent hosts \(agent-1\).*--key/);
    await expect(
      plays.start(
        { template: 'connectivity_check', selector: 'all', extraVars: { ansible_ssh_common_args: '-o StrictHostKeyChecking=no' }, check: false },
        kit.audit(),
      ),
    ).rejects.toMatchObject({ code: 'invalid_argument', message: expect.stringContaining('extraVars.ansible_ssh_common_args') });
    await expect(plays.start({ template: 'nope', selector: 'all', check: false }, kit.audit())).rejects.toMatchObject({ code: 'not_found' });
    await expect(plays.start({ template: 'connectivity_check', version: 99, selector: 'all', check: false }, kit.audit())).rejects.toMatchObject({
      code: 'not_found',
    });
    await expect(plays.start({ template: 'connectivity_check', selector: 'all', timeout: 'soon', check: false }, kit.audit())).rejects.toMatchObject({
      code: 'invalid_argument',
    });
    await expect(plays.start({ template: 'connectivity_check', selector: 'bad selector!', check: false }, kit.audit())).rejects.toMatchObject({
      code: 'invalid_argument',
    });
    expect((await plays.list()).length).toBe(before);
    expect(kit.audits.filter((a) => a.action === 'play.start' && a.result === 'error').length).toBeGreaterThanOrEqual(6);
  });

  it('a play with an unsigned agent node and SSH hosts runs on the SSH hosts and names the agent node in its log', async () => {
    const started = await plays.start({ template: 'connectivity_check', selector: 'host-a,agent-1', check: false }, kit.audit());
    const ended = await waitForEnd(plays, started.id);
    expect(ended.state).toBe('SUCCEEDED');
    expect(ended.hosts.map((h) => h.hostname)).toEqual(['host-a']);
    expect((await eventsOf(plays, started.id))[0]?.message).toMatch(/not run on 1 agent host\(s\), whose parts were not signed.*agent-1/);
  });

  it('at most maxConcurrent plays run: the next waits PENDING, a pending cancel ends it at once, the queue moves on', async () => {
    const one = kit.plays(templates, { maxConcurrent: 1, graceMs: 3000 });
    try {
      const first = await one.start({ template: 'sleeper', selector: 'host-a', check: false }, kit.audit());
      const second = await one.start({ template: 'sleeper', selector: 'host-b', check: false }, kit.audit());
      const third = await one.start({ template: 'connectivity_check', selector: 'host-b', check: false }, kit.audit());
      for (let i = 0; i < 100 && (await one.get(first.id)).state !== 'RUNNING'; i++) await new Promise((r) => setTimeout(r, 50));
      expect(one.running).toBe(1);
      expect((await one.get(second.id)).state).toBe('PENDING');
      expect((await one.cancel(second.id, kit.audit())).state).toBe('CANCELED');
      expect((await one.cancel(first.id, kit.audit())).state).toBe('CANCELED');
      const ended = await waitForEnd(one, third.id);
      expect(ended.state).toBe('SUCCEEDED');
      expect((await one.get(second.id)).startedAt).toBeNull();
    } finally {
      await one.stop();
    }
  });

  it('a host whose key changed is unreachable (never accepted); the other host goes on', async () => {
    const c = kit.host('host-c');
    await c.sshd.changeHostKey();
    const started = await plays.start({ template: 'connectivity_check', selector: 'host-b,host-c', check: false }, kit.audit());
    const ended = await waitForEnd(plays, started.id);
    expect(ended.state).toBe('FAILED');
    expect(ended.hosts.map((h) => [h.hostname, h.state])).toEqual([
      ['host-b', 'ok'],
      ['host-c', 'unreachable'],
    ]);
    expect(ended.error).toMatch(/unreachable: host-c/);
    const refusal = (await eventsOf(plays, started.id)).find((e) => e.host === 'host-c' && e.status === 'unreachable');
    expect(refusal?.message).toMatch(/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
  });
});
