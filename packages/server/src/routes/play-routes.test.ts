import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlayView, TemplateDetailView, TemplateView } from '@gpufleet/protocol';
import { makeNode } from '../alerts/__tests__/alert-fixtures.js';
import { startTestServer, type TestServer } from '../testing/test-server.js';

/**
 * Templates and plays over the real server (`gpufleet server`'s graph): the built-ins are loaded
 * from playbooks/, a custom template gets versions, garbage bodies, params and queries are refused
 * with the field named and nothing changed, roles hold, and each change is one audit record.
 * (Plays that run on SSH hosts: test/e2e/plays.)
 */

const AGENT = 'did:key:z6MkPlayRoutesAgent';
let t: TestServer;
let viewer: string;
let operator: string;

beforeAll(async () => {
  t = await startTestServer();
  await t.server.context.registry.add(makeNode(AGENT, { hostname: 'agent-01' }));
  viewer = (await t.api('POST', '/api/v1/api-tokens', { name: 'v', role: 'viewer' })).body.token;
  operator = (await t.api('POST', '/api/v1/api-tokens', { name: 'o', role: 'operator' })).body.token;
});

afterAll(async () => {
  await t?.close();
});

async function audits(action: string) {
  return (await t.server.context.store.listAudit({ action })).map((a) => ({ target: a.target, result: a.result }));
}

const PLAYBOOK = '- hosts: all\n  gather_facts: false\n  tasks:\n    - ansible.builtin.ping:\n';

describe('template routes on the real server', () => {
  it('lists the built-ins loaded at start and reads one with its playbook and versions', async () => {
    const list = await t.api('GET', '/api/v1/templates', undefined, viewer);
    expect(list.status).toBe(200);
    const names = (list.body.items as TemplateView[]).map((x) => x.name);
    expect(names).toEqual(expect.arrayContaining(['collect_facts', 'connectivity_check', 'install_nvidia_driver', 'deploy_dcgm_exporter']));
    const detail = (await t.api('GET', '/api/v1/templates/install_nvidia_driver?version=1', undefined, viewer)).body as TemplateDetailView;
    expect(detail).toMatchObject({ name: 'install_nvidia_driver', version: 1, builtin: true, become: true, category: 'driver', versions: [1] });
    expect(detail.playbook).toContain('nvidia-driver');
    expect((await t.api('GET', '/api/v1/templates/install_nvidia_driver?version=9')).status).toBe(404);
    expect((await t.api('GET', '/api/v1/templates/nope')).status).toBe(404);
  });

  it('adds custom versions (admin), audited once each', async () => {
    const v1 = await t.api('POST', '/api/v1/templates', { name: 'ping_only', playbook: PLAYBOOK, category: 'check', vars: { a: 1 } });
    expect(v1.status).toBe(201);
    expect(v1.body).toMatchObject({ name: 'ping_only', version: 1, builtin: false, category: 'check', vars: { a: 1 }, timeoutMs: 1_800_000 });
    const v2 = await t.api('POST', '/api/v1/templates', { name: 'ping_only', playbook: `${PLAYBOOK}# v2\n`, timeout: '90s' });
    expect(v2.body).toMatchObject({ version: 2, category: 'custom', timeoutMs: 90_000 });
    expect((await t.api('GET', '/api/v1/templates/ping_only')).body.versions).toEqual([1, 2]);
    // Newest first.
    expect(await audits('template.add')).toEqual([
      { target: 'ping_only@2', result: 'ok' },
      { target: 'ping_only@1', result: 'ok' },
    ]);
  });

  it.each([
    [{ name: 'Bad', playbook: PLAYBOOK }, 400, /name/],
    [{ name: 'ok_name', playbook: '' }, 400, /playbook/],
    [{ name: 'ok_name', playbook: PLAYBOOK, category: 'weird' }, 400, /category/],
    [{ name: 'ok_name', playbook: PLAYBOOK, extra: 1 }, 400, /extra/],
    [{ name: 'ok_name', playbook: PLAYBOOK, vars: { '1x': 2 } }, 400, /vars/],
    [{ name: 'ok_name', playbook: PLAYBOOK, timeout: 'soon' }, 400, /timeout/],
    [{ name: 'ok_name', playbook: '- hosts: all\n  tasks: [\n' }, 400, /playbook: line \d+:\d+/],
    [{ name: 'ok_name', playbook: '- name: no hosts\n  tasks: []\n' }, 400, /playbook: line 1:3: play 1 has no hosts/],
    [{ name: 'ok_name', playbook: 'hello' }, 400, /line 1:1: a playbook is a list of plays/],
    ['{not json', 400, /./],
    [[1, 2], 400, /./],
  ])('refuses template body %j and stores nothing', async (body, status, message) => {
    const r = await t.api('POST', '/api/v1/templates', body);
    expect(r.status).toBe(status);
    expect(r.text).toMatch(message);
    expect((await t.api('GET', '/api/v1/templates/ok_name')).status).toBe(404);
  });

  it('only an admin adds templates; queries and params are checked', async () => {
    expect((await t.api('POST', '/api/v1/templates', { name: 'op_try', playbook: PLAYBOOK }, operator)).status).toBe(403);
    expect((await t.api('GET', '/api/v1/templates/ping_only?version=zero')).text).toMatch(/version/);
    expect((await t.api('GET', '/api/v1/templates/ping_only?version=1&x=1')).status).toBe(400);
    expect((await t.api('GET', '/api/v1/templates', undefined, null)).status).toBe(401);
  });
});

describe('play routes on the real server', () => {
  it.each([
    [{ template: 'ping_only' }, /selector/],
    [{ template: 'ping_only', selector: 'all', serial: '0' }, /serial/],
    [{ template: 'ping_only', selector: 'all', serial: '101%' }, /serial/],
    [{ template: 'ping_only', selector: 'all', maxFailPercentage: 120 }, /maxFailPercentage/],
    [{ template: 'ping_only', selector: 'all', extraVars: { 'bad-name': 1 } }, /extraVars/],
    [{ template: 'ping_only', selector: 'all', check: 'yes' }, /check/],
    [{ template: 'ping_only', selector: 'all', version: 0 }, /version/],
    [{ template: 'ping_only', selector: 'all', surprise: true }, /surprise/],
    [{ template: 'ping_only', selector: 'all', agentCommands: [{ payload: {}, sig: 'x' }] }, /agentCommands/],
  ])('refuses play body %j (400) for the plan and the start, and starts nothing', async (body, message) => {
    for (const path of ['/api/v1/plays/plan', '/api/v1/plays']) {
      const r = await t.api('POST', path, body, operator);
      expect(r.status, path).toBe(400);
      expect(r.text).toMatch(message);
    }
    expect((await t.api('GET', '/api/v1/plays')).body.items).toEqual([]);
  });

  it('refuses an unknown template, a bad selector, an agent-only selector and connection extra vars; audited as errors', async () => {
    expect((await t.api('POST', '/api/v1/plays', { template: 'nope', selector: 'all' }, operator)).status).toBe(404);
    const agentOnly = await t.api('POST', '/api/v1/plays', { template: 'ping_only', selector: 'hostname=agent-01' }, operator);
    expect(agentOnly.status).toBe(412);
    expect(agentOnly.text).toMatch(/picks only agent hosts \(agent-01\): their parts run as commands signed with your operator key/);
    const bad = await t.api('POST', '/api/v1/plays', { template: 'ping_only', selector: 'rack in (r1' }, operator);
    expect(bad.status).toBe(400);
    const conn = await t.api('POST', '/api/v1/plays', { template: 'ping_only', selector: 'all', extraVars: { ansible_host: 'evil' } }, operator);
    expect(conn.status).toBe(400);
    expect(conn.text).toMatch(/extraVars.ansible_host/);
    expect((await t.api('GET', '/api/v1/plays')).body.items).toEqual([]);
    const starts = await audits('play.start');
    expect(starts.length).toBe(4);
    expect(starts.every((a) => a.result === 'error')).toBe(true);
  });

  it('only operators start and cancel; unknown plays are 404 on every route; queries are checked', async () => {
    expect((await t.api('POST', '/api/v1/plays', { template: 'ping_only', selector: 'all' }, viewer)).status).toBe(403);
    expect((await t.api('POST', '/api/v1/plays/play_none/cancel', undefined, viewer)).status).toBe(403);
    for (const path of ['/api/v1/plays/play_none', '/api/v1/plays/play_none/events', '/api/v1/plays/play_none/stream']) {
      expect((await t.api('GET', path, undefined, viewer)).status).toBe(404);
    }
    expect((await t.api('POST', '/api/v1/plays/play_none/cancel', undefined, operator)).status).toBe(404);
    expect((await t.api('GET', '/api/v1/plays?state=DONE')).text).toMatch(/state/);
    expect((await t.api('GET', '/api/v1/plays?limit=0')).status).toBe(400);
    expect((await t.api('GET', '/api/v1/plays/play_none/events?after=-1')).status).toBe(400);
    const list = await t.api('GET', '/api/v1/plays?state=RUNNING&limit=5', undefined, viewer);
    expect(list.status).toBe(200);
    expect(list.body.items as PlayView[]).toEqual([]);
  });
});
