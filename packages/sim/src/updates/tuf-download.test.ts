import { describe, expect, it } from 'vitest';
import { pathMatches } from './tuf-download.js';

describe('pathMatches (the delegation path rule the simulator follows, as tuf-js applies it)', () => {
  it('matches segment by segment, with as many segments as the pattern', () => {
    expect(pathMatches('bundles/ml-*/*', 'bundles/ml-serving/ml-serving-1.tar')).toBe(true);
    expect(pathMatches('bundles/ml-*/*', 'bundles/mlops-x/mlops-x-1.tar')).toBe(false);
    expect(pathMatches('bundles/ml-*/*', 'bundles/ml-serving/sub/ml-serving-1.tar')).toBe(false);
    expect(pathMatches('bundles/ml-*/*', 'agent/gpufleet-agent-1.tgz')).toBe(false);
    expect(pathMatches('bundles/ml-?/*', 'bundles/ml-a/x.tar')).toBe(true);
    // Regex characters in a pattern are literal.
    expect(pathMatches('bundles/ml.x/*', 'bundles/mlyx/a')).toBe(false);
  });
});
