import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FleetError } from '@gpufleet/protocol';
import { openStore } from '../store/open-store.js';
import type { SecretRecord, Store } from '../store/store.js';
import { masterKeysFrom, type MasterKeys } from './master-keys.js';
import { openSealedRecord, resealAll } from './sealed-records.js';
import { openSecret, sealSecret } from './secret-box.js';

const KEY_A = 'master key A, long enough';
const KEY_B = 'master key B, long enough';
const KEY_C = 'master key C, long enough';
const T0 = Date.UTC(2026, 1, 1);
/** After a rotation from A to B, as documented: B is version 2, A its previous key. */
const ROTATED = masterKeysFrom({ GPUFLEET_MASTER_KEY: KEY_B, GPUFLEET_MASTER_KEY_VERSION: '2', GPUFLEET_MASTER_KEY_PREVIOUS: KEY_A });
const ONLY_B = masterKeysFrom({ GPUFLEET_MASTER_KEY: KEY_B, GPUFLEET_MASTER_KEY_VERSION: '2' });

let dir: string;
let store: Store;
let logs: string[];
const log = { info: (_o: object, msg: string) => void logs.push(msg) };

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sealed-records-'));
  store = await openStore({ database: null, dataDir: dir });
  await store.migrate();
  logs = [];
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Stores `plaintext` sealed with `key` under `id`, and returns the record as stored. */
async function put(id: string, key: string, plaintext: string): Promise<SecretRecord> {
  await store.insertSecret({ id, sealed: JSON.stringify(sealSecret(key, id, plaintext)), createdAt: T0 });
  return (await store.getSecret(id))!;
}

const open = (record: SecretRecord, keys: MasterKeys = ROTATED) => openSealedRecord({ store, keys, log }, record, 'the test record');

async function refusal(promise: Promise<unknown>): Promise<FleetError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FleetError);
  return err as FleetError;
}

describe('openSealedRecord', () => {
  it('opens a record sealed with the current key and leaves it as it is', async () => {
    const record = await put('r', KEY_B, 'secret');
    expect((await open(record)).toString('utf8')).toBe('secret');
    expect((await store.getSecret('r'))!.sealed).toBe(record.sealed);
    expect(logs).toEqual([]);
  });

  it('opens a record sealed with the previous key, seals it again under the current one, and says so once', async () => {
    const record = await put('r', KEY_A, 'secret');
    expect((await open(record)).toString('utf8')).toBe('secret');
    const stored = await store.getSecret('r');
    expect(stored!.sealed).not.toBe(record.sealed);
    expect(stored!.createdAt).toBe(T0);
    expect(openSecret(KEY_B, 'r', stored!.sealed).toString('utf8')).toBe('secret');
    expect(() => openSecret(KEY_A, 'r', stored!.sealed)).toThrow(/not the master key/);
    expect(logs).toEqual(['the test record was sealed with the previous master key: it is sealed again under the current one (version 2)']);
    // The next open needs only the current key, and has nothing to say.
    expect((await open(stored!, ONLY_B)).toString('utf8')).toBe('secret');
    expect(logs).toHaveLength(1);
  });

  it('still returns the plaintext when another replica re-sealed it first (the compare-and-set lost)', async () => {
    const stale = await put('r', KEY_A, 'secret');
    // The other replica's re-seal lands between our read and our write.
    const theirs = JSON.stringify(sealSecret(KEY_B, 'r', 'secret'));
    expect(await store.replaceSecret('r', stale.sealed, theirs)).toBe(true);
    expect((await open(stale)).toString('utf8')).toBe('secret');
    expect((await store.getSecret('r'))!.sealed).toBe(theirs);
    expect(logs).toEqual([]);
  });

  it('refuses a record neither key opens, naming it and saying what to set, and leaves it alone', async () => {
    const record = await put('server-identity.ed25519', KEY_C, 'secret');
    const err = await refusal(openSealedRecord({ store, keys: ROTATED, log }, record, 'the control plane key'));
    expect(err.code).toBe('failed_precondition');
    expect(err.message).toMatch(/^the control plane key \(sealed in the store as 'server-identity\.ed25519'\) cannot be opened/);
    expect(err.message).toMatch(/GPUFLEET_MASTER_KEY is not the master key it was sealed with, nor is GPUFLEET_MASTER_KEY_PREVIOUS/);
    expect(err.message).toMatch(
      /set GPUFLEET_MASTER_KEY_PREVIOUS to the key it was sealed with and GPUFLEET_MASTER_KEY_VERSION one higher .*restart the server, then run `gpufleet credentials rotate`/,
    );
    // Without a previous key the message does not claim one was tried.
    const alone = await refusal(openSealedRecord({ store, keys: ONLY_B, log }, record, 'the control plane key'));
    expect(alone.message).not.toMatch(/nor is GPUFLEET_MASTER_KEY_PREVIOUS/);
    expect((await store.getSecret('server-identity.ed25519'))!.sealed).toBe(record.sealed);
    expect(logs).toEqual([]);
  });

  it('refuses a garbage sealed record with a clear error and replaces nothing', async () => {
    const garbage: Array<[string, string]> = [
      ['not-json', 'this is not JSON'],
      ['unknown-version', '{"v":9}'],
      ['short-nonce', JSON.stringify({ ...sealSecret(KEY_A, 'short-nonce', 'x'), nonce: 'c2hvcnQ' })],
    ];
    for (const [id, sealed] of garbage) {
      await store.insertSecret({ id, sealed, createdAt: T0 });
      const err = await refusal(open((await store.getSecret(id))!));
      expect(err.code).toBe('internal');
      expect(err.message).toMatch(new RegExp(`^the test record cannot be opened: sealed secret '${id}' is damaged`));
      expect((await store.getSecret(id))!.sealed).toBe(sealed);
    }
    expect(logs).toEqual([]);
  });

  it('refuses without a master key, saying which one to set', async () => {
    const record = await put('r', KEY_A, 'secret');
    const err = await refusal(open(record, { current: null, previous: null }));
    expect(err.code).toBe('failed_precondition');
    expect(err.message).toMatch(/the test record is sealed in the store: set GPUFLEET_MASTER_KEY/);
  });
});

describe('resealAll', () => {
  it('re-seals what only the previous key opens, counts what is current, and lists what neither opens without stopping', async () => {
    await put('a-previous', KEY_A, 'one');
    await put('b-current', KEY_B, 'two');
    await put('c-previous', KEY_A, 'three');
    await put('d-stranger', KEY_C, 'four');
    await store.insertSecret({ id: 'e-garbage', sealed: 'not a sealed record', createdAt: T0 });

    expect(await resealAll(store, ROTATED)).toEqual({ resealed: 2, current: 1, unopenable: ['d-stranger', 'e-garbage'] });
    for (const [id, text] of [
      ['a-previous', 'one'],
      ['b-current', 'two'],
      ['c-previous', 'three'],
    ]) {
      expect(openSecret(KEY_B, id!, (await store.getSecret(id!))!.sealed).toString('utf8')).toBe(text);
    }
    expect((await store.getSecret('e-garbage'))!.sealed).toBe('not a sealed record');
    // Done once: a second run, even without the previous key, finds them current.
    expect(await resealAll(store, ONLY_B)).toEqual({ resealed: 0, current: 3, unopenable: ['d-stranger', 'e-garbage'] });
  });

  it('counts a record another replica re-sealed first as current', async () => {
    await put('r', KEY_A, 'secret');
    const racing: Pick<Store, 'listSecretIds' | 'getSecret' | 'replaceSecret'> = {
      listSecretIds: () => store.listSecretIds(),
      getSecret: (id) => store.getSecret(id),
      replaceSecret: async () => false,
    };
    expect(await resealAll(racing, ROTATED)).toEqual({ resealed: 0, current: 1, unopenable: [] });
  });

  it('refuses without a master key', async () => {
    await put('r', KEY_A, 'secret');
    expect((await refusal(resealAll(store, { current: null, previous: null }))).code).toBe('failed_precondition');
  });
});
