import { describe, expect, it } from 'vitest';
import { FleetError } from './errors.js';
import { formatSelector, matchesSelector, parseSelector } from './selector.js';

const labels = { 'gpu.model': 'H100', region: 'eu', 'gpu.count': '8', spot: 'true' };

describe('label selectors', () => {
  it.each([
    ['', true],
    ['*', true],
    ['gpu.model=H100', true],
    ['gpu.model==H100', true],
    ['gpu.model=A100', false],
    ['gpu.model!=A100', true],
    ['gpu.model!=H100', false],
    ['region in (eu,us)', true],
    ['region in (us, ap)', false],
    ['region notin (us,ap)', true],
    ['region notin (eu)', false],
    ['missing notin (a)', true],
    ['spot', true],
    ['missing', false],
    ['!missing', true],
    ['!spot', false],
    ['gpu.model=H100,region=eu', true],
    ['gpu.model=H100, region in (eu,us), !missing', true],
    ['gpu.model=H100,region=us', false],
    ['missing!=x', true],
  ])('%s matches: %s', (text, expected) => {
    expect(matchesSelector(parseSelector(text), labels)).toBe(expected);
  });

  it('parses every requirement kind into its parts', () => {
    expect(parseSelector('a=1,b!=2,c in (x,y),d notin (z),e,!f').requirements).toEqual([
      { key: 'a', op: 'eq', value: '1' },
      { key: 'b', op: 'neq', value: '2' },
      { key: 'c', op: 'in', values: ['x', 'y'] },
      { key: 'd', op: 'notin', values: ['z'] },
      { key: 'e', op: 'exists' },
      { key: 'f', op: 'notexists' },
    ]);
  });

  it('round-trips through formatSelector', () => {
    const text = 'a=1,b!=2,c in (x,y),!f';
    expect(formatSelector(parseSelector(text))).toBe(text);
  });

  it.each(['a=1,,b=2', 'region in (eu,', 'region in ()', 'a)b', 'bad key=1', '=v', 'a=b c', 'a in (x,,y)', '!', 'x'.repeat(5000)])(
    'refuses %s with a clear error',
    (text) => {
      expect(() => parseSelector(text)).toThrow(FleetError);
      try {
        parseSelector(text);
      } catch (err) {
        expect((err as FleetError).code).toBe('invalid_argument');
        expect((err as Error).message).toMatch(/bad label selector/);
      }
    },
  );

  it('does not treat inherited object properties as labels', () => {
    expect(matchesSelector(parseSelector('constructor'), {})).toBe(false);
    expect(matchesSelector(parseSelector('toString=x'), {})).toBe(false);
  });
});
