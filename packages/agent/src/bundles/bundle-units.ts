import type { BundleManifest } from '@gpufleet/protocol';
import { commandFailure, type HostCommandRunner } from './command-runner.js';

type Version = { manifest: BundleManifest; sources: ReadonlyMap<string, Buffer> } | null;

/** One systemctl call; throws with its output when it fails. */
async function systemctl(run: HostCommandRunner, args: string[]): Promise<void> {
  const argv = ['systemctl', ...args];
  const r = await run(argv, { env: {}, timeoutMs: 90_000 });
  if (r.code !== 0) throw new Error(commandFailure('systemctl', argv, r));
}

const enabledOf = (v: Version): string[] => (v?.manifest.units ?? []).filter((u) => u.enable).map((u) => u.name);

/** Before the files change: stops and disables the units `from` enabled that the target does not (their files may go next). */
export async function stopDroppedUnits(run: HostCommandRunner, target: Version, from: Version): Promise<void> {
  const keep = new Set(enabledOf(target));
  const gone = enabledOf(from).filter((u) => !keep.has(u));
  if (gone.length > 0) await systemctl(run, ['disable', '--now', ...gone]);
}

/**
 * After the files are written: reloads systemd, enables and starts the target's units, and
 * restarts those whose file changed (enable --now leaves a running unit on its old definition).
 * Nothing is called when neither version has units.
 */
export async function startUnits(run: HostCommandRunner, target: Version, from: Version): Promise<void> {
  if ((target?.manifest.units.length ?? 0) === 0 && (from?.manifest.units.length ?? 0) === 0) return;
  await systemctl(run, ['daemon-reload']);
  const enabled = enabledOf(target);
  if (enabled.length === 0) return;
  await systemctl(run, ['enable', '--now', ...enabled]);
  const before = new Map((from?.manifest.units ?? []).map((u) => [u.name, from!.sources.get(u.source)]));
  const changed = target!.manifest.units
    .filter((u) => u.enable && before.get(u.name) !== undefined && !before.get(u.name)!.equals(target!.sources.get(u.source)!))
    .map((u) => u.name);
  if (changed.length > 0) await systemctl(run, ['restart', ...changed]);
}
