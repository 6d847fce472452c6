import { bundleContainerName, FleetError, type BundleContainer, type BundleManifest, type DriftItem } from '@gpufleet/protocol';
import { BUNDLE_LABEL, BUNDLE_VERSION_LABEL, type BundleContainerState, type BundleEngine } from './bundle-engine.js';

/**
 * How a container on the host differs from what a bundle version wants of it: none when it is
 * the one `run` would make now. `imageId` is the local id of the pinned image (the engine reports
 * a container's image by id; Podman names the tag it was imported under, not the digest).
 */
export function containerDrift(m: BundleManifest, c: BundleContainer, state: BundleContainerState | null, imageId: string | null): DriftItem[] {
  const container = bundleContainerName(m.name, c.name);
  const item = (kind: DriftItem['kind'], expected: string, actual: string): DriftItem => ({
    container,
    kind,
    expected: expected.slice(0, 512),
    actual: actual.slice(0, 512),
  });
  if (!state) return [item('missing', c.image, 'no container')];
  const out: DriftItem[] = [];
  if (imageId === null || state.imageId !== imageId) out.push(item('image-changed', `${c.image} (${imageId ?? 'not on this host'})`, state.imageId));
  if (!state.running) out.push(item('stopped', 'running', state.status || 'not running'));
  // Settings differ in several ways at once: one config-changed item says them all.
  const expected: string[] = [];
  const actual: string[] = [];
  const labels = `${state.labels[BUNDLE_LABEL] ?? '-'}@${state.labels[BUNDLE_VERSION_LABEL] ?? '-'}`;
  if (labels !== `${m.name}@${m.version}`) {
    expected.push(`labels ${m.name}@${m.version}`);
    actual.push(`labels ${labels}`);
  }
  const env = new Set(state.env);
  const missing = Object.entries(c.env)
    .map(([k, v]) => `${k}=${v}`)
    .filter((kv) => !env.has(kv));
  if (missing.length > 0) {
    const keys = new Set(missing.map((kv) => kv.slice(0, kv.indexOf('='))));
    expected.push(`env ${missing.join(' ')}`);
    actual.push(`env ${state.env.filter((kv) => keys.has(kv.slice(0, kv.indexOf('=')))).join(' ') || '(unset)'}`);
  }
  if (c.command && JSON.stringify(c.command) !== JSON.stringify(state.cmd)) {
    expected.push(`command ${JSON.stringify(c.command)}`);
    actual.push(`command ${JSON.stringify(state.cmd)}`);
  }
  if (expected.length > 0) out.push(item('config-changed', expected.join('; '), actual.join('; ')));
  return out;
}

/** The local image ids of a version's images, pulling by digest what is missing. */
export async function ensureImages(engine: BundleEngine, m: BundleManifest): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  for (const c of m.containers) if (!ids.has(c.image)) ids.set(c.image, await engine.ensureImage(c.image));
  return ids;
}

/**
 * Makes the host's containers those of `target`: a container that already matches is kept,
 * any other of the same name is replaced, and the containers only `from` had are removed. A
 * container of that name that is not this bundle's is never touched: that is an error.
 */
export async function convergeContainers(
  engine: BundleEngine,
  target: BundleManifest | null,
  from: BundleManifest | null,
  images: ReadonlyMap<string, string>,
): Promise<void> {
  const bundle = (target ?? from)?.name ?? '';
  for (const c of target?.containers ?? []) {
    const name = bundleContainerName(bundle, c.name);
    const state = await engine.container(name);
    if (state && state.labels[BUNDLE_LABEL] !== bundle) {
      throw new FleetError('already_exists', `a container named ${name} exists and is not bundle ${bundle}'s: remove or rename it first`);
    }
    if (state && containerDrift(target!, c, state, images.get(c.image) ?? null).length === 0) continue;
    if (state) await engine.remove(name);
    await engine.run(bundle, target!.version, c);
  }
  const kept = new Set((target?.containers ?? []).map((c) => c.name));
  for (const c of from?.containers ?? []) {
    if (kept.has(c.name)) continue;
    const name = bundleContainerName(bundle, c.name);
    const state = await engine.container(name);
    if (state && state.labels[BUNDLE_LABEL] === bundle) await engine.remove(name);
  }
}
