import { describe, expect, it } from 'vitest';
import { FleetError } from '@gpufleet/protocol';
import { masterKeysFrom } from './master-keys.js';

const OLD = 'the old master key, long enough';
const NEW = 'the new master key, long enough';

function refusal(env: Record<string, string>, masterKey?: string): FleetError {
  try {
    masterKeysFrom(env, masterKey);
  } catch (err) {
    expect(err).toBeInstanceOf(FleetError);
    return err as FleetError;
  }
  throw new Error('expected masterKeysFrom to refuse');
}

describe('masterKeysFrom', () => {
  it('reads the current key with its version and the previous key one version below', () => {
    expect(masterKeysFrom({ GPUFLEET_MASTER_KEY: NEW, GPUFLEET_MASTER_KEY_VERSION: '3', GPUFLEET_MASTER_KEY_PREVIOUS: OLD })).toEqual({
      current: { key: NEW, version: 3 },
      previous: { key: OLD, version: 2 },
    });
    expect(masterKeysFrom({ GPUFLEET_MASTER_KEY: NEW })).toEqual({ current: { key: NEW, version: 1 }, previous: null });
    expect(masterKeysFrom({})).toEqual({ current: null, previous: null });
    expect(masterKeysFrom({ GPUFLEET_MASTER_KEY: '' })).toEqual({ current: null, previous: null });
  });

  it('lets a key given directly win over GPUFLEET_MASTER_KEY', () => {
    expect(masterKeysFrom({ GPUFLEET_MASTER_KEY: OLD }, NEW).current).toEqual({ key: NEW, version: 1 });
  });

  it('refuses a previous key without a version above 1, rather than ignoring it', () => {
    const err = refusal({ GPUFLEET_MASTER_KEY: NEW, GPUFLEET_MASTER_KEY_PREVIOUS: OLD });
    expect(err.code).toBe('invalid_argument');
    expect(err.message).toMatch(/GPUFLEET_MASTER_KEY_PREVIOUS is set but GPUFLEET_MASTER_KEY_VERSION is 1: .*GPUFLEET_MASTER_KEY_VERSION=2/);
    expect(refusal({ GPUFLEET_MASTER_KEY: NEW, GPUFLEET_MASTER_KEY_VERSION: '1', GPUFLEET_MASTER_KEY_PREVIOUS: OLD }).message).toMatch(/VERSION is 1/);
  });

  it('refuses the same key as both the current and the previous one', () => {
    const err = refusal({ GPUFLEET_MASTER_KEY: NEW, GPUFLEET_MASTER_KEY_VERSION: '2', GPUFLEET_MASTER_KEY_PREVIOUS: NEW });
    expect(err.message).toMatch(/GPUFLEET_MASTER_KEY_PREVIOUS is the same key as GPUFLEET_MASTER_KEY/);
  });

  it('refuses a previous key without a current one', () => {
    expect(refusal({ GPUFLEET_MASTER_KEY_VERSION: '2', GPUFLEET_MASTER_KEY_PREVIOUS: OLD }).message).toMatch(
      /GPUFLEET_MASTER_KEY_PREVIOUS is set but GPUFLEET_MASTER_KEY is not/,
    );
  });

  it('refuses a garbage version and short keys', () => {
    for (const version of ['two', '0', '-1', '1.5', '']) {
      expect(refusal({ GPUFLEET_MASTER_KEY: NEW, GPUFLEET_MASTER_KEY_VERSION: version }).message).toMatch(/GPUFLEET_MASTER_KEY_VERSION must be a whole number/);
    }
    expect(refusal({ GPUFLEET_MASTER_KEY: 'short' }).message).toMatch(/at least 16 characters/);
    expect(refusal({ GPUFLEET_MASTER_KEY: NEW, GPUFLEET_MASTER_KEY_VERSION: '2', GPUFLEET_MASTER_KEY_PREVIOUS: 'short' }).message).toMatch(/at least 16/);
  });
});
