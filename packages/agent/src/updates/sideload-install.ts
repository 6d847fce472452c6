import { FleetError } from '@gpufleet/protocol';
import { systemClock } from '../runtime/clock.js';
import { AgentInstaller } from './agent-installer.js';
import { BUILTIN } from './install-layout.js';
import { readPendingUpdate } from './pending-update.js';
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
}): Promise<string> {
  if (o.release.kind !== 'agent') {
    throw new FleetError('invalid_argument', `sideload --install installs agent builds; ${o.release.kind} ${o.release.name} is verified but not installed`);
  }
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
