import type { BundleManifest } from '@gpufleet/protocol';
import { errorText, type Logger } from '../runtime/logger.js';
import type { InstallOutcome } from '../updates/release-installer.js';
import type { BundleArchive } from './bundle-archive.js';
import { convergeContainers, ensureImages } from './bundle-containers.js';
import type { BundleEngine } from './bundle-engine.js';
import { checkHealth } from './bundle-health.js';
import type { BundleStore, StoredVersion } from './bundle-store.js';
import { startUnits, stopDroppedUnits } from './bundle-units.js';
import { commandFailure, type HostCommandRunner } from './command-runner.js';
import { convergeFiles, displacedBy, ownedFiles } from './host-files.js';

/** What applying needs; resolved once by the installer. */
export interface ApplyContext {
  root: string;
  engine: BundleEngine;
  run: HostCommandRunner;
  store: BundleStore;
  healthPauseMs: number;
  hookTimeoutMs: number;
  logger: Logger;
}

/** Runs a hook with the bundle's variables; throws with its output when it fails. */
async function hook(ctx: ApplyContext, which: 'pre' | 'post', m: BundleManifest, fromVersion: string | null): Promise<void> {
  const argv = m.hooks[which];
  if (!argv) return;
  const env = { GPUFLEET_BUNDLE: m.name, GPUFLEET_BUNDLE_VERSION: m.version, GPUFLEET_BUNDLE_FROM: fromVersion ?? '', GPUFLEET_ROOT: ctx.root };
  const r = await ctx.run(argv, { env, timeoutMs: ctx.hookTimeoutMs });
  if (r.code !== 0) throw new Error(commandFailure(`the ${which} hook`, argv, r));
}

/**
 * Makes the host match `target` (null: no version of this bundle at all), coming from `from`:
 * units `from` alone enabled are stopped, files written or given back, units started,
 * containers replaced. Used forwards (apply) and backwards (going back to the version before).
 */
async function converge(ctx: ApplyContext, target: StoredVersion | null, from: StoredVersion | null): Promise<void> {
  const images = target ? await ensureImages(ctx.engine, target.manifest) : new Map<string, string>();
  await stopDroppedUnits(ctx.run, target, from);
  convergeFiles(ctx.root, target ? ownedFiles(target) : [], from);
  await startUnits(ctx.run, target, from);
  await convergeContainers(ctx.engine, target?.manifest ?? null, from?.manifest ?? null, images);
}

const ref = (m: BundleManifest) => `${m.name}@${m.version}`;

/**
 * Applies a checked archive. What can fail before the host changes (the kept copy of the running
 * version, the pre hook, pulling images, a path that is not a file) fails with nothing changed;
 * anything after (files, units, containers, the post hook, health checks) sends the host back to
 * the version before, and the outcome says whether that worked.
 */
export async function applyBundle(
  ctx: ApplyContext & { progress: (state: 'installing', message: string) => void },
  archive: BundleArchive,
): Promise<InstallOutcome> {
  const m = archive.manifest;
  const pointer = ctx.store.pointer(m.name);
  const fromVersion = pointer.current;
  const unchanged = (why: string): InstallOutcome => ({
    state: 'failed',
    fromVersion,
    runningVersion: fromVersion,
    rolledBack: false,
    message: `${ref(m)} failed, nothing was changed: ${why}`,
  });
  let from: StoredVersion | null;
  let target: StoredVersion;
  try {
    from = fromVersion ? ctx.store.load(m.name, fromVersion) : null;
    ctx.progress('installing', `applying ${ref(m)}: ${m.containers.length} container(s), ${m.files.length} file(s), ${m.units.length} unit(s)`);
    await hook(ctx, 'pre', m, fromVersion);
    await ensureImages(ctx.engine, m);
    const { records, saved } = displacedBy(ctx.root, ownedFiles(archive), from);
    target = ctx.store.save(archive, records, saved);
  } catch (err) {
    return unchanged(errorText(err));
  }

  try {
    await converge(ctx, target, from);
    await hook(ctx, 'post', m, fromVersion);
    const unhealthy = await checkHealth(ctx.engine, m, ctx.healthPauseMs);
    if (unhealthy) throw new Error(unhealthy);
  } catch (err) {
    const why = errorText(err);
    ctx.logger.warn('bundle failed; going back', { bundle: m.name, version: m.version, to: fromVersion, err: why });
    try {
      await converge(ctx, from, target);
    } catch (back) {
      return {
        state: 'failed',
        fromVersion,
        runningVersion: null,
        rolledBack: false,
        message: `${ref(m)} failed (${why}), and going back to ${fromVersion ?? 'no bundle'} failed too: ${errorText(back)}`,
      };
    }
    if (fromVersion !== m.version) ctx.store.prune(m.name, [pointer.current, pointer.previous]);
    const back = fromVersion ? `${m.name}@${fromVersion} runs again` : `${m.name} is removed again`;
    return { state: 'failed', fromVersion, runningVersion: fromVersion, rolledBack: true, message: `${ref(m)} failed and was rolled back (${back}): ${why}` };
  }

  const previous = fromVersion !== null && fromVersion !== m.version ? fromVersion : pointer.previous;
  ctx.store.setPointer(m.name, { current: m.version, previous });
  ctx.store.prune(m.name, [m.version, previous]);
  const checks = m.containers.filter((c) => c.health).length;
  return {
    state: 'healthy',
    fromVersion,
    runningVersion: m.version,
    rolledBack: false,
    message: `${ref(m)} applied: ${m.containers.length} container(s), ${m.files.length} file(s), ${m.units.length} unit(s); ${checks} health check(s) passed`,
  };
}

/** Goes back to the version kept before the running one (an order from the server). */
export async function restoreBundle(ctx: ApplyContext, name: string, reason: string): Promise<InstallOutcome> {
  const pointer = ctx.store.pointer(name);
  const fromVersion = pointer.current;
  const fail = (message: string): InstallOutcome => ({ state: 'failed', fromVersion, runningVersion: fromVersion, rolledBack: false, message });
  if (!fromVersion) return fail(`bundle ${name} is not installed here: nothing to roll back`);
  if (!pointer.previous) return fail(`${name}@${fromVersion} runs here and no version before it is kept: nothing to roll back to`);
  let current: StoredVersion;
  let previous: StoredVersion;
  try {
    current = ctx.store.load(name, fromVersion);
    previous = ctx.store.load(name, pointer.previous);
  } catch (err) {
    return fail(errorText(err));
  }
  try {
    await converge(ctx, previous, current);
  } catch (err) {
    return { ...fail(`going back from ${name}@${fromVersion} to ${pointer.previous} failed: ${errorText(err)}`), runningVersion: null };
  }
  // The version rolled back from is dropped: a second rollback has nothing to go back to, rather than going further.
  ctx.store.setPointer(name, { current: pointer.previous, previous: null });
  ctx.store.prune(name, [pointer.previous]);
  return {
    state: 'rolled-back',
    fromVersion,
    runningVersion: pointer.previous,
    rolledBack: true,
    message: `${name} rolled back from ${fromVersion} to ${pointer.previous}: ${reason}`,
  };
}
