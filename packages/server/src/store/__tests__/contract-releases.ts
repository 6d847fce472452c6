import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ReleaseBlobRecord, ReleaseMetadataRecord, ReleaseTargetRecord } from '../store.js';
import { expectFleetError, type StoreRef } from './contract-helpers.js';
import { T0 } from './store-fixtures.js';

function meta(role: ReleaseMetadataRecord['role'], version: number, json = `{"signed":{"_type":"${role}","version":${version}}}`): ReleaseMetadataRecord {
  return { role, version, json, createdAt: T0 + version };
}

function blob(text: string | Uint8Array): ReleaseBlobRecord {
  const bytes = typeof text === 'string' ? new Uint8Array(Buffer.from(text)) : text;
  return { sha256: createHash('sha256').update(bytes).digest('hex'), length: bytes.length, bytes, createdAt: T0 };
}

function target(path: string, b: ReleaseBlobRecord, version: string, at: number): ReleaseTargetRecord {
  return { path, sha256: b.sha256, length: b.length, kind: 'agent', name: 'gpufleet-agent', version, targetsVersion: 1, publishedAt: at };
}

// Past checkId's 1024 characters, with text both dialects must keep byte for byte.
const BIG = `{"ünïcode":"✓","big":"${'x'.repeat(20_000)}"}`;

/** Contract cases for the TUF repository tables (0012_releases). */
export function releaseContract(store: StoreRef): void {
  describe('signed releases', () => {
    it('keeps every version of each role: one by number, the newest by default, nothing for an empty role', async () => {
      expect(await store().getReleaseMetadata('root')).toBeUndefined();
      await store().commitRelease({ metadata: [meta('root', 1)] });
      await store().commitRelease({ metadata: [meta('root', 2, BIG)] });
      await store().commitRelease({ metadata: [meta('targets', 1), meta('snapshot', 1), meta('timestamp', 1)] });
      expect(await store().getReleaseMetadata('root')).toEqual(meta('root', 2, BIG));
      expect(await store().getReleaseMetadata('root', 1)).toEqual(meta('root', 1));
      expect(await store().getReleaseMetadata('root', 3)).toBeUndefined();
      expect(await store().getReleaseMetadata('timestamp')).toEqual(meta('timestamp', 1));
    });

    it("keeps a team's delegated role (team-NAME) beside the top-level ones, by version", async () => {
      await store().commitRelease({ metadata: [meta('team-ml', 1), meta('team-ml', 2, BIG), meta('team-ops', 1)] });
      expect(await store().getReleaseMetadata('team-ml')).toEqual(meta('team-ml', 2, BIG));
      expect(await store().getReleaseMetadata('team-ml', 1)).toEqual(meta('team-ml', 1));
      expect(await store().getReleaseMetadata('team-ops')).toEqual(meta('team-ops', 1));
      expect(await store().getReleaseMetadata('team-qa')).toBeUndefined();
      expect(await store().getReleaseMetadata('targets')).toBeUndefined();
      await expectFleetError(store().commitRelease({ metadata: [meta('team-ml', 2)] }), 'already_exists');
      for (const role of ['team-', 'team-ML', 'team-a-b', 'team-../x', 'teams-ml']) {
        await expectFleetError(store().commitRelease({ metadata: [meta(role as never, 1)] }), 'invalid_argument');
        await expectFleetError(store().getReleaseMetadata(role as never), 'invalid_argument');
      }
    });

    it('stores bytes by SHA-256, binary-exact, once; reads lengths without the bytes', async () => {
      const all = new Uint8Array(256).map((_, i) => i);
      const a = blob(all);
      const b = blob('agent 0.3.0');
      await store().commitRelease({ metadata: [meta('targets', 1)], blobs: [a, b], targets: [target('agent/a.tgz', a, '0.1.0', T0 + 1)] });
      // The same bytes again (another name) are kept once, not refused.
      await store().commitRelease({ metadata: [meta('targets', 2)], blobs: [a], targets: [target('agent/b.tgz', a, '0.2.0', T0 + 2)] });
      const got = await store().getReleaseBlob(a.sha256);
      expect(Buffer.from(got!.bytes).equals(Buffer.from(all))).toBe(true);
      expect(got).toMatchObject({ sha256: a.sha256, length: 256, createdAt: T0 });
      expect(await store().getReleaseBlob('0'.repeat(64))).toBeUndefined();
      expect(await store().releaseBlobLengths([b.sha256, a.sha256, 'f'.repeat(64)])).toEqual(
        [
          { sha256: a.sha256, length: 256 },
          { sha256: b.sha256, length: 11 },
        ].sort((x, y) => x.sha256.localeCompare(y.sha256)),
      );
      expect(await store().releaseBlobLengths([])).toEqual([]);
      expect((await store().listReleaseTargets()).map((t) => t.path)).toEqual(['agent/b.tgz', 'agent/a.tgz']);
      expect((await store().listReleaseTargets())[1]).toEqual(target('agent/a.tgz', a, '0.1.0', T0 + 1));
    });

    it('writes a change all or nothing: a version already stored refuses the whole commit', async () => {
      await store().commitRelease({ metadata: [meta('targets', 1), meta('snapshot', 1)] });
      const b = blob('lost');
      await expectFleetError(
        store().commitRelease({
          metadata: [meta('targets', 2), meta('snapshot', 1, '{"other":1}')],
          blobs: [b],
          targets: [target('agent/lost.tgz', b, '9', T0)],
        }),
        'already_exists',
      );
      expect(await store().getReleaseMetadata('targets')).toEqual(meta('targets', 1));
      expect(await store().getReleaseMetadata('snapshot')).toEqual(meta('snapshot', 1));
      expect(await store().getReleaseBlob(b.sha256)).toBeUndefined();
      expect(await store().listReleaseTargets()).toEqual([]);
    });

    it('refuses garbage before any SQL, changing nothing', async () => {
      const b = blob('x');
      await expectFleetError(store().commitRelease({ metadata: [meta('bundle' as never, 1)] }), 'invalid_argument');
      await expectFleetError(store().commitRelease({ metadata: [meta('root', 0)] }), 'invalid_argument');
      await expectFleetError(store().commitRelease({ metadata: [meta('root', 1.5)] }), 'invalid_argument');
      await expectFleetError(store().commitRelease({ metadata: [meta('root', 1, '')] }), 'invalid_argument');
      await expectFleetError(store().commitRelease({ metadata: [{ ...meta('root', 1), json: 7 as never }] }), 'invalid_argument');
      await expectFleetError(store().commitRelease({ metadata: null as never }), 'invalid_argument');
      await expectFleetError(store().commitRelease({ metadata: [], blobs: [{ ...b, sha256: 'ABC' }] }), 'invalid_argument');
      await expectFleetError(store().commitRelease({ metadata: [], blobs: [{ ...b, length: 2 }] }), 'invalid_argument');
      await expectFleetError(store().commitRelease({ metadata: [], blobs: [{ ...b, bytes: 'x' as never }] }), 'invalid_argument');
      await expectFleetError(store().commitRelease({ metadata: [], targets: [{ ...target('p', b, '1', T0), length: -1 }] }), 'invalid_argument');
      await expectFleetError(store().commitRelease({ metadata: [], targets: [{ ...target('', b, '1', T0) }] }), 'invalid_argument');
      await expectFleetError(store().getReleaseMetadata('root', 0), 'invalid_argument');
      await expectFleetError(store().getReleaseBlob('../etc/passwd'), 'invalid_argument');
      await expectFleetError(store().releaseBlobLengths(['nope']), 'invalid_argument');
      expect(await store().getReleaseMetadata('root')).toBeUndefined();
      expect(await store().listReleaseTargets()).toEqual([]);
    });
  });
}
