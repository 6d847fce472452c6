import type { Labels } from '@gpufleet/protocol';
import type { ExecOptions } from '../exec/agent-exec.js';
import { CommandHandler } from '../exec/command-handler.js';
import { CommandRunner } from '../exec/command-runner.js';
import { loadContainerOp } from '../exec/container-loader.js';
import { TrustStore } from '../exec/trust-store.js';
import { createAgentWorkloads, type WorkloadOptions } from '../workloads/agent-workloads.js';
import type { WorkloadHost, WorkloadSupervisor } from '../workloads/supervisor.js';
import type { Clock } from './clock.js';
import type { NewAgentEvent } from './gpu-changes.js';
import type { Logger } from './logger.js';
import type { AgentStateStore } from './state.js';

/** What operators do on this host through the agent: signed commands and workloads. */
export interface HostServices {
  trust: TrustStore;
  exec: CommandHandler;
  workloads: WorkloadSupervisor;
}

/**
 * Builds the command handler and the workload supervisor over one trust store, so roots,
 * revocations and label attestations apply to commands and workloads alike. (What
 * createAgentExec builds for commands alone, with the store shared.)
 */
export function createHostServices(o: {
  state: AgentStateStore;
  /** The fleet roots from the join token. */
  joinRoots: readonly string[];
  exec?: ExecOptions;
  workloads?: WorkloadOptions;
  enqueue: (e: NewAgentEvent, critical: boolean) => unknown;
  /** The labels this host vouches for itself (vouchedHostLabels). */
  hostLabels: () => Labels;
  /** This host as placements are judged against it (read when an order arrives). */
  workloadHost: () => WorkloadHost;
  clock: Clock;
  logger: Logger;
}): HostServices {
  const trust = new TrustStore({ state: o.state, joinRoots: o.joinRoots, logger: o.logger, clock: o.clock });
  const x = o.exec;
  const exec = new CommandHandler({
    trust,
    runner: x?.runner ?? new CommandRunner({ outputCapBytes: x?.outputCapBytes, self: x?.self }),
    enqueue: o.enqueue,
    hostLabels: o.hostLabels,
    clock: o.clock,
    logger: o.logger,
    outputCapBytes: x?.outputCapBytes,
    containerOp: x?.containerOp ?? loadContainerOp,
    containerSocketPath: x?.containerSocketPath,
    self: x?.self,
    commandsEnabled: x?.commandsEnabled ?? true,
  });
  const workloads = createAgentWorkloads({
    options: o.workloads,
    containerSocketPath: x?.containerSocketPath,
    state: o.state,
    trust,
    host: o.workloadHost,
    enqueue: o.enqueue,
    clock: o.clock,
    logger: o.logger,
  });
  return { trust, exec, workloads };
}
