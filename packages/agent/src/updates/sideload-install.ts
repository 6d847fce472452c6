import { FleetError } from '@gpufleet/protocol';
import { systemClock } from '../runtime/clock.js';
import { AgentInstaller } from './agent-installer.js';
import { awaitLauncherRestart } from './launcher-restart.js';
import { BUILTIN } from './install-layout.js';
import { readPendingUpdate } from './pending-update.js';
import { createBundleInstaller } from '../bundles/bundle-installer.js';
import { keepSideloadReport } from './sideload-reports.js';
import type { VerifiedRelease } from './release-verifier.js';

/**
 * `gpufleet-agent sideload FILE --install` (issue 14): puts a verified agent build into the
 * install dir exactly as an online update does (slot, pending record, `current` switched), and
 * with `restart` asks the running launcher to restart the agent into it (launcher-restart.ts);
 * without, or when no launcher takes it, the launcher starts it when the agent next restarts.
 * The record says no server is needed for the self-check (the host may have no route to one):
 * the new build passes after one collection, and its 'healthy' report (rollout id null) waits
 * in the outbox until it next connects.
 */
export async function installSideloaded(o: {
  release: VerifiedRelease;
  dataDir: string;
  installDir: string;
  /** The version of the agent the launcher runs when no release is installed. */
  builtinVersion: string;
  /** Where a bundle's files and units land (default '/'; an image being prepared, a test). */
  bundleRoot?: string;
  /** Ask the running launcher to restart the agent into an agent build, waiting `waitMs` for it to take the request. Absent: the operator restarts. */
  restart?: { waitMs: number; pollMs?: number };
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
    // This command is not the agent: the launcher restarts it when asked, else the operator does.
    restart: () => {},
    clock: systemClock,
    needsServer: false,
    askLauncherToRestart: o.restart !== undefined,
  });
  await installer.apply({ ...o.release, rolloutId: null }, () => {});
  const previous = installer.layout.previous;
  const lines = [
    `installed agent ${o.release.version} in ${installer.layout.slotDir(installer.layout.current!)} (before: ${previous === BUILTIN ? `the built-in agent ${installed}` : `agent ${installed}`})`,
  ];
  const taken = o.restart ? await awaitLauncherRestart(o.dataDir, o.restart) : false;
  if (taken) lines.push('the launcher is restarting the agent into it (no restart by hand needed)');
  else {
    if (o.restart) {
      const wait = o.restart.waitMs >= 1000 ? `${Math.round(o.restart.waitMs / 1000)} s` : `${o.restart.waitMs} ms`;
      lines.push(`no launcher took the restart within ${wait} (is \`gpufleet-agent launch\` running with this data dir?)`);
    }
    lines.push('restart the agent to run it: systemctl restart gpufleet-agent (the unit runs `gpufleet-agent launch`)');
  }
  lines.push('the launcher watches its self-check and goes back if it fails; the agent reports the update when it next connects', '');
  return lines.join('\n');
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
