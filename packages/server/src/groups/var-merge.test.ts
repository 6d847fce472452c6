import { describe, expect, it } from 'vitest';
import { groupsInMergeOrder, mergeVarLayers, type VarLayer } from './var-merge.js';

const global = (vars: Record<string, unknown>): VarLayer => ({ scope: 'global', source: null, vars });
const group = (name: string, vars: Record<string, unknown>): VarLayer => ({ scope: 'group', source: name, vars });
const node = (vars: Record<string, unknown>): VarLayer => ({ scope: 'node', source: 'did:key:z6MkN', vars });
const extra = (vars: Record<string, unknown>): VarLayer => ({ scope: 'extra', source: null, vars });

describe('groupsInMergeOrder', () => {
  it.each([
    {
      groups: [
        { name: 'b', priority: 10 },
        { name: 'a', priority: 0 },
      ],
      order: ['a', 'b'],
    },
    {
      groups: [
        { name: 'z', priority: 5 },
        { name: 'a', priority: 5 },
      ],
      order: ['a', 'z'],
    },
    {
      groups: [
        { name: 'x', priority: -1000 },
        { name: 'y', priority: 1000 },
        { name: 'm', priority: 0 },
      ],
      order: ['x', 'm', 'y'],
    },
    {
      groups: [
        { name: 'B', priority: 1 },
        { name: 'a', priority: 1 },
      ],
      order: ['B', 'a'],
    },
    { groups: [], order: [] },
  ])('orders $order', ({ groups, order }) => {
    expect(groupsInMergeOrder(groups).map((g) => g.name)).toEqual(order);
  });
});

describe('mergeVarLayers', () => {
  it.each([
    {
      name: 'a value set once keeps its origin and overrides nothing',
      layers: [global({ a: 1 })],
      want: { a: { value: 1, origin: { scope: 'global', source: null, overrides: [] } } },
    },
    {
      name: 'global < group < node < extra, overrides listed lowest first',
      layers: [global({ v: 1 }), group('g', { v: 2 }), node({ v: 3 }), extra({ v: 4 })],
      want: {
        v: {
          value: 4,
          origin: {
            scope: 'extra',
            source: null,
            overrides: [
              { scope: 'global', source: null, value: 1 },
              { scope: 'group', source: 'g', value: 2 },
              { scope: 'node', source: 'did:key:z6MkN', value: 3 },
            ],
          },
        },
      },
    },
    {
      name: 'objects are replaced whole, not deep-merged',
      layers: [global({ cfg: { a: 1, b: 2 } }), group('g', { cfg: { b: 3 } })],
      want: { cfg: { value: { b: 3 }, origin: { scope: 'group', source: 'g', overrides: [{ scope: 'global', source: null, value: { a: 1, b: 2 } }] } } },
    },
    {
      name: 'lists are replaced whole, null is a value like any other',
      layers: [global({ l: [1, 2], n: 'x' }), node({ l: [3], n: null })],
      want: {
        l: { value: [3], origin: { scope: 'node', source: 'did:key:z6MkN', overrides: [{ scope: 'global', source: null, value: [1, 2] }] } },
        n: { value: null, origin: { scope: 'node', source: 'did:key:z6MkN', overrides: [{ scope: 'global', source: null, value: 'x' }] } },
      },
    },
    {
      name: 'values from different layers sit side by side, sorted by name',
      layers: [global({ z: 1 }), group('g', { a: 2 }), extra({ m: 3 })],
      want: {
        a: { value: 2, origin: { scope: 'group', source: 'g', overrides: [] } },
        m: { value: 3, origin: { scope: 'extra', source: null, overrides: [] } },
        z: { value: 1, origin: { scope: 'global', source: null, overrides: [] } },
      },
    },
    {
      name: 'two groups: the later one wins and lists the earlier',
      layers: [group('low', { d: '535' }), group('high', { d: '550' })],
      want: { d: { value: '550', origin: { scope: 'group', source: 'high', overrides: [{ scope: 'group', source: 'low', value: '535' }] } } },
    },
    { name: 'no layers, nothing', layers: [], want: {} },
    {
      name: 'a name like __proto__ is an ordinary variable',
      layers: [global(JSON.parse('{"__proto__": 1}')), node(JSON.parse('{"__proto__": 2}'))],
      want: JSON.parse(
        '{"__proto__": {"value": 2, "origin": {"scope": "node", "source": "did:key:z6MkN", "overrides": [{"scope": "global", "source": null, "value": 1}]}}}',
      ),
    },
  ])('$name', ({ layers, want }) => {
    const got = mergeVarLayers(layers as VarLayer[]);
    expect(JSON.stringify(got)).toBe(JSON.stringify(want));
    expect(Object.keys(got)).toEqual(Object.keys(want));
  });
});
