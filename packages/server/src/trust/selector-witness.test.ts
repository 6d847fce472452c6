import { describe, expect, it } from 'vitest';
import { matchesSelector, parseSelector } from '@gpufleet/protocol';
import { labelsSatisfying } from './selector-witness.js';

describe('labelsSatisfying', () => {
  it.each(['*', '', 'region=eu', 'region=eu,pool in (a,b)', 'gpu.model', 'pool notin (x0,x1),pool', 'a!=1,!b,c in (2,3),c!=2', 'region=eu,region in (eu,us)'])(
    'finds labels that %s matches',
    (source) => {
      const labels = labelsSatisfying(source);
      expect(labels).not.toBeNull();
      expect(matchesSelector(parseSelector(source), labels!)).toBe(true);
    },
  );

  it('gives the labels a selector names', () => {
    expect(labelsSatisfying('region=eu,pool in (a,b),!spot')).toEqual({ region: 'eu', pool: 'a' });
  });

  it.each(['a=1,a!=1', 'a,!a', 'a in (1),a notin (1)', 'a=1,a=2', 'bad selector ((('])('returns null when no host can match %s', (source) => {
    expect(labelsSatisfying(source)).toBeNull();
  });
});
