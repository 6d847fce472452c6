import type { Labels, ReleaseKind } from '@gpufleet/protocol';
import type { Clock } from '../runtime/clock.js';
import type { NewAgentEvent } from '../runtime/gpu-changes.js';
import type { Logger } from '../runtime/logger.js';
import { AgentSelfCheck } from './agent-self-check.js';
import type { ReleaseInstaller } from './release-installer.js';
import { ReleaseVerifier, serverSource } from './release-verifier.js';
import { takeSideloadReports } from './sideload-reports.js';
import type { UpdateFrameHandler, UpdateHandlerHost } from './update-frame-handler.js';
import { updateFailure } from './update-failures.js';
import { UpdateHandler, type UpdateTrust } from './update-handler.js';

/** How the agent takes updates; every field has a default. */
export interface UpdateOptions {
  /** False refuses every update frame (`gpufleet-agent run --updates off`). Default true. */
  enabled?: boolean;
  /** Where TUF metadata and verified targets are kept (<data-dir>/releases). Without it, online updates are refused. */
  releasesDir?: string;
  /** The data dir, where an agent switch leaves its pending-update record. Without it, no self-check is made. */
  dataDir?: string;
  /** One installer per release kind (the agent installer when run by the launcher; the bundle applier). */
  installers?: Partial<Record<ReleaseKind, ReleaseInstaller>>;
  /** Why a kind has no installer, said in its refusals. */
  missingInstaller?: Partial<Record<ReleaseKind, string>>;
  /**
   * Takes the `update` frames in place of the verifying handler, for hosts that only pretend to
   * install (the simulator's SimUpdates: no TUF check, no files). When given, the fields above
   * are not used and no self-check is made. `gpufleet-agent run` never sets it.
   */
  handler?: (host: UpdateHandlerHost) => UpdateFrameHandler;
}

/** Builds an agent's update handler and its post-switch self-check. */
export function createAgentUpdates(o: {
  options?: UpdateOptions;
  agentVersion: string;
  trust: UpdateTrust;
  hostLabels: () => Labels;
  /** The server the link talks to now, with the pinned CA; null while it has none. */
  server: () => { url: string; caPem: string | null } | null;
  enqueue: (e: NewAgentEvent, critical: boolean) => unknown;
  clock: Clock;
  logger: Logger;
}): { handler: UpdateFrameHandler; selfCheck: AgentSelfCheck | null } {
  const opts = o.options ?? {};
  if (opts.handler) return { handler: opts.handler({ agentVersion: o.agentVersion, enqueue: o.enqueue, logger: o.logger }), selfCheck: null };
  const releasesDir = opts.releasesDir;
  let selfCheck: AgentSelfCheck | null = null;
  const handler = new UpdateHandler({
    selfCheckOwed: (kind) => kind === 'agent' && (selfCheck?.pending ?? false),
    failedBefore: (kind, rolloutId) => (kind === 'agent' && opts.dataDir ? updateFailure(opts.dataDir, rolloutId) : null),
    trust: o.trust,
    hostLabels: o.hostLabels,
    fetcher: () => {
      const server = o.server();
      return server && releasesDir ? new ReleaseVerifier(releasesDir, serverSource(server.url, server.caPem)) : null;
    },
    installers: opts.installers ?? {},
    ...(opts.missingInstaller ? { missingInstaller: opts.missingInstaller } : {}),
    enabled: opts.enabled ?? true,
    enqueue: o.enqueue,
    clock: o.clock,
    logger: o.logger,
  });
  // Bundles side-loaded while the agent was down report now, through the outbox.
  if (opts.dataDir) takeSideloadReports(opts.dataDir, (d) => handler.report(d));
  selfCheck = opts.dataDir
    ? new AgentSelfCheck({ dataDir: opts.dataDir, runningVersion: o.agentVersion, report: (d) => handler.report(d), logger: o.logger })
    : null;
  return { handler, selfCheck };
}
