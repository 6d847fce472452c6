import { FleetError } from '@gpufleet/protocol';
import { systemClock } from '../runtime/clock.js';
import { AgentInstaller } from './agent-installer.js';
import { BUILTIN } from './install-layout.js';
import { readPendingUpdate } from './pending-update.js';
import { createBundleInstaller } from '../bundles/bundle-installer.js';
import { keepSideloadReport } from './sideload-reports.js';
import type { VerifiedRelease } from './release-verifier.js';

/**
 * `gpufleet-agent sideload FILE --install` (issue 14): puts a verified agent build into the
 * install dir exactly as an online update does (slot, pending record, `current` switched), for
 * the launcher to start when the agent restarts. The record says no server is needed for the
 * self-check (the host may have no route to one): the new build passes after one collection,
 * and its 'healthy' report (rollout id null) waits in the outbox until it next connects.
 */
export async function installSideloaded(o: {
  release: VerifiedRelease;
  dataDir: string;
  installDir: string;
  /** The version of the agent the launcher runs when no release is installed. */
  builtinVersion: string;
  /** Where a bundle's files and units land (default '/'; an image being prepared, a test). */
  bundleRoot?: string;
}): Promise<string> {
  if (o.release.kind === 'bundle') return installSideloadedBundle(o.release, o.dataDir, o.bundleRoot ?? '/');
  const pending = readPendingUpdate(o.dataDir);
  if (pending?.state === 'switched') {
    throw new FleetError(
      'failed_precondition',
      `an agent switch to ${pending.toVersion} is pending already: restart the agent (the launcher finishes it) before installing another`,
    );
  }
  const probe = new AgentInstaller({ installDir: o.installDir, dataDir: o.dataDir, runningVersion: '', restart: () => {}, clock: systemClock });
  const slot = probe.layout.current;
  const installed = slot ? (probe.layout.slotVersion(slot) ?? 'unknown') : o.builtinVersion;
  if (installed === o.release.version) return `agent ${installed} is installed already in ${o.installDir}; nothing to do\n`;
  const installer = new AgentInstaller({
    installDir: o.installDir,
    dataDir: o.dataDir,
    runningVersion: installed,
    // This command is not the agent: the operator restarts it (the launcher then starts the new build).
    restart: () => {},
    clock: systemClock,
    needsServer: false,
  });
  await installer.apply({ ...o.release, rolloutId: null }, () => {});
  const previous = installer.layout.previous;
  return [
    `installed agent ${o.release.version} in ${installer.layout.slotDir(installer.layout.current!)} (before: ${previous === BUILTIN ? `the built-in agent ${installed}` : `agent ${installed}`})`,
    'restart the agent to run it: systemctl restart gpufleet-agent (the unit runs `gpufleet-agent launch`)',
    'the launcher watches its self-check and goes back if it fails; the agent reports the update when it next connects',
    '',
  ].join('\n');
}

/**
 * A verified bundle applied now, exactly as a rollout applies it (health checks, rollback on
 * failure); the outcome is kept for the agent to report when it next connects (rollout id null).
 */
async function installSideloadedBundle(release: VerifiedRelease, dataDir: string, root: string): Promise<string> {
  const bundles = createBundleInstaller({ dataDir, root, driftIntervalMs: 0 });
  try {
    const fromVersion = bundles.runningVersion(release.name);
    if (fromVersion === release.version) return `bundle ${release.name} ${release.version} is applied already; nothing to do\n`;
    const outcome = await bundles.apply({ ...release, rolloutId: null }, () => {});
    keepSideloadReport(dataDir, { rolloutId: null, kind: 'bundle', name: release.name, version: release.version, reason: null, ...outcome });
    if (outcome.state !== 'healthy') {
      throw new FleetError('failed_precondition', `bundle ${release.name} ${release.version} was not applied: ${outcome.message}`);
    }
    return [
      `applied bundle ${release.name} ${release.version} (before: ${fromVersion ?? 'none'}); its health checks pass`,
      'the agent reports it when it next connects',
      '',
    ].join('\n');
  } finally {
    bundles.close();
  }
}
