import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ActionOutcome } from '../services/audit-log.js';
import { openSqliteStore } from '../store/sqlite-store.js';
import type { Store } from '../store/store.js';
import { defaultPlaybooksDir } from './builtin-templates.js';
import { sha256Hex, TemplateService } from './template-service.js';

describe('template service', () => {
  let dir: string;
  let store: Store;
  const notes: ActionOutcome[] = [];
  const audit = { actor: 'token:admin(a1)', note: async (n: ActionOutcome) => void notes.push(n) };

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gpufleet-templates-'));
    store = await openSqliteStore({ path: join(dir, 'db.sqlite') });
    await store.migrate();
    notes.length = 0;
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('finds the repository playbooks and loads every built-in once; a changed file becomes version 2', async () => {
    const found = defaultPlaybooksDir();
    expect(found).toBe(resolve(__dirname, '../../../../playbooks'));
    const copy = join(dir, 'playbooks');
    cpSync(found!, copy, { recursive: true });
    const service = new TemplateService({ store, clock: { now: () => 1000 }, builtinDir: copy });
    const first = await service.loadBuiltins();
    expect(first.added.sort()).toEqual([
      'collect_facts',
      'connectivity_check',
      'deploy_dcgm_exporter',
      'deploy_node_exporter',
      'install_amd_driver',
      'install_ascend_driver',
      'install_intel_driver',
      'install_nvidia_driver',
    ]);
    expect((await service.loadBuiltins()).added).toEqual([]);
    const nvidia = await service.detail('install_nvidia_driver');
    expect(nvidia).toMatchObject({ version: 1, builtin: true, become: true, category: 'driver', vars: { nvidia_driver_version: '550', install_cuda: false } });
    expect(nvidia.sha256).toBe(sha256Hex(nvidia.playbook));
    writeFileSync(join(copy, 'connectivity_check.yml'), '- hosts: all\n  gather_facts: false\n  tasks:\n    - ansible.builtin.ping:\n');
    expect((await service.loadBuiltins()).added).toEqual(['connectivity_check']);
    const detail = await service.detail('connectivity_check');
    expect(detail.versions).toEqual([1, 2]);
    expect((await service.detail('connectivity_check', 1)).playbook).toContain('uname -a');
  });

  it('adds custom versions under one name, audited; garbage is refused with line:col and stores nothing', async () => {
    const service = new TemplateService({ store, clock: { now: () => 1000 }, builtinDir: null });
    const v1 = await service.add({ name: 'mine', category: 'custom', playbook: '- hosts: all\n  tasks: []\n', become: false, timeout: '90s' }, audit);
    const v2 = await service.add({ name: 'mine', category: 'check', playbook: '- hosts: all\n  roles: [r]\n', become: true }, audit);
    expect([v1.version, v1.timeoutMs, v2.version, v2.timeoutMs, v2.createdBy]).toEqual([1, 90_000, 2, 30 * 60_000, 'token:admin(a1)']);
    expect(notes.map((n) => [n.action, n.target, n.result])).toEqual([
      ['template.add', 'mine@1', 'ok'],
      ['template.add', 'mine@2', 'ok'],
    ]);
    await expect(service.add({ name: 'mine', category: 'custom', playbook: '- hosts: all\n  tasks: [\n', become: false }, audit)).rejects.toThrow(
      /line \d+:\d+/,
    );
    await expect(service.add({ name: 'mine', category: 'custom', playbook: 'just words', become: false }, audit)).rejects.toThrow(
      /line 1:1: a playbook is a list of plays/,
    );
    await expect(
      service.add({ name: 'mine', category: 'custom', playbook: '- hosts: all\n  tasks: []\n', become: false, timeout: '3d' }, audit),
    ).rejects.toThrow(/timeout: between 1s and 24h/);
    expect(await store.listTemplateVersions('mine')).toEqual([1, 2]);
    expect(notes.filter((n) => n.result === 'error')).toHaveLength(3);
    await expect(service.get('nope')).rejects.toMatchObject({ code: 'not_found' });
    await expect(service.get('mine', 7)).rejects.toMatchObject({ code: 'not_found', message: 'template mine has no version 7' });
  });
});
