import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FleetError } from '@gpufleet/protocol';
import { DAY, startReleaseKit, type ReleaseKit } from './__tests__/release-kit.js';
import { readKeyDir, signNextRoot } from './key-dir.js';
import { metadataFile, targetFile } from './release-reads.js';
import { generateTufKey, signWith } from './tuf-keys.js';
import { parseMetadata } from './tuf-metadata.js';

const HOUR = 3_600_000;
let kit: ReleaseKit;
afterEach(() => kit?.close());

async function refused(work: Promise<unknown>): Promise<string> {
  try {
    await work;
  } catch (err) {
    if (err instanceof FleetError) return `${err.code}: ${err.message}`;
    throw err;
  }
  return 'ok';
}

async function ready(): Promise<ReleaseKit> {
  kit = await startReleaseKit();
  await kit.repo.uploadKeys(kit.uploadRequest(), kit.audit);
  return kit;
}

describe('keys upload', () => {
  it('is refused without a master key, saying how to set one', async () => {
    kit = await startReleaseKit({ masterKey: null });
    expect(await refused(kit.repo.uploadKeys(kit.uploadRequest(), kit.audit))).toMatch(/^failed_precondition: .*GPUFLEET_MASTER_KEY/);
    expect((await kit.repo.view()).rootVersion).toBe(0);
  });

  it('stores root 1 and seals the online keys; the view says the server can sign', async () => {
    kit = await startReleaseKit();
    const view = await kit.repo.uploadKeys(kit.uploadRequest(), kit.audit);
    expect(view).toMatchObject({ rootVersion: 1, targetsVersion: 0, snapshotVersion: 0, timestampVersion: 0, timestampExpires: null, onlineKeys: true });
    const kd = readKeyDir(kit.keysDir);
    const secret = await kit.store.getSecret(`release-key.${kd.snapshot!.key.keyId}`);
    expect(secret?.sealed).toBeDefined();
    expect(secret!.sealed).not.toContain('PRIVATE KEY');
    expect(kit.notes).toEqual([expect.objectContaining({ action: 'release.keys', target: 'root v1', result: 'ok' })]);
    // The same upload again is harmless: the roots are known, the keys stored.
    expect((await kit.repo.uploadKeys(kit.uploadRequest(), kit.audit)).rootVersion).toBe(1);
    expect(await metadataFile(kit.store, '1.root.json')).toBe(JSON.stringify(kit.uploadRequest().roots[0]));
  });

  it('refuses garbage: no root, a chain not starting at 1, keys of other roles, not keys at all', async () => {
    kit = await startReleaseKit();
    const good = kit.uploadRequest();
    expect(await refused(kit.repo.uploadKeys({ ...good, roots: [] }, kit.audit))).toMatch(/^failed_precondition: the repository has no root yet/);
    const v2 = { ...good.roots[0], signed: { ...(good.roots[0] as { signed: object }).signed, version: 2 } };
    expect(await refused(kit.repo.uploadKeys({ ...good, roots: [v2] }, kit.audit))).toMatch(/^failed_precondition: the first root must be version 1, got 2/);
    expect(await refused(kit.repo.uploadKeys({ ...good, snapshotKey: good.timestampKey }, kit.audit))).toMatch(
      /^invalid_argument: snapshotKey .* is not the snapshot key of root version 1/,
    );
    expect(await refused(kit.repo.uploadKeys({ ...good, timestampKey: generateTufKey().privateKeyPem }, kit.audit))).toMatch(
      /timestampKey .* is not the timestamp key/,
    );
    expect(await refused(kit.repo.uploadKeys({ ...good, snapshotKey: 'garbage' }, kit.audit))).toMatch(
      /^invalid_argument: snapshotKey is not an Ed25519 private key/,
    );
    expect(await refused(kit.repo.uploadKeys({ ...good, roots: [{ signed: 5, signatures: [] }] }, kit.audit))).toMatch(
      /^invalid_argument: roots\[0\] has no 'signed'/,
    );
    const unsigned = { ...(good.roots[0] as object), signatures: [] };
    expect(await refused(kit.repo.uploadKeys({ ...good, roots: [unsigned] }, kit.audit))).toMatch(
      /not signed by a threshold of its own root keys: root was signed by 0\/2 keys/,
    );
    expect((await kit.repo.view()).rootVersion).toBe(0);
  });
});

describe('publish', () => {
  it('stores the targets, signs snapshot and timestamp, and serves every file clients ask for', async () => {
    await ready();
    const bytes = new Uint8Array([0, 1, 2, 255, 254]);
    const list = await kit.repo.publish(await kit.publishRequest('0.3.0', bytes), kit.audit);
    expect(list.repository).toMatchObject({ rootVersion: 1, targetsVersion: 1, snapshotVersion: 1, timestampVersion: 1, onlineKeys: true });
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    expect(list.items).toEqual([
      {
        kind: 'agent',
        name: 'gpufleet-agent',
        version: '0.3.0',
        path: 'agent/gpufleet-agent-0.3.0.tgz',
        sha256,
        length: 5,
        publishedAt: new Date(kit.clock.now()).toISOString(),
        signedBy: 'targets',
      },
    ]);
    const ts = parseMetadata('timestamp', JSON.parse(await metadataFile(kit.store, 'timestamp.json')));
    expect(ts.signed.snapshotMeta.version).toBe(1);
    expect(Date.parse(ts.signed.expires) - kit.clock.now()).toBeLessThanOrEqual(DAY);
    const snap = parseMetadata('snapshot', JSON.parse(await metadataFile(kit.store, '1.snapshot.json')));
    expect(snap.signed.meta['targets.json']!.version).toBe(1);
    // The timestamp pins the snapshot's exact bytes, as served.
    const snapText = await metadataFile(kit.store, '1.snapshot.json');
    expect(() => ts.signed.snapshotMeta.verify(Buffer.from(snapText))).not.toThrow();
    expect(() => ts.signed.snapshotMeta.verify(Buffer.from(`${snapText} `))).toThrow();
    expect(Buffer.from(await targetFile(kit.store, `agent/${sha256}.gpufleet-agent-0.3.0.tgz`)).equals(Buffer.from(bytes))).toBe(true);
    expect(await refused(targetFile(kit.store, `agent/${'0'.repeat(64)}.gpufleet-agent-0.3.0.tgz`))).toMatch(/^not_found/);
    expect(await refused(targetFile(kit.store, `other/${sha256}.gpufleet-agent-0.3.0.tgz`))).toMatch(/^not_found/);
    expect(await refused(metadataFile(kit.store, '2.targets.json'))).toMatch(/^not_found/);
    expect(await refused(metadataFile(kit.store, '../1.root.json'))).toMatch(/^not_found/);
    expect(kit.notes.at(-1)).toMatchObject({
      action: 'release.publish',
      target: 'targets v1',
      details: { added: ['agent/gpufleet-agent-0.3.0.tgz'], removed: [] },
    });
  });

  it('keeps earlier releases without their bytes sent again, newest first', async () => {
    await ready();
    await kit.repo.publish(await kit.publishRequest('0.3.0'), kit.audit);
    kit.clock.advance(1000);
    const req = await kit.publishRequest('0.4.0');
    const list = await kit.repo.publish({ ...req, files: req.files }, kit.audit);
    expect(list.items.map((i) => i.version)).toEqual(['0.4.0', '0.3.0']);
    expect(list.repository).toMatchObject({ targetsVersion: 2, snapshotVersion: 2, timestampVersion: 2 });
  });

  it('refuses targets that are not signed by the targets key, not the next version, expired, or whose bytes do not match', async () => {
    await ready();
    const good = await kit.publishRequest('0.3.0');
    const kd = readKeyDir(kit.keysDir);
    const bySnapshotKey = parseMetadata('targets', good.targets);
    bySnapshotKey.signatures = {};
    signWith(bySnapshotKey, kd.snapshot!.key);
    expect(await refused(kit.repo.publish({ ...good, targets: bySnapshotKey.toJSON() as never }, kit.audit))).toMatch(
      /^invalid_argument: targets version 1 is not signed by the targets role of root version 1: targets was signed by 0\/1 keys/,
    );
    expect(await refused(kit.repo.publish({ ...good, targets: { ...good.targets, signatures: [] } }, kit.audit))).toMatch(/signed by 0\/1 keys/);
    const tampered = JSON.parse(JSON.stringify(good.targets));
    tampered.signed.targets['agent/gpufleet-agent-0.3.0.tgz'].length = 99;
    expect(await refused(kit.repo.publish({ ...good, targets: tampered }, kit.audit))).toMatch(/signed by 0\/1 keys/);
    const v2 = parseMetadata('targets', good.targets);
    const v2json = v2.toJSON() as { signed: { version: number } };
    v2json.signed.version = 2;
    const resigned = parseMetadata('targets', v2json);
    signWith(resigned, kd.targets!.key);
    expect(await refused(kit.repo.publish({ ...good, targets: resigned.toJSON() as never }, kit.audit))).toMatch(
      /^failed_precondition: the next targets must be version 1 .* got 2/,
    );
    expect(
      await refused(kit.repo.publish({ ...good, files: [{ ...good.files[0]!, data: Buffer.from('other bytes').toString('base64') }] }, kit.audit)),
    ).toMatch(/^invalid_argument: files\[0\]: agent\/gpufleet-agent-0.3.0.tgz is 11 bytes .* but the signed targets say/);
    expect(await refused(kit.repo.publish({ ...good, files: [{ ...good.files[0]!, data: '!!not base64!!' }] }, kit.audit))).toMatch(/is not base64/);
    expect(await refused(kit.repo.publish({ ...good, files: [] }, kit.audit))).toMatch(
      /^failed_precondition: the bytes of agent\/gpufleet-agent-0.3.0.tgz were neither uploaded/,
    );
    expect(await refused(kit.repo.publish({ ...good, files: [{ path: 'agent/x.tgz', data: '' }] }, kit.audit))).toMatch(/agent\/x.tgz is not a target/);
    expect(await refused(kit.repo.publish({ ...good, files: [good.files[0]!, good.files[0]!] }, kit.audit))).toMatch(/uploaded twice/);
    kit.clock.advance(91 * DAY);
    expect(await refused(kit.repo.publish(good, kit.audit))).toMatch(/^invalid_argument: targets version 1 expired/);
    expect((await kit.repo.view()).targetsVersion).toBe(0);
    expect(await kit.store.listReleaseTargets()).toEqual([]);
  });

  it('never replaces a published release, and refuses before keys are uploaded', async () => {
    kit = await startReleaseKit();
    expect(await refused(kit.repo.publish(await kit.publishRequest('0.3.0'), kit.audit))).toMatch(/^failed_precondition: the repository has no root yet/);
    await kit.repo.uploadKeys(kit.uploadRequest(), kit.audit);
    await kit.repo.publish(await kit.publishRequest('0.3.0'), kit.audit);
    expect(await refused(kit.publishRequest('0.3.0', new Uint8Array([9])))).toMatch(
      /^already_exists: agent gpufleet-agent 0.3.0 is published already .*other bytes/,
    );
    // Made by hand past the CLI's check: the server refuses it as well.
    const next = await kit.publishRequest('0.4.0');
    const md = parseMetadata('targets', next.targets).toJSON() as { signed: { targets: Record<string, { length: number; hashes: { sha256: string } }> } };
    const bytes = Buffer.from('evil');
    md.signed.targets['agent/gpufleet-agent-0.3.0.tgz'] = {
      ...md.signed.targets['agent/gpufleet-agent-0.3.0.tgz']!,
      length: 4,
      hashes: { sha256: createHash('sha256').update(bytes).digest('hex') },
    };
    const resigned = parseMetadata('targets', md);
    resigned.signatures = {};
    signWith(resigned, readKeyDir(kit.keysDir).targets!.key);
    const files = [...next.files, { path: 'agent/gpufleet-agent-0.3.0.tgz', data: bytes.toString('base64') }];
    expect(await refused(kit.repo.publish({ targets: resigned.toJSON() as never, files }, kit.audit))).toMatch(
      /^already_exists: .*0.3.0.tgz is published already with other bytes/,
    );
  });
});

describe('timestamp refresh', () => {
  it('signs a new timestamp only when less than 6 h are left, and a new snapshot when less than a day is left', async () => {
    await ready();
    expect(await kit.repo.refresh(kit.audit)).toBe('none');
    await kit.repo.publish(await kit.publishRequest('0.3.0'), kit.audit);
    kit.clock.advance(17 * HOUR);
    expect(await kit.repo.refresh(kit.audit)).toBe('none');
    kit.clock.advance(2 * HOUR);
    expect(await kit.repo.refresh(kit.audit)).toBe('timestamp');
    expect(await kit.repo.view()).toMatchObject({
      timestampVersion: 2,
      snapshotVersion: 1,
      timestampExpires: new Date(Math.floor((kit.clock.now() + DAY) / 1000) * 1000).toISOString(),
    });
    expect(kit.notes.at(-1)).toMatchObject({ action: 'release.timestamp', target: 'timestamp v2', details: { snapshot: 1 } });
    expect(await kit.repo.refresh(kit.audit)).toBe('none');
    kit.clock.advance(6 * DAY + 1);
    expect(await kit.repo.refresh(kit.audit)).toBe('snapshot');
    expect(await kit.repo.view()).toMatchObject({ timestampVersion: 3, snapshotVersion: 2, targetsVersion: 1 });
  });
});

describe('root rotation', () => {
  it('accepts the next root from sign-root and re-signs snapshot and timestamp under it', async () => {
    await ready();
    await kit.repo.publish(await kit.publishRequest('0.3.0'), kit.audit);
    rmSync(join(kit.keysDir, 'root-3.pem'));
    writeFileSync(join(kit.keysDir, 'root-3.pem'), generateTufKey().privateKeyPem);
    const { rootFile } = signNextRoot({ dir: kit.keysDir, validMs: 365 * DAY, now: kit.clock.now() });
    const root = JSON.parse(readFileSync(rootFile, 'utf8'));
    expect(await refused(kit.repo.rotateRoot({ root: { ...root, signatures: root.signatures.slice(0, 1) } }, kit.audit))).toMatch(
      /not signed by the root role of root version 1: root was signed by 1\/2 keys/,
    );
    const view = await kit.repo.rotateRoot({ root }, kit.audit);
    expect(view).toMatchObject({ rootVersion: 2, targetsVersion: 1, snapshotVersion: 2, timestampVersion: 2, onlineKeys: true });
    expect(await refused(kit.repo.rotateRoot({ root }, kit.audit))).toMatch(/^failed_precondition: the next root must be version 3 .* got 2/);
  });

  it('refuses a root whose new online keys the server lacks, until they come with it in keys upload', async () => {
    await ready();
    rmSync(join(kit.keysDir, 'timestamp.pem'));
    writeFileSync(join(kit.keysDir, 'timestamp.pem'), generateTufKey().privateKeyPem);
    const { rootFile } = signNextRoot({ dir: kit.keysDir, validMs: 365 * DAY, now: kit.clock.now() });
    const root = JSON.parse(readFileSync(rootFile, 'utf8'));
    expect(await refused(kit.repo.rotateRoot({ root }, kit.audit))).toMatch(
      /^failed_precondition: root version 2 names snapshot or timestamp keys the server does not hold/,
    );
    const view = await kit.repo.uploadKeys(kit.uploadRequest(), kit.audit);
    expect(view).toMatchObject({ rootVersion: 2, onlineKeys: true });
    expect(kit.notes.at(-1)).toMatchObject({ action: 'release.keys', details: { roots: [2] } });
  });
});
