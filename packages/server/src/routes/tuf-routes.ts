import { z } from 'zod';
import type { App } from '../http/app.js';
import type { ReleaseRepository } from '../releases/release-repository.js';
import { ReleaseFileCache } from '../releases/release-file-cache.js';
import type { Store } from '../store/store.js';

const FileParams = z.strictObject({ file: z.string().min(1).max(64) });
const TargetParams = z.strictObject({ '*': z.string().min(1).max(600) });

/**
 * The TUF repository as clients read it (issue 14): public, like any TUF mirror, since every
 * byte is verified against the root the client already trusts, and agents hold no API token.
 * Versioned files and targets never change once written, so caches may keep them; the
 * timestamp changes and must be fetched fresh.
 */
export function registerTufRoutes(app: App, deps: { store: Store; releases: ReleaseRepository }): void {
  const files = new ReleaseFileCache(deps.store);
  app.get(
    '/tuf/metadata/:file',
    {
      config: { auth: 'public' },
      schema: { tags: ['releases'], summary: 'TUF metadata: N.root.json, timestamp.json, N.snapshot.json, N.targets.json', params: FileParams },
    },
    async (req, reply) => {
      const text = await files.metadataFile(req.params.file);
      reply.header('cache-control', req.params.file === 'timestamp.json' ? 'no-store' : 'public, max-age=31536000, immutable');
      return reply.type('application/json').send(text);
    },
  );

  app.get(
    '/tuf/targets/*',
    {
      config: { auth: 'public' },
      // Hidden from the OpenAPI document: a `*` path (targets live in folders) has no OpenAPI form.
      schema: { hide: true, tags: ['releases'], summary: 'A TUF target under its consistent-snapshot name: dir/<sha256>.<file>', params: TargetParams },
    },
    async (req, reply) => {
      const bytes = await files.targetFile(req.params['*']);
      reply.header('cache-control', 'public, max-age=31536000, immutable');
      return reply.type('application/octet-stream').send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    },
  );
}
