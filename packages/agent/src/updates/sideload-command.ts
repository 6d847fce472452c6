import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AGENT_RELEASE_NAME, FleetError } from '@gpufleet/protocol';
import { AGENT_VERSION } from '../runtime/version.js';
import { DEFAULT_INSTALL_SUBDIR } from './launch-command.js';
import { readBundle } from './offline-bundle.js';
import { installSideloaded } from './sideload-install.js';
import { offlineSource, ReleaseVerifier, type VerifiedRelease } from './release-verifier.js';

/** Where a host keeps release metadata and verified targets in its data dir. */
export const RELEASES_DIR = 'releases';

// A launcher reads the pending record every 250 ms; this leaves room for a loaded host.
const LAUNCHER_RESTART_WAIT_MS = 10_000;

// A bundle is read into memory; an agent build is tens of MiB, so this leaves room for bundles.
const MAX_BUNDLE_BYTES = 2 * 1024 ** 3;

export interface SideloadOptions {
  bundle: string;
  dataDir: string;
  /** The first root to trust when this host trusts none yet (N.root.json of `releases keys init`). */
  rootFile?: string;
}

/**
 * `gpufleet-agent sideload FILE` (issue 14): verifies an offline bundle on a host with no route
 * to the server, with the same TUF checks as online and against the same trusted metadata (so
 * a bundle older than what the host has seen is refused). With `--install`, an agent build is
 * then installed for the launcher (sideload-install.ts); without, the verified file is kept.
 */
export async function sideload(o: SideloadOptions): Promise<{ release: VerifiedRelease; rootNote: string }> {
  const stateDir = join(o.dataDir, RELEASES_DIR);
  let size: number;
  try {
    size = statSync(o.bundle).size;
  } catch (err) {
    throw new FleetError('not_found', `cannot read ${o.bundle}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (size > MAX_BUNDLE_BYTES) throw new FleetError('invalid_argument', `${o.bundle} is ${size} bytes, more than a release bundle may be`);
  const { manifest, lookup } = readBundle(readFileSync(o.bundle));
  const trusted = ReleaseVerifier.trustedRootVersion(stateDir);
  let rootNote: string;
  if (trusted === null) {
    if (!o.rootFile)
      throw new FleetError(
        'failed_precondition',
        'this host trusts no release root yet: give the fleet root file with --root FILE (1.root.json of `gpufleet releases keys init`)',
      );
    let text: string;
    try {
      text = readFileSync(o.rootFile, 'utf8');
    } catch (err) {
      throw new FleetError('not_found', `cannot read ${o.rootFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    ReleaseVerifier.trustRoot(stateDir, text);
    rootNote = `trusting the release root in ${o.rootFile} from now on`;
  } else {
    rootNote = o.rootFile
      ? `this host already trusts release root version ${trusted}; --root is not used (roots change only by a signed rotation)`
      : `verified against the release root this host trusts`;
  }
  const verifier = new ReleaseVerifier(stateDir, offlineSource(lookup, o.bundle));
  const release = await verifier.verify({ kind: manifest.kind, name: manifest.name ?? AGENT_RELEASE_NAME, version: manifest.version });
  return { release, rootNote };
}

/** What `sideload` prints about a verified release. */
export function verifiedText(r: VerifiedRelease, rootNote: string): string {
  return [
    `verified ${r.kind} ${r.name} ${r.version} (root version ${r.rootVersion})`,
    `  target:  ${r.targetPath}`,
    `  sha256:  ${r.sha256}`,
    `  length:  ${r.length} bytes`,
    `  file:    ${r.file}`,
    rootNote,
    '',
  ].join('\n');
}

/** Parses `sideload` arguments; `usage` makes the error a command-line mistake (exit 2). */
export async function sideloadCommand(args: string[], out: (t: string) => void, usage: (message: string) => Error, defaultDataDir: string): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      'data-dir': { type: 'string' },
      root: { type: 'string' },
      install: { type: 'boolean' },
      'install-dir': { type: 'string' },
      'bundle-root': { type: 'string' },
      'no-restart': { type: 'boolean' },
    },
  });
  if (positionals.length !== 1)
    throw usage(positionals.length === 0 ? 'sideload needs the bundle: sideload <offline.tar>' : 'sideload takes exactly one bundle');
  if (values.root === '') throw usage('--root needs a file');
  if (values['install-dir'] !== undefined && !values.install) throw usage('--install-dir goes with --install');
  if (values['install-dir'] === '') throw usage('--install-dir needs a folder');
  if (values['bundle-root'] !== undefined && !values.install) throw usage('--bundle-root goes with --install');
  if (values['bundle-root'] === '') throw usage('--bundle-root needs a folder');
  if (values['no-restart'] && !values.install) throw usage('--no-restart goes with --install');
  const dataDir = values['data-dir'] ?? defaultDataDir;
  const { release, rootNote } = await sideload({
    bundle: positionals[0]!,
    dataDir,
    ...(values.root === undefined ? {} : { rootFile: values.root }),
  });
  out(verifiedText(release, rootNote));
  if (!values.install) {
    out(`not installed: add --install to install it (the verified file stays in ${join(dataDir, RELEASES_DIR)})\n`);
    return 0;
  }
  out(
    await installSideloaded({
      release,
      dataDir,
      installDir: values['install-dir'] ?? join(dataDir, DEFAULT_INSTALL_SUBDIR),
      builtinVersion: AGENT_VERSION,
      ...(values['bundle-root'] === undefined ? {} : { bundleRoot: values['bundle-root'] }),
      ...(values['no-restart'] ? {} : { restart: { waitMs: LAUNCHER_RESTART_WAIT_MS } }),
    }),
  );
  return 0;
}
