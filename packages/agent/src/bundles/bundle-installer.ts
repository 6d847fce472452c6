import { readFileSync } from 'node:fs';
import type { BundleDriftData } from '@gpufleet/protocol';
import { EngineClient } from '../containers/engine-client.js';
import { errorText, silentLogger, type Logger } from '../runtime/logger.js';
import type { InstallOutcome, ReleaseInstaller } from '../updates/release-installer.js';
import type { VerifiedRelease } from '../updates/release-verifier.js';
import { applyBundle, restoreBundle } from './bundle-apply.js';
import { readBundleArchive } from './bundle-archive.js';
import { bundleDrift, driftKey } from './bundle-drift.js';
import { BundleEngine } from './bundle-engine.js';
import { BundleStore } from './bundle-store.js';
import { execCommandRunner, type HostCommandRunner } from './command-runner.js';

/** Options of {@link createBundleInstaller}; only dataDir is required. */
export interface BundleInstallerOptions {
  /** The agent's data dir: versions are kept under <dataDir>/bundles/<name>/. */
  dataDir: string;
  /** Where the bundle's files and units land; default '/'. Tests use a temp dir. */
  root?: string;
  /** The container engine; default: an EngineClient on the detected socket (or `socketPath`). */
  engine?: EngineClient;
  socketPath?: string;
  /** Runs hooks and systemctl; default: child processes. */
  runCommand?: HostCommandRunner;
  /** Called with a bundle's drift when it appears, changes, or is gone (an empty list). */
  onDrift?: (data: BundleDriftData) => void;
  /** How often the watcher compares the host with the running bundles; default 60 s; 0: no watcher. */
  driftIntervalMs?: number;
  /** Pause between health check tries; default 1 s. */
  healthPauseMs?: number;
  /** How long a hook may run; default 5 min. */
  hookTimeoutMs?: number;
  logger?: Logger;
}

/** The bundle installer, with its drift watcher. */
export interface BundleInstaller extends ReleaseInstaller {
  /** Compares every running bundle with the host now; reports changes through onDrift and returns all drift. */
  checkDrift(): Promise<BundleDriftData[]>;
  /** Stops the drift watcher. */
  close(): void;
}

/**
 * The installer of host bundles (issue 14): applies a verified bundle archive (images by digest,
 * containers, files, units, hooks, health checks), goes back to the version before on any
 * failure, keeps that version for `rollback`, and watches for drift. Every operation runs one
 * at a time, so the watcher never sees a bundle half applied.
 */
export function createBundleInstaller(options: BundleInstallerOptions): BundleInstaller {
  const o = {
    root: options.root ?? '/',
    engine: new BundleEngine(options.engine ?? new EngineClient(options.socketPath ? { socketPath: options.socketPath } : {})),
    run: options.runCommand ?? execCommandRunner,
    store: new BundleStore(options.dataDir),
    healthPauseMs: options.healthPauseMs ?? 1000,
    hookTimeoutMs: options.hookTimeoutMs ?? 300_000,
    logger: options.logger ?? silentLogger,
  };
  const reported = new Map<string, string>();
  let queue: Promise<unknown> = Promise.resolve();
  let busy = 0;
  const serial = <T>(work: () => Promise<T>): Promise<T> => {
    busy++;
    const next = queue.then(work).finally(() => busy--);
    queue = next.catch(() => undefined);
    return next;
  };

  const driftOnce = async (): Promise<BundleDriftData[]> => {
    const all: BundleDriftData[] = [];
    for (const name of o.store.installed()) {
      const version = o.store.pointer(name).current!;
      let data: BundleDriftData;
      try {
        data = { name, version, items: await bundleDrift(o.engine, o.root, o.store.load(name, version)) };
      } catch (err) {
        o.logger.warn('could not check a bundle for drift', { bundle: name, err: errorText(err) });
        continue;
      }
      all.push(data);
      const key = driftKey(data.items);
      // Nothing reported yet counts as no drift: only appearing, changing and vanishing drift is sent.
      if (key !== (reported.get(name) ?? '[]')) options.onDrift?.(data);
      reported.set(name, key);
    }
    return all;
  };

  const interval = options.driftIntervalMs ?? 60_000;
  const timer =
    interval > 0
      ? setInterval(() => {
          if (busy === 0) void serial(driftOnce).catch(() => undefined);
        }, interval)
      : null;
  timer?.unref();

  return {
    kind: 'bundle',
    runningVersion: (name) => {
      try {
        return o.store.pointer(name).current;
      } catch {
        return null;
      }
    },
    apply: (release: VerifiedRelease, progress) =>
      serial(async (): Promise<InstallOutcome> => {
        const fromVersion = o.store.pointer(release.name).current;
        const nothingChanged = (message: string): InstallOutcome => ({ state: 'failed', fromVersion, runningVersion: fromVersion, rolledBack: false, message });
        if (release.kind !== 'bundle') return nothingChanged(`the bundle installer installs bundles, not ${release.kind} releases`);
        let archive: ReturnType<typeof readBundleArchive>;
        try {
          archive = readBundleArchive(readFileSync(release.file), { name: release.name, version: release.version });
        } catch (err) {
          return nothingChanged(`${release.name}@${release.version} refused, nothing was changed: ${errorText(err)}`);
        }
        const outcome = await applyBundle({ ...o, progress }, archive);
        await driftOnce().catch(() => undefined);
        return outcome;
      }),
    rollback: (name, reason) =>
      serial(async () => {
        const outcome = await restoreBundle(o, name, reason);
        await driftOnce().catch(() => undefined);
        return outcome;
      }),
    checkDrift: () => serial(driftOnce),
    close: () => {
      if (timer) clearInterval(timer);
    },
  };
}
