import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { PodmanEnv } from '../../containers/podman-env.js';

const run = promisify(execFile);

/**
 * Busybox images made here for the bundle tests, each imported under its own tag with a file
 * /version of its own, so each has its own digest. No registry can be reached: `podman import`
 * stores the image with a manifest, and the engine then answers for `repo@sha256:<digest>`
 * through the Docker API (GET /images/{repo@digest}/json lists it in RepoDigests), exactly as
 * for a pulled image. That is the digest a bundle pins.
 */
export class BundleImages {
  readonly repo = `localhost/gf-bundle-${randomBytes(4).toString('hex')}`;
  private readonly tags: string[] = [];

  constructor(private readonly env: PodmanEnv) {}

  /** Imports an image whose /version says `marker`; returns its pinned reference repo@sha256:... */
  async make(marker: string): Promise<string> {
    const dir = mkdtempSync('/tmp/gfb-img-');
    try {
      const root = join(dir, 'root');
      mkdirSync(join(root, 'bin'), { recursive: true });
      mkdirSync(join(root, 'tmp'));
      const busybox = existsSync('/bin/busybox') ? '/bin/busybox' : '/usr/bin/busybox';
      copyFileSync(busybox, join(root, 'bin', 'busybox'));
      for (const tool of ['sh', 'sleep', 'cat', 'echo', 'test']) symlinkSync('busybox', join(root, 'bin', tool));
      writeFileSync(join(root, 'version'), `${marker}\n`);
      await run('tar', ['-C', root, '-cf', join(dir, 'image.tar'), '.']);
      const tag = `${this.repo}:${marker}`;
      await this.env.podman(['import', join(dir, 'image.tar'), tag], 60_000);
      this.tags.push(tag);
      const digest = await this.env.podman(['image', 'inspect', '--format', '{{.Digest}}', tag]);
      if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new Error(`podman gave no digest for ${tag}: ${digest}`);
      return `${this.repo}@${digest}`;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** The engine's image id of a tag or reference. */
  id(ref: string): Promise<string> {
    return this.env.podman(['image', 'inspect', '--format', '{{.Id}}', ref]);
  }

  async close(): Promise<void> {
    if (this.tags.length > 0) await this.env.podman(['rmi', '-f', ...this.tags]).catch(() => undefined);
  }
}
