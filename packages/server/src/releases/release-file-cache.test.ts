import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { FleetError } from '@gpufleet/protocol';
import type { Store } from '../store/store.js';
import { startReleaseKit, type ReleaseKit } from './__tests__/release-kit.js';
import { ReleaseFileCache } from './release-file-cache.js';

let kit: ReleaseKit;
afterEach(() => kit?.close());

/** The kit's store, counting the reads the cache should save. */
function counting(store: Store) {
  const reads = { blobs: 0, lists: 0, metadata: 0 };
  const proxy = new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (prop === 'getReleaseBlob') reads.blobs++;
        if (prop === 'listReleaseTargets') reads.lists++;
        if (prop === 'getReleaseMetadata') reads.metadata++;
        return value.apply(target, args);
      };
    },
  });
  return { store: proxy, reads };
}

async function code(work: Promise<unknown>): Promise<string> {
  try {
    await work;
  } catch (err) {
    if (err instanceof FleetError) return err.code;
    throw err;
  }
  return 'ok';
}

const hashed = (bytes: Uint8Array, version: string) => `agent/${createHash('sha256').update(bytes).digest('hex')}.gpufleet-agent-${version}.tgz`;

describe('ReleaseFileCache', () => {
  it('serves a target and versioned metadata from memory after the first read; the timestamp always from the store', async () => {
    kit = await startReleaseKit();
    await kit.repo.uploadKeys(kit.uploadRequest(), kit.audit);
    const bytes = new Uint8Array(Buffer.from('agent build 0.3.0'));
    await kit.repo.publish(await kit.publishRequest('0.3.0', bytes), kit.audit);
    const { store, reads } = counting(kit.store);
    const files = new ReleaseFileCache(store);
    // A wave of hosts asking at once: one blob read.
    const all = await Promise.all(Array.from({ length: 20 }, () => files.targetFile(hashed(bytes, '0.3.0'))));
    for (const got of all) expect(Buffer.from(got).equals(Buffer.from(bytes))).toBe(true);
    expect(reads).toMatchObject({ blobs: 1, lists: 1 });
    await files.targetFile(hashed(bytes, '0.3.0'));
    expect(reads).toMatchObject({ blobs: 1, lists: 1 });
    const snapshot = await files.metadataFile('1.snapshot.json');
    expect(await files.metadataFile('1.snapshot.json')).toBe(snapshot);
    const metadataReads = reads.metadata;
    await files.metadataFile('timestamp.json');
    await files.metadataFile('timestamp.json');
    expect(reads.metadata).toBe(metadataReads + 2);
  });

  it('finds a target published after it listed, and refuses what is not published under its own hash', async () => {
    kit = await startReleaseKit();
    await kit.repo.uploadKeys(kit.uploadRequest(), kit.audit);
    const first = new Uint8Array(Buffer.from('0.3.0'));
    await kit.repo.publish(await kit.publishRequest('0.3.0', first), kit.audit);
    const files = new ReleaseFileCache(kit.store);
    await files.targetFile(hashed(first, '0.3.0'));
    const second = new Uint8Array(Buffer.from('0.4.0'));
    await kit.repo.publish(await kit.publishRequest('0.4.0', second), kit.audit);
    expect(Buffer.from(await files.targetFile(hashed(second, '0.4.0'))).toString()).toBe('0.4.0');
    // The right hash under another path, a hash never published, garbage names: not found.
    expect(await code(files.targetFile(hashed(first, '0.4.0')))).toBe('not_found');
    expect(await code(files.targetFile(`agent/${'0'.repeat(64)}.gpufleet-agent-0.3.0.tgz`))).toBe('not_found');
    for (const garbage of ['', 'agent', '../../etc/passwd', `agent/${'A'.repeat(64)}.x`, 'agent/.tgz']) {
      expect(await code(files.targetFile(garbage)), garbage).toBe('not_found');
    }
    expect(await code(files.metadataFile('9.targets.json'))).toBe('not_found');
    expect(await code(files.metadataFile('../1.root.json'))).toBe('not_found');
  });

  it('keeps at most its byte budget, least recently used out, and does not keep a target over a quarter of it', async () => {
    kit = await startReleaseKit();
    await kit.repo.uploadKeys(kit.uploadRequest(), kit.audit);
    const builds = ['1', '2', '3', '4', '5'].map((v) => ({ v, bytes: new Uint8Array(100).fill(Number(v)) }));
    const big = new Uint8Array(300).fill(9);
    for (const b of builds) await kit.repo.publish(await kit.publishRequest(b.v, b.bytes), kit.audit);
    await kit.repo.publish(await kit.publishRequest('9', big), kit.audit);
    const { store, reads } = counting(kit.store);
    const files = new ReleaseFileCache(store, 400);
    const get = (i: number) => files.targetFile(hashed(builds[i]!.bytes, builds[i]!.v));
    for (const i of [0, 1, 0, 2, 3]) await get(i); // 400 bytes kept; 1 was used after 2
    expect(reads.blobs).toBe(4);
    await get(4); // over 400: the least recently used (2) goes
    expect(reads.blobs).toBe(5);
    await get(0);
    expect(reads.blobs).toBe(5);
    await get(1);
    expect(reads.blobs).toBe(6);
    // Over a quarter of the budget: read each time, never kept.
    await files.targetFile(hashed(big, '9'));
    await files.targetFile(hashed(big, '9'));
    expect(reads.blobs).toBe(8);
  });
});
