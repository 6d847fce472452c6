import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GroupView, ResolvedVarsView, VarsView } from '@gpufleet/protocol';
import { makeNode } from '../alerts/__tests__/alert-fixtures.js';
import { startTestServer, type TestServer } from '../testing/test-server.js';

/**
 * Groups and variables over the real server (`gpufleet server`'s graph): the route table's rows,
 * roles, garbage bodies, params and queries refused with the field named and nothing changed, and
 * one audit record per change under its action.
 */

const N1 = 'did:key:z6MkGroupRoutesOne';
const N2 = 'did:key:z6MkGroupRoutesTwo';

let t: TestServer;
let viewer: string;

beforeAll(async () => {
  t = await startTestServer();
  await t.server.context.registry.add(makeNode(N1, { hostname: 'gpu-01', labels: { rack: 'r1' } }));
  await t.server.context.registry.add(makeNode(N2, { hostname: 'cpu-01', gpus: 0, labels: { rack: 'r2' } }));
  viewer = (await t.api('POST', '/api/v1/api-tokens', { name: 'v', role: 'viewer' })).body.token;
});

afterAll(async () => {
  await t?.close();
});

async function audits(action: string) {
  return (await t.server.context.store.listAudit({ action })).map((a) => ({ target: a.target, result: a.result }));
}

describe('group routes on the real server', () => {
  it('create, get, list, update, delete a group; each change audited once', async () => {
    const created = await t.api('POST', '/api/v1/groups', { name: 'gpu_nodes', priority: 10, selector: 'gpu.vendor=nvidia', members: ['cpu-01'] });
    expect(created.status).toBe(201);
    const view = created.body as GroupView;
    expect(view.nodes.map((n) => n.hostname)).toEqual(['cpu-01', 'gpu-01']);
    expect(view.members).toEqual([N2]);
    expect((await t.api('GET', '/api/v1/groups/gpu_nodes')).body.priority).toBe(10);
    expect((await t.api('GET', '/api/v1/groups', undefined, viewer)).body.items.map((g: GroupView) => g.name)).toEqual(['gpu_nodes']);
    const patched = await t.api('PATCH', '/api/v1/groups/gpu_nodes', { priority: 20, selector: null, remove: ['cpu-01'], add: ['gpu-01'] });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ priority: 20, selector: null, members: [N1] });
    expect((await t.api('DELETE', '/api/v1/groups/gpu_nodes')).status).toBe(204);
    expect((await t.api('GET', '/api/v1/groups/gpu_nodes')).status).toBe(404);
    expect(await audits('groups.create')).toEqual([{ target: 'gpu_nodes', result: 'ok' }]);
    expect(await audits('groups.update')).toEqual([{ target: 'gpu_nodes', result: 'ok' }]);
    expect(await audits('groups.delete')).toEqual([{ target: 'gpu_nodes', result: 'ok' }]);
  });

  it.each([
    ['POST', '/api/v1/groups', { name: '9bad', priority: 0 }, 400, /name/],
    ['POST', '/api/v1/groups', { name: 'g', priority: 'high' }, 400, /priority/],
    ['POST', '/api/v1/groups', { name: 'g', priority: 5000 }, 400, /priority/],
    ['POST', '/api/v1/groups', { name: 'g', extra: 1 }, 400, /extra/],
    ['POST', '/api/v1/groups', { name: 'g', selector: 'rack in (r1' }, 400, /selector: .*unbalanced/],
    ['POST', '/api/v1/groups', { name: 'g', members: ['gpu-01', 'ghost'] }, 400, /unknown nodes: ghost/],
    ['POST', '/api/v1/groups', '{not json', 400, /./],
    ['POST', '/api/v1/groups', [1, 2], 400, /./],
    ['PATCH', '/api/v1/groups/nope', { priority: 1 }, 404, /no group 'nope'/],
    ['PATCH', '/api/v1/groups/g', { members: [] }, 400, /members/],
    ['GET', `/api/v1/groups/${'x'.repeat(65)}`, undefined, 400, /name/],
    ['DELETE', '/api/v1/groups/nope', undefined, 404, /no group 'nope'/],
    ['GET', '/api/v1/vars', undefined, 400, /scope/],
    ['GET', '/api/v1/vars?scope=planet', undefined, 400, /scope/],
    ['GET', '/api/v1/vars?scope=node&target=ghost', undefined, 404, /ghost/],
    ['PUT', '/api/v1/vars', { scope: 'global', set: { 'bad-name': 1 } }, 400, /variable name/],
    ['PUT', '/api/v1/vars', { scope: 'group', target: 'nope', set: { a: 1 } }, 404, /no group 'nope'/],
    ['PUT', '/api/v1/vars', { scope: 'global' }, 400, /nothing to change/],
    ['PUT', '/api/v1/vars', { scope: 'node', set: { a: 1 } }, 400, /target/],
    ['GET', '/api/v1/nodes/ghost/vars', undefined, 404, /ghost/],
    ['GET', '/api/v1/nodes/gpu-01/vars?extra=%7Bnope', undefined, 400, /extra: not JSON/],
    ['GET', '/api/v1/nodes/gpu-01/vars?extra=%7B%22bad-name%22%3A1%7D', undefined, 400, /extra/],
    ['GET', '/api/v1/nodes/gpu-01/vars?bogus=1', undefined, 400, /bogus|unrecognized/i],
  ])('%s %s %j → %i', async (method, path, body, status, message) => {
    const before = (await t.api('GET', '/api/v1/groups')).body.items;
    const res = await t.api(method, path, body);
    expect(res.status).toBe(status);
    expect(res.text).toMatch(message);
    expect((await t.api('GET', '/api/v1/groups')).body.items).toEqual(before);
  });

  it('roles: a viewer reads but cannot change; no token is 401', async () => {
    expect((await t.api('POST', '/api/v1/groups', { name: 'v' }, viewer)).status).toBe(403);
    expect((await t.api('PUT', '/api/v1/vars', { scope: 'global', set: { a: 1 } }, viewer)).status).toBe(403);
    expect((await t.api('GET', '/api/v1/vars?scope=global', undefined, null)).status).toBe(401);
    expect((await t.api('GET', '/api/v1/vars?scope=global', undefined, viewer)).status).toBe(200);
  });

  it('variables per scope and a node merged with extra vars, each value with its origin', async () => {
    expect((await t.api('POST', '/api/v1/groups', { name: 'rack1', priority: 5, selector: 'rack=r1' })).status).toBe(201);
    expect((await t.api('PUT', '/api/v1/vars', { scope: 'global', set: { driver: '535', cuda: true } })).status).toBe(200);
    const g = await t.api('PUT', '/api/v1/vars', { scope: 'group', target: 'rack1', set: { driver: '550', cfg: { a: [1, 2] } } });
    expect(g.body as VarsView).toMatchObject({ scope: 'group', target: 'rack1', vars: { driver: '550', cfg: { a: [1, 2] } } });
    const n = await t.api('PUT', '/api/v1/vars', { scope: 'node', target: 'gpu-01', set: { driver: '560' }, remove: ['nothing_here'] });
    expect(n.body).toMatchObject({ scope: 'node', target: N1, vars: { driver: '560' } });
    expect((await t.api('GET', '/api/v1/vars?scope=group&target=rack1', undefined, viewer)).body.vars).toEqual({ driver: '550', cfg: { a: [1, 2] } });

    const r = (await t.api('GET', `/api/v1/nodes/gpu-01/vars?extra=${encodeURIComponent('{"cuda":false}')}`)).body as ResolvedVarsView;
    expect(r).toMatchObject({ nodeId: N1, hostname: 'gpu-01', groups: [{ name: 'rack1', priority: 5 }] });
    expect(r.vars.driver?.origin).toEqual({
      scope: 'node',
      source: N1,
      overrides: [
        { scope: 'global', source: null, value: '535' },
        { scope: 'group', source: 'rack1', value: '550' },
      ],
    });
    expect(r.vars.cuda).toEqual({ value: false, origin: { scope: 'extra', source: null, overrides: [{ scope: 'global', source: null, value: true }] } });
    // Refusals above are recorded too, as errors; these three succeeded.
    expect((await audits('vars.set')).filter((a) => a.result === 'ok')).toHaveLength(3);
  });

  it('a node removed over REST leaves its groups and loses its variables', async () => {
    expect((await t.api('POST', '/api/v1/groups', { name: 'statics', members: ['cpu-01'] })).status).toBe(201);
    expect((await t.api('PUT', '/api/v1/vars', { scope: 'node', target: 'cpu-01', set: { x: 1 } })).status).toBe(200);
    expect((await t.api('DELETE', '/api/v1/nodes/cpu-01')).status).toBe(204);
    await expect.poll(async () => (await t.api('GET', '/api/v1/groups/statics')).body.members).toEqual([]);
    expect(await t.server.context.store.listVars({ scope: 'node', target: N2 })).toEqual([]);
  });
});
