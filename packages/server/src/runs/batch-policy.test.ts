import { describe, expect, it } from 'vitest';
import { FleetError } from '@gpufleet/protocol';
import { BatchOptions, resolveBatchPolicy, splitBatches } from './batch-policy.js';

describe('resolveBatchPolicy', () => {
  it('defaults to one batch of every target, no parallel limit, no threshold', () => {
    expect(resolveBatchPolicy(undefined, 7)).toEqual({ maxParallel: null, batchSize: 7, failureThreshold: null, asked: {} });
  });

  it('rounds a batch percentage up and a threshold percentage down, and caps the batch at the target count', () => {
    expect(resolveBatchPolicy({ batchSize: '25%', failureThreshold: '10%' }, 15)).toMatchObject({ batchSize: 4, failureThreshold: 1 });
    expect(resolveBatchPolicy({ batchSize: '0.5%' }, 3)).toMatchObject({ batchSize: 1 });
    expect(resolveBatchPolicy({ batchSize: 50, failureThreshold: '0%' }, 3)).toMatchObject({ batchSize: 3, failureThreshold: 0 });
    expect(resolveBatchPolicy({ batchSize: '7', failureThreshold: '2' }, 30)).toMatchObject({ batchSize: 7, failureThreshold: 2 });
  });

  it('refuses a zero batch and percentages above 100', () => {
    for (const bad of [{ batchSize: 0 }, { batchSize: '0' }, { batchSize: '0%' }, { batchSize: '101%' }, { failureThreshold: '150%' }]) {
      expect(() => resolveBatchPolicy(bad, 10)).toThrow(FleetError);
    }
  });

  it('the request schema refuses what is not a count or a percentage', () => {
    for (const bad of [{ batchSize: 'half' }, { batchSize: -1 }, { batchSize: 1.5 }, { maxParallel: 0 }, { failureThreshold: '5 %' }, { other: 1 }]) {
      expect(BatchOptions.safeParse(bad).success).toBe(false);
    }
    expect(BatchOptions.safeParse({ maxParallel: 3, batchSize: '12.5%', failureThreshold: 0 }).success).toBe(true);
  });
});

describe('splitBatches', () => {
  it('cuts in order, the last batch taking the rest', () => {
    expect(splitBatches([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(splitBatches([], 3)).toEqual([]);
  });
});
