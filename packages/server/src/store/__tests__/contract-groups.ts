import { describe, expect, it } from 'vitest';
import type { GroupRecord } from '../store.js';
import { expectFleetError, type StoreRef } from './contract-helpers.js';
import { T0 } from './store-fixtures.js';

const A = 'did:key:z6MkGroupA';
const B = 'did:key:z6MkGroupB';

function sampleGroup(name: string, overrides: Partial<GroupRecord> = {}): GroupRecord {
  return {
    name,
    description: 'GPU hosts "ünï"',
    priority: 10,
    selector: 'gpu.vendor=nvidia',
    members: [B, A].sort(),
    createdAt: T0,
    updatedAt: T0,
    createdBy: 'token:ops(abc)',
    ...overrides,
  };
}

/** Contract cases for node groups and layered variables (0010_groups). */
export function groupContract(store: StoreRef): void {
  describe('groups and variables', () => {
    it('round-trips a group with and without a selector, lists by name, refuses a taken name', async () => {
      await store().insertGroup(sampleGroup('zeta'));
      await store().insertGroup(sampleGroup('Alpha', { selector: null, members: [], priority: -5, description: '' }));
      expect(await store().getGroup('zeta')).toEqual(sampleGroup('zeta'));
      expect(await store().getGroup('Alpha')).toEqual(sampleGroup('Alpha', { selector: null, members: [], priority: -5, description: '' }));
      expect((await store().listGroups()).map((g) => g.name)).toEqual(['Alpha', 'zeta']);
      await expectFleetError(store().insertGroup(sampleGroup('zeta', { priority: 1 })), 'already_exists');
      expect((await store().getGroup('zeta'))?.priority).toBe(10);
      expect(await store().getGroup('nope')).toBeUndefined();
    });

    it('patches a group and its members in one call; not_found for an unknown group; garbage changes nothing', async () => {
      await store().insertGroup(sampleGroup('g', { members: [A] }));
      await store().updateGroup('g', { priority: 3, selector: null, updatedAt: T0 + 5 }, { add: [B, B], remove: [A] });
      expect(await store().getGroup('g')).toEqual(sampleGroup('g', { priority: 3, selector: null, updatedAt: T0 + 5, members: [B] }));
      await expectFleetError(store().updateGroup('nope', { priority: 1 }), 'not_found');
      await expectFleetError(store().updateGroup('g', { priority: 1.5 }), 'invalid_argument');
      await expectFleetError(store().updateGroup('g', { name: 'x' } as never), 'invalid_argument');
      await expectFleetError(store().updateGroup('g', {}, { add: [''] }), 'invalid_argument');
      await expectFleetError(store().insertGroup(sampleGroup('bad', { members: [42 as never] })), 'invalid_argument');
      expect(await store().getGroup('bad')).toBeUndefined();
      expect((await store().getGroup('g'))?.members).toEqual([B]);
    });

    it('sets, overwrites and removes variables per scope; values keep their JSON type', async () => {
      await store().changeVars({ scope: 'global', target: '', set: { a: 1, b: 'x' }, remove: [], at: T0, by: 'u1' });
      await store().changeVars({ scope: 'group', target: 'g', set: { a: [1, 'two', { three: 3 }], c: null }, remove: [], at: T0, by: 'u1' });
      await store().changeVars({ scope: 'node', target: A, set: { a: true, d: { nested: { deep: 'ünï' } } }, remove: [], at: T0, by: 'u1' });
      await store().changeVars({ scope: 'global', target: '', set: { a: 2.5 }, remove: ['b'], at: T0 + 1, by: 'u2' });
      expect(await store().listVars({ scope: 'global' })).toEqual([{ scope: 'global', target: '', name: 'a', value: 2.5, updatedAt: T0 + 1, updatedBy: 'u2' }]);
      expect((await store().listVars({ scope: 'group', target: 'g' })).map((v) => [v.name, v.value])).toEqual([
        ['a', [1, 'two', { three: 3 }]],
        ['c', null],
      ]);
      expect((await store().listVars()).map((v) => `${v.scope}/${v.target}/${v.name}`)).toEqual([
        'global//a',
        'group/g/a',
        'group/g/c',
        `node/${A}/a`,
        `node/${A}/d`,
      ]);
      expect((await store().listVars({ target: A })).find((v) => v.name === 'd')?.value).toEqual({ nested: { deep: 'ünï' } });
    });

    it('refuses garbage variable changes and writes nothing', async () => {
      const ok = { scope: 'node' as const, target: A, set: { a: 1 }, remove: [], at: T0, by: 'u' };
      await expectFleetError(store().changeVars({ ...ok, scope: 'planet' as never }), 'invalid_argument');
      await expectFleetError(store().changeVars({ ...ok, scope: 'global', target: 'x' }), 'invalid_argument');
      await expectFleetError(store().changeVars({ ...ok, target: '' }), 'invalid_argument');
      await expectFleetError(store().changeVars({ ...ok, at: 1.5 }), 'invalid_argument');
      await expectFleetError(store().changeVars({ ...ok, set: { a: 1, b: 10n as never } }), 'invalid_argument');
      await expectFleetError(store().changeVars({ ...ok, set: [1] as never }), 'invalid_argument');
      expect(await store().listVars()).toEqual([]);
    });

    it('deleting a group takes its members and group variables, nothing else', async () => {
      await store().insertGroup(sampleGroup('g'));
      await store().insertGroup(sampleGroup('h'));
      await store().changeVars({ scope: 'group', target: 'g', set: { a: 1 }, remove: [], at: T0, by: 'u' });
      await store().changeVars({ scope: 'group', target: 'h', set: { a: 2 }, remove: [], at: T0, by: 'u' });
      expect(await store().deleteGroup('g')).toBe(true);
      expect(await store().deleteGroup('g')).toBe(false);
      expect(await store().getGroup('g')).toBeUndefined();
      expect((await store().listVars()).map((v) => v.target)).toEqual(['h']);
      // A group created again under the name starts empty.
      await store().insertGroup(sampleGroup('g', { members: [] }));
      expect((await store().getGroup('g'))?.members).toEqual([]);
      expect((await store().getGroup('h'))?.members).toEqual([A, B].sort());
    });

    it('a node forgotten leaves every group and loses its node variables only', async () => {
      await store().insertGroup(sampleGroup('g'));
      await store().insertGroup(sampleGroup('h', { members: [A] }));
      await store().changeVars({ scope: 'node', target: A, set: { a: 1 }, remove: [], at: T0, by: 'u' });
      await store().changeVars({ scope: 'node', target: B, set: { a: 2 }, remove: [], at: T0, by: 'u' });
      await store().changeVars({ scope: 'group', target: 'g', set: { a: 3 }, remove: [], at: T0, by: 'u' });
      await store().forgetNodeInGroups(A);
      expect((await store().getGroup('g'))?.members).toEqual([B]);
      expect((await store().getGroup('h'))?.members).toEqual([]);
      expect((await store().listVars()).map((v) => `${v.scope}/${v.target}`)).toEqual(['group/g', `node/${B}`]);
    });
  });
}
