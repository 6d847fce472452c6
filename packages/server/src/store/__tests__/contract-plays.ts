import { describe, expect, it } from 'vitest';
import type { PlayHostRecord, PlayRecord, TemplateRecord } from '../store.js';
import { expectFleetError, type StoreRef } from './contract-helpers.js';
import { T0 } from './store-fixtures.js';

export function sampleTemplate(name: string, version: number, overrides: Partial<TemplateRecord> = {}): TemplateRecord {
  return {
    name,
    version,
    description: 'ping "ünï"',
    category: 'check',
    builtin: false,
    become: true,
    timeoutMs: 120_000,
    vars: { port: 9100, nested: { a: [1, 'b'] } },
    playbook: '- hosts: all\n  tasks: []\n',
    sha256: `sha-${name}-${version}`,
    createdAt: T0 + version,
    createdBy: 'admin',
    ...overrides,
  };
}

export function samplePlay(id: string, overrides: Partial<PlayRecord> = {}): PlayRecord {
  return {
    id,
    template: 'ping',
    templateVersion: 1,
    selector: 'group=gpu',
    serial: '25%',
    maxFailPercentage: 20,
    check: true,
    extraVars: { x: 'y', n: null },
    timeoutMs: 60_000,
    state: 'PENDING',
    createdBy: 'ops',
    createdAt: T0,
    startedAt: null,
    endedAt: null,
    exitCode: null,
    error: null,
    reason: 'rollout',
    runner: { replica: 'cp-1', instance: 'cp-1-instance-a' },
    ...overrides,
  };
}

function host(playId: string, nodeId: string, hostname: string): PlayHostRecord {
  return { playId, nodeId, hostname, ok: 0, changed: 0, failed: 0, unreachable: 0, skipped: 0, state: 'pending' };
}

/** Contract cases for templates, plays, their hosts and events (0011_plays). */
export function playContract(store: StoreRef): void {
  describe('templates and plays', () => {
    it('stores template versions: newest by default, one by number, versions ascending, newest per name in the list', async () => {
      await store().insertTemplate(sampleTemplate('ping', 1));
      await store().insertTemplate(sampleTemplate('ping', 2, { builtin: true, become: false }));
      await store().insertTemplate(sampleTemplate('facts', 1));
      expect(await store().getTemplate('ping')).toEqual(sampleTemplate('ping', 2, { builtin: true, become: false }));
      expect(await store().getTemplate('ping', 1)).toEqual(sampleTemplate('ping', 1));
      expect(await store().getTemplate('ping', 3)).toBeUndefined();
      expect(await store().getTemplate('nope')).toBeUndefined();
      expect(await store().listTemplateVersions('ping')).toEqual([1, 2]);
      expect((await store().listTemplates()).map((t) => `${t.name}@${t.version}`)).toEqual(['facts@1', 'ping@2']);
    });

    it('refuses a template version that exists, and garbage fields, changing nothing', async () => {
      await store().insertTemplate(sampleTemplate('ping', 1));
      await expectFleetError(store().insertTemplate(sampleTemplate('ping', 1, { description: 'other' })), 'already_exists');
      await expectFleetError(store().insertTemplate(sampleTemplate('ping', 0)), 'invalid_argument');
      await expectFleetError(store().insertTemplate(sampleTemplate('ping', 2, { vars: [] as never })), 'invalid_argument');
      await expectFleetError(store().insertTemplate(sampleTemplate('ping', 2, { timeoutMs: 1.5 })), 'invalid_argument');
      expect(await store().listTemplateVersions('ping')).toEqual([1]);
      expect((await store().getTemplate('ping'))?.description).toBe('ping "ünï"');
    });

    it('stores a play with its hosts, patches its state, lists newest first and by state', async () => {
      await store().insertPlay(samplePlay('p1'), [host('p1', 'n1', 'b-host'), host('p1', 'n2', 'a-host')]);
      await store().insertPlay(samplePlay('p2', { createdAt: T0 + 5, serial: null, maxFailPercentage: null, check: false }), []);
      expect(await store().getPlay('p1')).toEqual(samplePlay('p1'));
      expect((await store().listPlayHosts('p1')).map((h) => h.hostname)).toEqual(['a-host', 'b-host']);
      await store().updatePlay('p1', { state: 'RUNNING', startedAt: T0 + 10 });
      await store().updatePlay('p1', { state: 'FAILED', endedAt: T0 + 20, exitCode: 2, error: 'host a-host failed' });
      expect(await store().getPlay('p1')).toEqual(
        samplePlay('p1', { state: 'FAILED', startedAt: T0 + 10, endedAt: T0 + 20, exitCode: 2, error: 'host a-host failed' }),
      );
      expect((await store().listPlays()).map((p) => p.id)).toEqual(['p2', 'p1']);
      expect((await store().listPlays({ state: 'FAILED' })).map((p) => p.id)).toEqual(['p1']);
      expect((await store().listPlays({ limit: 1 })).map((p) => p.id)).toEqual(['p2']);
    });

    it('refuses a duplicate play, a foreign host, a bad patch and an unknown play', async () => {
      await store().insertPlay(samplePlay('p1'), [host('p1', 'n1', 'h1')]);
      await expectFleetError(store().insertPlay(samplePlay('p1'), []), 'already_exists');
      await expectFleetError(store().insertPlay(samplePlay('p3'), [host('p9', 'n1', 'h1')]), 'invalid_argument');
      expect(await store().getPlay('p3')).toBeUndefined();
      await expectFleetError(store().updatePlay('p1', { state: 'DONE' as never }), 'invalid_argument');
      await expectFleetError(store().updatePlay('p1', { selector: 'x' } as never), 'invalid_argument');
      await expectFleetError(store().updatePlay('nope', { state: 'RUNNING' }), 'not_found');
      await expectFleetError(store().listPlays({ state: 'nope' as never }), 'invalid_argument');
      expect((await store().getPlay('p1'))?.state).toBe('PENDING');
    });

    it('keeps each play runner (none for older plays) and patches a play only while its state and runner are as expected', async () => {
      await store().insertPlay(samplePlay('p1'), []);
      await store().insertPlay(samplePlay('old', { runner: null }), []);
      expect((await store().getPlay('p1'))?.runner).toEqual({ replica: 'cp-1', instance: 'cp-1-instance-a' });
      expect((await store().getPlay('old'))?.runner).toBeNull();
      const mine = { states: ['PENDING'] as const, runnerInstance: 'cp-1-instance-a' };
      // Another instance, or a state the play has left, does not match: nothing changes.
      expect(await store().updatePlayWhile('p1', { ...mine, runnerInstance: 'cp-2-instance-b' }, { state: 'RUNNING' })).toBe(false);
      expect(await store().updatePlayWhile('p1', { ...mine, states: ['RUNNING'] }, { state: 'FAILED' })).toBe(false);
      expect(await store().updatePlayWhile('p1', { ...mine, runnerInstance: null }, { state: 'RUNNING' })).toBe(false);
      expect((await store().getPlay('p1'))?.state).toBe('PENDING');
      expect(await store().updatePlayWhile('p1', mine, { state: 'RUNNING', startedAt: T0 + 1 })).toBe(true);
      expect(await store().updatePlayWhile('p1', mine, { state: 'CANCELED' })).toBe(false);
      expect(await store().getPlay('p1')).toMatchObject({ state: 'RUNNING', startedAt: T0 + 1 });
      // Plays without a runner are matched by null.
      expect(await store().updatePlayWhile('old', { states: ['PENDING', 'RUNNING'], runnerInstance: null }, { state: 'FAILED', error: 'gone' })).toBe(true);
      expect(await store().getPlay('old')).toMatchObject({ state: 'FAILED', error: 'gone' });
    });

    it('refuses a garbage runner, condition or patch, and an unknown play, changing nothing', async () => {
      await expectFleetError(store().insertPlay(samplePlay('p1', { runner: { replica: '', instance: 'i' } }), []), 'invalid_argument');
      await expectFleetError(store().insertPlay(samplePlay('p1', { runner: 'cp-1' as never }), []), 'invalid_argument');
      expect(await store().getPlay('p1')).toBeUndefined();
      await store().insertPlay(samplePlay('p1'), []);
      const when = { states: ['PENDING'] as const, runnerInstance: 'cp-1-instance-a' };
      await expectFleetError(store().updatePlayWhile('p1', { ...when, states: [] }, { state: 'RUNNING' }), 'invalid_argument');
      await expectFleetError(store().updatePlayWhile('p1', { ...when, states: ['DONE' as never] }, { state: 'RUNNING' }), 'invalid_argument');
      await expectFleetError(store().updatePlayWhile('p1', { ...when, runnerInstance: 7 as never }, { state: 'RUNNING' }), 'invalid_argument');
      await expectFleetError(store().updatePlayWhile('p1', when, {}), 'invalid_argument');
      await expectFleetError(store().updatePlayWhile('p1', when, { selector: 'x' } as never), 'invalid_argument');
      await expectFleetError(store().updatePlayWhile('nope', when, { state: 'RUNNING' }), 'not_found');
      expect((await store().getPlay('p1'))?.state).toBe('PENDING');
    });

    it('updates a host counts and state; an unknown host is not_found', async () => {
      await store().insertPlay(samplePlay('p1'), [host('p1', 'n1', 'h1')]);
      const updated: PlayHostRecord = { ...host('p1', 'n1', 'h1'), ok: 3, changed: 1, failed: 1, unreachable: 0, skipped: 2, state: 'failed' };
      await store().updatePlayHost(updated);
      expect(await store().listPlayHosts('p1')).toEqual([updated]);
      await expectFleetError(store().updatePlayHost({ ...updated, nodeId: 'n9' }), 'not_found');
      await expectFleetError(store().updatePlayHost({ ...updated, state: 'gone' as never }), 'invalid_argument');
    });

    it('appends events once per seq and pages them after a seq', async () => {
      await store().insertPlay(samplePlay('p1'), []);
      const ev = (seq: number) => ({
        playId: 'p1',
        seq,
        at: T0 + seq,
        kind: 'host' as const,
        host: 'h1',
        task: 'Ping',
        status: 'ok' as const,
        message: `pong ${seq}`,
      });
      await store().appendPlayEvents([ev(1), ev(2), ev(3)]);
      await store().appendPlayEvents([ev(3), ev(4)]);
      expect((await store().listPlayEvents('p1', 0)).map((e) => e.seq)).toEqual([1, 2, 3, 4]);
      expect(await store().listPlayEvents('p1', 2, 1)).toEqual([ev(3)]);
      await store().appendPlayEvents([{ ...ev(5), host: null, task: null, status: null, kind: 'output' }]);
      expect((await store().listPlayEvents('p1', 4))[0]?.status).toBeNull();
      await expectFleetError(store().appendPlayEvents([{ ...ev(6), kind: 'weird' as never }]), 'invalid_argument');
      expect((await store().listPlayEvents('p1', 0)).length).toBe(5);
    });
  });
}
