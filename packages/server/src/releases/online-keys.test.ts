import { afterEach, describe, expect, it } from 'vitest';
import { FleetError } from '@gpufleet/protocol';
import { masterKeysFrom } from '../trust/master-keys.js';
import { openSecret } from '../trust/secret-box.js';
import { MASTER_KEY, startReleaseKit, type ReleaseKit } from './__tests__/release-kit.js';
import { readKeyDir } from './key-dir.js';
import { releaseKeySecretId } from './online-keys.js';
import { ReleaseRepository } from './release-repository.js';
import { latestMetadata } from './release-reads.js';

/** The online release keys through a master key rotation: the kit uploads them under MASTER_KEY. */
const NEW_KEY = 'the rotated release master key, long enough';

let kit: ReleaseKit;
let logs: string[];
afterEach(() => kit?.close());

/** The repository as a server restarted with these keys would build it. */
function restartedWith(env: Record<string, string>): ReleaseRepository {
  logs = [];
  return new ReleaseRepository({ store: kit.store, clock: kit.clock, keys: masterKeysFrom(env), log: { info: (_o, msg) => void logs.push(msg) } });
}

async function uploaded(): Promise<{ snapshotId: string; timestampId: string }> {
  kit = await startReleaseKit();
  await kit.repo.uploadKeys(kit.uploadRequest(), kit.audit);
  const kd = readKeyDir(kit.keysDir);
  return { snapshotId: releaseKeySecretId(kd.snapshot!.key.keyId), timestampId: releaseKeySecretId(kd.timestamp!.key.keyId) };
}

describe('the online release keys through a master key rotation', () => {
  it('are opened with the previous key and sealed again under the new one, each said once; then the new key alone signs', async () => {
    const { snapshotId, timestampId } = await uploaded();
    const before = (await kit.store.getSecret(snapshotId))!.sealed;
    const rotated = restartedWith({ GPUFLEET_MASTER_KEY: NEW_KEY, GPUFLEET_MASTER_KEY_VERSION: '2', GPUFLEET_MASTER_KEY_PREVIOUS: MASTER_KEY });
    expect((await rotated.view()).onlineKeys).toBe(true);
    expect(logs.sort()).toEqual([
      expect.stringMatching(/^the release signing key snapshot \(\w{12}\) was sealed with the previous master key/),
      expect.stringMatching(/^the release signing key timestamp \(\w{12}\) was sealed with the previous master key/),
    ]);
    const after = (await kit.store.getSecret(snapshotId))!.sealed;
    expect(after).not.toBe(before);
    expect(openSecret(NEW_KEY, snapshotId, after).toString('utf8')).toMatch(/PRIVATE KEY/);
    expect(openSecret(NEW_KEY, timestampId, (await kit.store.getSecret(timestampId))!.sealed).toString('utf8')).toMatch(/PRIVATE KEY/);

    const newOnly = restartedWith({ GPUFLEET_MASTER_KEY: NEW_KEY, GPUFLEET_MASTER_KEY_VERSION: '2' });
    const root = (await latestMetadata(kit.store, 'root'))!;
    expect(await newOnly.keys.signers(root, 'timestamp')).toHaveLength(1);
    expect(logs).toEqual([]);
  });

  it('a key neither master key opens is refused when signing, naming the role and what to set', async () => {
    await uploaded();
    const wrong = restartedWith({
      GPUFLEET_MASTER_KEY: NEW_KEY,
      GPUFLEET_MASTER_KEY_VERSION: '3',
      GPUFLEET_MASTER_KEY_PREVIOUS: 'not the key it was sealed with',
    });
    const root = (await latestMetadata(kit.store, 'root'))!;
    const err = await wrong.keys.signers(root, 'snapshot').then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(FleetError);
    expect((err as FleetError).code).toBe('failed_precondition');
    expect((err as FleetError).message).toMatch(
      /^the release signing key snapshot \(\w{12}\) \(sealed in the store as 'release-key\.\w+'\) cannot be opened: .*set GPUFLEET_MASTER_KEY_PREVIOUS to the key it was sealed with/,
    );
    // The view says the server cannot sign, as it did before for a wrong key.
    expect((await wrong.view()).onlineKeys).toBe(false);
  });
});
