import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FleetError, type ErrorCode } from '@gpufleet/protocol';
import { openStore } from '../store/open-store.js';
import type { Store } from '../store/store.js';
import { EventHub } from '../events/event-hub.js';
import { NodeRegistry } from '../services/node-registry.js';
import type { ActionAudit, ActionOutcome } from '../services/audit-log.js';
import { makeNode, TestClock } from '../alerts/__tests__/alert-fixtures.js';
import { GroupsService } from './groups-service.js';
import { NO_OTHER_REPLICAS } from '../replicas/session-owners.js';

/**
 * The groups service over a real SQLite store and the real registry: members by hand and by
 * selector, refusals that name the problem and change nothing, the variable layering, play
 * selectors with `group` terms, and a removed node leaving its groups.
 */

const N1 = 'did:key:z6MkGroupsOne';
const N2 = 'did:key:z6MkGroupsTwo';
const N3 = 'did:key:z6MkGroupsThree';

let dir: string;
let store: Store;
let hub: EventHub;
let registry: NodeRegistry;
let groups: GroupsService;
let notes: ActionOutcome[];
const audit: ActionAudit = { actor: 'token:test(t1)', note: async (e) => void notes.push(e) };

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gpufleet-groups-'));
  store = await openStore({ database: null, dataDir: dir });
  await store.migrate();
  const clock = new TestClock();
  hub = new EventHub();
  registry = new NodeRegistry({ remoteSessions: NO_OTHER_REPLICAS, store, clock, hub, offlineAfterMs: 60_000, latestMetrics: () => null });
  await registry.add(makeNode(N1, { hostname: 'gpu-01', labels: { rack: 'r1' } }));
  await registry.add(makeNode(N2, { hostname: 'gpu-02', labels: { rack: 'r2' } }));
  await registry.add(makeNode(N3, { hostname: 'cpu-01', gpus: 0, labels: { rack: 'r1' } }));
  groups = new GroupsService({ store, registry, clock, hub, warn: () => {} });
  groups.start();
  notes = [];
});

afterEach(async () => {
  groups?.stop();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function refused(work: Promise<unknown>, code: ErrorCode, message: RegExp): Promise<void> {
  const err = await work.then(
    () => new Error('resolved'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FleetError);
  expect((err as FleetError).code).toBe(code);
  expect((err as FleetError).message).toMatch(message);
}

describe('groups', () => {
  it('members are static members and selector matches, by hostname; members given by hostname or id prefix', async () => {
    const view = await groups.create({ name: 'gpu_nodes', priority: 10, selector: 'gpu.vendor=nvidia', members: ['cpu-01'] }, audit);
    expect(view.members).toEqual([N3]);
    expect(view.nodes.map((n) => n.hostname)).toEqual(['cpu-01', 'gpu-01', 'gpu-02']);
    await groups.create({ name: 'r1', priority: 0, members: ['z6MkGroupsOne'] }, audit);
    expect((await groups.get('r1')).nodes).toEqual([{ id: N1, hostname: 'gpu-01' }]);
    expect(notes.map((n) => [n.action, n.target])).toEqual([
      ['groups.create', 'gpu_nodes'],
      ['groups.create', 'r1'],
    ]);
    expect((await groups.list()).map((g) => g.name)).toEqual(['gpu_nodes', 'r1']);
  });

  it('refuses bad selectors, unknown members and taken names, naming them, and stores nothing', async () => {
    await refused(groups.create({ name: 'g', priority: 0, selector: 'rack in (r1' }, audit), 'invalid_argument', /selector: .*unbalanced/);
    await refused(groups.create({ name: 'g', priority: 0, selector: 'group=x' }, audit), 'invalid_argument', /labels only/);
    await refused(groups.create({ name: 'g', priority: 0, selector: '  ' }, audit), 'invalid_argument', /selector: empty/);
    await refused(
      groups.create({ name: 'g', priority: 0, members: ['gpu-01', 'nope-1', 'nope-2'] }, audit),
      'invalid_argument',
      /unknown nodes: nope-1, nope-2/,
    );
    expect(await groups.list()).toEqual([]);
    await groups.create({ name: 'g', priority: 0 }, audit);
    await refused(groups.create({ name: 'g', priority: 1 }, audit), 'already_exists', /'g' already exists/);
    await refused(groups.get('h'), 'not_found', /no group 'h' \(groups: g\)/);
    expect(notes).toHaveLength(1);
  });

  it('updates priority, selector and static members; refuses a remove of a non-member and an empty update', async () => {
    await groups.create({ name: 'g', priority: 0, members: ['gpu-01'] }, audit);
    const v = await groups.update('g', { priority: 5, selector: 'rack=r2', add: ['cpu-01'], remove: ['gpu-01'] }, audit);
    expect(v.priority).toBe(5);
    expect(v.members).toEqual([N3]);
    expect(v.nodes.map((n) => n.hostname)).toEqual(['cpu-01', 'gpu-02']);
    expect((await groups.update('g', { selector: null }, audit)).nodes.map((n) => n.hostname)).toEqual(['cpu-01']);
    await refused(groups.update('g', { remove: ['gpu-02'] }, audit), 'invalid_argument', /not static members of group 'g': gpu-02/);
    await refused(groups.update('g', {}, audit), 'invalid_argument', /nothing to change/);
    await refused(groups.update('g', { selector: 'a=(' }, audit), 'invalid_argument', /selector/);
    await refused(groups.update('nope', { priority: 1 }, audit), 'not_found', /no group 'nope'/);
    expect((await groups.get('g')).priority).toBe(5);
    expect(notes.map((n) => n.action)).toEqual(['groups.create', 'groups.update', 'groups.update']);
  });

  it('delete takes the group and its variables', async () => {
    await groups.create({ name: 'g', priority: 0 }, audit);
    await groups.setVars({ scope: 'group', target: 'g', set: { a: 1 } }, audit);
    await groups.delete('g', audit);
    await refused(groups.get('g'), 'not_found', /no group 'g'/);
    await refused(groups.delete('g', audit), 'not_found', /no group/);
    expect(await store.listVars()).toEqual([]);
    expect(notes.at(-1)?.action).toBe('groups.delete');
  });
});

describe('variables', () => {
  it('sets, reads and removes per scope; node targets by hostname; refusals name the field', async () => {
    await groups.create({ name: 'g', priority: 0 }, audit);
    expect((await groups.setVars({ scope: 'global', set: { a: 1, b: 'x' } }, audit)).vars).toEqual({ a: 1, b: 'x' });
    const nodeVars = await groups.setVars({ scope: 'node', target: 'gpu-01', set: { a: [1, 2] } }, audit);
    expect(nodeVars).toMatchObject({ scope: 'node', target: N1, vars: { a: [1, 2] } });
    expect((await groups.setVars({ scope: 'global', remove: ['b'] }, audit)).vars).toEqual({ a: 1 });
    expect((await groups.getVars('group', 'g')).vars).toEqual({});
    expect(notes.at(-1)).toMatchObject({ action: 'vars.set', target: 'global', details: { set: [], remove: ['b'] } });
    await refused(groups.setVars({ scope: 'group', target: 'nope', set: { a: 1 } }, audit), 'not_found', /no group 'nope'/);
    await refused(groups.setVars({ scope: 'node', target: 'nope', set: { a: 1 } }, audit), 'not_found', /nope/);
    await refused(groups.setVars({ scope: 'node', set: { a: 1 } }, audit), 'invalid_argument', /target: name the node/);
    await refused(groups.setVars({ scope: 'global', target: 'x', set: { a: 1 } }, audit), 'invalid_argument', /global variables have no target/);
    await refused(groups.setVars({ scope: 'global' }, audit), 'invalid_argument', /nothing to change/);
    await refused(groups.setVars({ scope: 'global', set: { a: 2 }, remove: ['a'] }, audit), 'invalid_argument', /both name: a/);
    expect((await groups.getVars('global', undefined)).vars).toEqual({ a: 1 });
  });

  it('resolve merges global < groups by priority (ties by name) < node < extra, with origins', async () => {
    await groups.create({ name: 'gpu_nodes', priority: 10, selector: 'gpu.vendor=nvidia' }, audit);
    await groups.create({ name: 'rack1', priority: 0, selector: 'rack=r1' }, audit);
    await groups.create({ name: 'z_tie', priority: 10, members: ['gpu-01'] }, audit);
    await groups.setVars({ scope: 'global', set: { driver: '535', cuda: true, only_global: 1 } }, audit);
    await groups.setVars({ scope: 'group', target: 'rack1', set: { driver: '545', cfg: { a: 1, b: 2 } } }, audit);
    await groups.setVars({ scope: 'group', target: 'gpu_nodes', set: { driver: '550', cfg: { b: 3 } } }, audit);
    await groups.setVars({ scope: 'group', target: 'z_tie', set: { driver: '555' } }, audit);
    await groups.setVars({ scope: 'node', target: 'gpu-01', set: { cuda: false } }, audit);

    const r = await groups.resolve(N1, { cuda: 'extra' });
    expect(r.hostname).toBe('gpu-01');
    expect(r.groups).toEqual([
      { name: 'z_tie', priority: 10 },
      { name: 'gpu_nodes', priority: 10 },
      { name: 'rack1', priority: 0 },
    ]);
    expect(r.vars.driver).toEqual({
      value: '555',
      origin: {
        scope: 'group',
        source: 'z_tie',
        overrides: [
          { scope: 'global', source: null, value: '535' },
          { scope: 'group', source: 'rack1', value: '545' },
          { scope: 'group', source: 'gpu_nodes', value: '550' },
        ],
      },
    });
    expect(r.vars.cfg?.value).toEqual({ b: 3 });
    expect(r.vars.cuda?.value).toBe('extra');
    expect(r.vars.cuda?.origin.overrides.map((o) => o.scope)).toEqual(['global', 'node']);
    expect(r.vars.only_global?.origin).toEqual({ scope: 'global', source: null, overrides: [] });
    expect(await groups.groupsOf(N1)).toEqual(r.groups);

    const cpu = await groups.resolve(N3, {});
    expect(cpu.groups).toEqual([{ name: 'rack1', priority: 0 }]);
    expect(cpu.vars.driver?.value).toBe('545');
    await refused(groups.resolve('did:key:z6MkNobody', {}), 'not_found', /no node/);
  });
});

describe('select (play selectors)', () => {
  beforeEach(async () => {
    await groups.create({ name: 'a', priority: 0, members: ['gpu-01'] }, audit);
    await groups.create({ name: 'b', priority: 0, selector: 'rack=r2' }, audit);
  });

  it.each([
    ['group=a', [N1]],
    ['group!=a', [N2, N3]],
    ['group in (a,b)', [N1, N2]],
    ['group notin (a,b)', [N3]],
    ['group', [N1, N2]],
    ['!group', [N3]],
    ['group in (a,b),rack=r2', [N2]],
    ['rack=r1', [N1, N3]],
    ['group=nope', []],
    ['', [N1, N2, N3]],
  ])('%s', async (selector, want) => {
    expect((await groups.select(selector)).sort()).toEqual([...want].sort());
  });

  it('refuses garbage naming the problem', async () => {
    await refused(groups.select('group in (a'), 'invalid_argument', /unbalanced/);
    await refused(groups.select('=x'), 'invalid_argument', /not a valid label key/);
  });
});

describe('a removed node', () => {
  it('leaves its groups and loses its node variables; other nodes keep theirs', async () => {
    await groups.create({ name: 'a', priority: 0, members: ['gpu-01', 'gpu-02'] }, audit);
    await groups.setVars({ scope: 'node', target: 'gpu-01', set: { x: 1 } }, audit);
    await groups.setVars({ scope: 'node', target: 'gpu-02', set: { x: 2 } }, audit);
    await registry.remove(N1, 'test');
    await expect.poll(async () => (await groups.get('a')).members).toEqual([N2]);
    await expect.poll(async () => (await store.listVars({ scope: 'node' })).map((v) => v.target)).toEqual([N2]);
    expect(await groups.select('group=a')).toEqual([N2]);
    await refused(groups.update('a', { add: ['gpu-01'] }, audit), 'invalid_argument', /removed node/);
  });
});
