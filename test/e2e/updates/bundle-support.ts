import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execCommandRunner, writeBundleArchive, type HostCommandRunner, type VerifiedRelease } from '@gpufleet/agent';

/** A verified release as the update handler hands it over: the archive's bytes in a file. */
export function releaseFile(dir: string, name: string, version: string, tar: Buffer): VerifiedRelease {
  const file = join(dir, `${name}-${version}-${createHash('sha256').update(tar).digest('hex').slice(0, 8)}.tar`);
  writeFileSync(file, tar);
  return {
    kind: 'bundle',
    name,
    version,
    targetPath: `bundles/${name}/${name}-${version}.tar`,
    sha256: createHash('sha256').update(tar).digest('hex'),
    length: tar.length,
    file,
    rootVersion: 1,
  };
}

/** A bundle archive from bundle.yaml text and its sources. */
export function bundleTar(yaml: string, sources: Record<string, string> = {}): Buffer {
  return writeBundleArchive(yaml, new Map(Object.entries(sources).map(([k, v]) => [k, new Uint8Array(Buffer.from(v))])));
}

/**
 * A command runner that records every call and runs the hooks for real; systemctl cannot run
 * here (no systemd in these containers), so its calls are recorded and answered with success.
 */
export function recordingRunner(): { run: HostCommandRunner; calls: string[][] } {
  const calls: string[][] = [];
  const run: HostCommandRunner = async (argv, opts) => {
    calls.push([...argv]);
    if (argv[0] === 'systemctl') return { code: 0, output: '' };
    return execCommandRunner(argv, opts);
  };
  return { run, calls };
}
