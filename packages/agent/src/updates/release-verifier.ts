import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Updater, type Fetcher } from 'tuf-js';
import { DownloadHTTPError, DownloadLengthMismatchError } from 'tuf-js/dist/error.js';
import { AGENT_RELEASE_NAME, FleetError, releaseTargetPath, type ReleaseKind, type ReleaseRef } from '@gpufleet/protocol';
import { FileFetcher, OFFLINE_BASE, type FileLookup } from './file-fetcher.js';
import { PinnedFetcher } from './pinned-fetcher.js';

/** Where tuf-js reads and writes, and from where: a control plane or an offline copy. */
export interface ReleaseSource {
  metadataBaseUrl: string;
  targetBaseUrl: string;
  fetcher: Fetcher;
  /** Said in errors: `the server at https://...` or `offline.tar`. */
  describe: string;
}

/** The control plane's repository, over https with the pinned CA (`/tuf/metadata/`, `/tuf/targets/`). */
export function serverSource(serverUrl: string, caPem: string | null): ReleaseSource {
  const base = serverUrl.replace(/\/+$/, '');
  return {
    metadataBaseUrl: `${base}/tuf/metadata/`,
    targetBaseUrl: `${base}/tuf/targets/`,
    fetcher: new PinnedFetcher({ caPem }),
    describe: `the server at ${base}`,
  };
}

/** A copy of the repository in files laid out as `metadata/...` and `targets/...` (an offline bundle). */
export function offlineSource(lookup: FileLookup, describe: string): ReleaseSource {
  return { metadataBaseUrl: `${OFFLINE_BASE}metadata/`, targetBaseUrl: `${OFFLINE_BASE}targets/`, fetcher: new FileFetcher(lookup), describe };
}

/** A target that passed every TUF check, written to the agent's data dir. */
export interface VerifiedRelease {
  kind: ReleaseKind;
  name: string;
  version: string;
  /** The TUF target path, e.g. agent/gpufleet-agent-0.3.0.tgz. */
  targetPath: string;
  sha256: string;
  length: number;
  /** Where the verified bytes are now. */
  file: string;
  /** The root version the metadata was verified against (after any rotation). */
  rootVersion: number;
  /** The rollout that brought it (set by the update handler; null or absent when side-loaded). */
  rolloutId?: string | null;
}

/** tuf-js refusals (expired, rolled back, badly signed, wrong bytes) become one line saying so. */
function refusal(err: unknown, source: ReleaseSource): FleetError {
  if (err instanceof FleetError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof DownloadLengthMismatchError)
    return new FleetError('failed_precondition', `release refused: a file is longer than its signed length (${message})`, { cause: err });
  if (err instanceof DownloadHTTPError) return new FleetError('unavailable', `${source.describe} could not give a release file: ${message}`, { cause: err });
  return new FleetError('failed_precondition', `release refused: ${message}`, { cause: err });
}

/**
 * Verifies releases with tuf-js against the root this host trusts (issue 14). The metadata
 * tuf-js accepts is kept under `<stateDir>/metadata`, so a later check, online or offline,
 * refuses anything older than what this host has seen (rollback and freeze attacks), and a
 * rotated root is followed only when signed by a threshold of the old root's keys.
 */
export class ReleaseVerifier {
  readonly metadataDir: string;
  readonly targetsDir: string;

  constructor(
    private readonly stateDir: string,
    private readonly source: ReleaseSource,
  ) {
    this.metadataDir = join(stateDir, 'metadata');
    this.targetsDir = join(stateDir, 'targets');
  }

  /** The root this host trusts now (its version), or null when it trusts none yet. */
  static trustedRootVersion(stateDir: string): number | null {
    const file = join(stateDir, 'metadata', 'root.json');
    if (!existsSync(file)) return null;
    try {
      const version = (JSON.parse(readFileSync(file, 'utf8')) as { signed?: { version?: unknown } }).signed?.version;
      return typeof version === 'number' ? version : null;
    } catch {
      return null;
    }
  }

  /**
   * Makes `rootJson` the first root this host trusts (an operator's deliberate act: the root
   * file from `releases keys init`). A host that trusts one already keeps it: roots then change
   * only by rotation, signed by the old keys.
   */
  static trustRoot(stateDir: string, rootJson: string): void {
    let parsed: { signed?: { _type?: unknown } };
    try {
      parsed = JSON.parse(rootJson) as typeof parsed;
    } catch (err) {
      throw new FleetError('invalid_argument', `the root file is not JSON: ${(err as Error).message}`, { cause: err });
    }
    if (parsed?.signed?._type !== 'root')
      throw new FleetError('invalid_argument', 'the root file is not TUF root metadata (N.root.json from `gpufleet releases keys init`)');
    const dir = join(stateDir, 'metadata');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(stateDir, 0o700);
    try {
      writeFileSync(join(dir, 'root.json'), rootJson, { mode: 0o600, flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new FleetError('already_exists', 'this host trusts a release root already');
      throw err;
    }
  }

  /** Fetches and verifies one release; throws a FleetError saying why it was refused. */
  async verify(ref: ReleaseRef): Promise<VerifiedRelease> {
    if (ReleaseVerifier.trustedRootVersion(this.stateDir) === null) {
      throw new FleetError('failed_precondition', `this host trusts no release root yet: give it the fleet's root file (--root FILE)`);
    }
    let targetPath: string;
    try {
      targetPath = releaseTargetPath(ref);
    } catch (err) {
      throw new FleetError('invalid_argument', (err as Error).message);
    }
    mkdirSync(this.targetsDir, { recursive: true, mode: 0o700 });
    try {
      const updater = new Updater({
        metadataDir: this.metadataDir,
        metadataBaseUrl: this.source.metadataBaseUrl,
        targetDir: this.targetsDir,
        targetBaseUrl: this.source.targetBaseUrl,
        fetcher: this.source.fetcher,
      });
      await updater.refresh();
      const info = await updater.getTargetInfo(targetPath);
      if (!info) throw new FleetError('not_found', `${ref.kind} ${ref.version} is not among the signed releases of ${this.source.describe}`);
      const custom = info.custom as { kind?: unknown; name?: unknown; version?: unknown };
      const name = ref.kind === 'agent' ? AGENT_RELEASE_NAME : ref.name;
      // Agent targets published before bundles existed carry no name; the path already says it.
      const customName = custom.name === undefined && ref.kind === 'agent' ? AGENT_RELEASE_NAME : custom.name;
      if (custom.kind !== ref.kind || custom.version !== ref.version || customName !== name) {
        throw new FleetError(
          'failed_precondition',
          `release refused: ${targetPath} is signed as ${String(custom.kind)} ${String(customName)} ${String(custom.version)}, not ${ref.kind} ${name} ${ref.version}`,
        );
      }
      const sha256 = info.hashes.sha256 ?? '';
      const file = join(this.targetsDir, `${sha256}.${targetPath.split('/').at(-1)}`);
      await updater.downloadTarget(info, file);
      const rootVersion = ReleaseVerifier.trustedRootVersion(this.stateDir) ?? 0;
      return {
        kind: ref.kind,
        name,
        version: ref.version,
        targetPath,
        sha256,
        length: info.length,
        file,
        rootVersion,
      };
    } catch (err) {
      throw refusal(err, this.source);
    }
  }
}
