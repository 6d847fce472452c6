import { describe, expect, it } from 'vitest';
import { canonicalJson } from './canonical-json.js';
import { FleetError } from './errors.js';

describe('canonicalJson', () => {
  it('sorts keys so that member order does not change the encoding', () => {
    const a = canonicalJson({ b: 1, a: 2, c: { z: true, y: null } });
    const b = canonicalJson({ c: { y: null, z: true }, a: 2, b: 1 });
    expect(a).toBe('{"a":2,"b":1,"c":{"y":null,"z":true}}');
    expect(b).toBe(a);
  });

  it('sorts by UTF-16 code unit, upper case before lower case', () => {
    expect(canonicalJson({ b: 0, B: 0, a: 0, _: 0, '1': 0 })).toBe('{"1":0,"B":0,"_":0,"a":0,"b":0}');
  });

  it('keeps array order and encodes nested arrays and objects without whitespace', () => {
    expect(canonicalJson([3, 1, [2, { y: 'x', x: [] }], {}])).toBe('[3,1,[2,{"x":[],"y":"x"}],{}]');
    expect(canonicalJson([1, 2])).not.toBe(canonicalJson([2, 1]));
  });

  it('drops undefined object members, like JSON.stringify', () => {
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
    expect(canonicalJson({ a: undefined })).toBe('{}');
  });

  it('encodes scalars as JSON does', () => {
    expect(canonicalJson(null)).toBe('null');
    expect(canonicalJson(true)).toBe('true');
    expect(canonicalJson(false)).toBe('false');
    expect(canonicalJson(0)).toBe('0');
    expect(canonicalJson(-0)).toBe('0');
    expect(canonicalJson(1.5e300)).toBe('1.5e+300');
    expect(canonicalJson(1774267200000)).toBe('1774267200000');
    expect(canonicalJson('a"b\\c\n')).toBe('"a\\"b\\\\c\\n"');
  });

  it('keeps unicode text as is and escapes lone surrogates', () => {
    expect(canonicalJson({ ключ: 'värde 🚀', 日本: '語' })).toBe('{"ключ":"värde 🚀","日本":"語"}');
    expect(canonicalJson('\ud800')).toBe('"\\ud800"');
    // The same text in two normalization forms is two different values: no silent normalization.
    expect(canonicalJson('\u00e9')).not.toBe(canonicalJson('e\u0301'));
  });

  it('round-trips through JSON.parse to an equal value', () => {
    const value = { z: [1, 'two', { three: [null, false] }], a: { nested: { deeper: 'ü' } } };
    expect(JSON.parse(canonicalJson(value))).toEqual(value);
  });

  it.each([
    ['NaN', NaN],
    ['Infinity', Infinity],
    ['-Infinity', -Infinity],
    ['NaN nested in an object', { a: { b: NaN } }],
    ['Infinity in an array', [1, Infinity]],
  ])('refuses %s', (_name, value) => {
    expect(() => canonicalJson(value)).toThrow(FleetError);
    expect(() => canonicalJson(value)).toThrow(/finite/);
  });

  it('refuses undefined inside an array, naming where', () => {
    expect(() => canonicalJson({ list: [1, undefined] })).toThrow(/\$\.list\[1\].*undefined/);
    // A sparse array's hole is undefined too.
    expect(() => canonicalJson([1, undefined, 3])).toThrow(FleetError);
  });

  it.each([
    ['a function', () => 1],
    ['a symbol', Symbol('x')],
    ['a bigint', 10n],
    ['undefined at the top', undefined],
    ['a Date', new Date(0)],
    ['a Map', new Map()],
    ['a Buffer', Buffer.from('x')],
  ])('refuses %s', (_name, value) => {
    expect(() => canonicalJson(value)).toThrow(FleetError);
  });

  it('refuses cycles but accepts a shared (acyclic) sub-object', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    expect(() => canonicalJson(cyclic)).toThrow(/cycle/);
    const shared = { x: 1 };
    expect(canonicalJson({ a: shared, b: [shared] })).toBe('{"a":{"x":1},"b":[{"x":1}]}');
  });

  it('accepts objects without a prototype', () => {
    const bare = Object.create(null) as Record<string, unknown>;
    bare.b = 2;
    bare.a = 1;
    expect(canonicalJson(bare)).toBe('{"a":1,"b":2}');
  });
});
